package container

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-engine/berth/internal/detachkeys"
	"io"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// removeWaitTimeout bounds how long run waits for the daemon to remove an
// --rm container whose start failed.
const removeWaitTimeout = 10 * time.Second

type runOptions struct {
	createOptions

	detach     bool
	sigProxy   bool
	detachKeys string
}

// NewRunCommand returns "run": create a container, attach to it unless
// detached, start it and exit with its exit code.
func NewRunCommand(c *cli.CLI) *cobra.Command {
	var opts runOptions

	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd, c, &opts, args[0], args[1:])
		},
	}

	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&opts.detach, "detach", "d", false, "Run container in background and print container ID")
	flags.BoolVar(&opts.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container (default \""+detachkeys.Default+"\")")
	addCreateFlags(flags, &opts.createOptions)
	return cmd
}

func runRun(cmd *cobra.Command, c *cli.CLI, opts *runOptions, image string, command []string) error {
	cfg, detachKeys, err := parseRun(cmd, opts, image, command)
	if err != nil {
		reportError(c.Err(), "run", err, true)
		return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
	}
	if cfg.Config.Tty && cfg.Config.AttachStdin {
		if _, isTerminal := cli.TerminalFd(c.In()); !isTerminal {
			return errors.New("the input device is not a TTY")
		}
	}

	ctx, cancel := context.WithCancel(signalContext(cmd.Context(), opts.sigProxy))
	defer cancel()

	apiClient, err := c.Client(ctx)
	if err != nil {
		reportError(c.Err(), "run", err, false)
		return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
	}

	setConsoleSize(c, cfg)
	id, err := createContainer(ctx, c, apiClient, cfg, opts.name, opts.pull)
	if err != nil {
		reportError(c.Err(), "run", err, true)
		return startErrorStatus(err)
	}

	if opts.sigProxy {
		stop := forwardSignals(context.WithoutCancel(ctx), apiClient, id)
		defer stop()
	}

	config := cfg.Config
	attach := config.AttachStdin || config.AttachStdout || config.AttachStderr

	var streamDone chan error
	if attach {
		resp, err := apiClient.ContainerAttach(ctx, id, client.ContainerAttachOptions{
			Stream:     true,
			Stdin:      config.AttachStdin,
			Stdout:     config.AttachStdout,
			Stderr:     config.AttachStderr,
			DetachKeys: opts.detachKeys,
		})
		if err != nil {
			reportError(c.Err(), "run", err, false)
			return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
		}
		defer resp.Close()

		streams := localStreams(c, config.AttachStdin, config.Tty)
		streams.DetachKeys = detachKeys
		streamDone = make(chan error, 1)
		go func() { streamDone <- streamAttach(ctx, resp.HijackedResponse, streams) }()
	}

	// The wait must be registered before the start so that a short-lived
	// container cannot exit unseen. It outlives ctx so that cancelling the
	// attach does not lose the exit code.
	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	statusC := waitExitOrRemoved(statusCtx, c.Err(), apiClient, id, opts.autoRemove)

	if _, err := apiClient.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if attach {
			// Stop the attach so that the terminal is restored first.
			cancel()
			<-streamDone
		}
		reportError(c.Err(), "run", err, false)
		if opts.autoRemove {
			select {
			case <-statusC:
			case <-time.After(removeWaitTimeout):
			}
		}
		return startErrorStatus(err)
	}

	if attach && config.Tty {
		if fd, isTerminal := cli.TerminalFd(c.Out()); isTerminal {
			monitorTTYSize(ctx, apiClient, id, fd)
		}
	}

	if streamDone != nil {
		if err := <-streamDone; err != nil {
			if errors.Is(err, errDetached) {
				return nil
			}
			return err
		}
	}

	if !config.AttachStdout && !config.AttachStderr {
		fmt.Fprintln(c.Out(), id)
		return nil
	}

	if status := <-statusC; status != 0 {
		return cli.StatusError{StatusCode: status}
	}
	return nil
}

// signalContext returns the context for an attached command. With the
// signal proxy on, SIGINT and SIGTERM belong to the container, so a parent
// context that those signals cancel must not end the attach.
func signalContext(ctx context.Context, sigProxy bool) context.Context {
	if sigProxy {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// parseRun builds the create request for run and sets the attach fields:
// a detached container attaches nothing, otherwise stdout and stderr are
// attached and stdin with -i.
func parseRun(cmd *cobra.Command, opts *runOptions, image string, command []string) (*containerConfig, []byte, error) {
	cfg, err := parse(cmd.Flags(), &opts.createOptions, image, command)
	if err != nil {
		return nil, nil, err
	}

	keys := opts.detachKeys
	if keys == "" {
		keys = detachkeys.Default
	}
	detachKeys, err := detachkeys.Parse(keys)
	if err != nil {
		return nil, nil, err
	}

	config := cfg.Config
	if opts.detach {
		return cfg, detachKeys, nil
	}

	config.AttachStdin = opts.stdin
	config.AttachStdout = true
	config.AttachStderr = true
	if config.OpenStdin {
		// The container's stdin closes when this client's stdin ends.
		config.StdinOnce = true
	}
	return cfg, detachKeys, nil
}

// localStreams returns the CLI's streams for an attach. With a TTY the
// container has only one output stream, which goes to stdout.
func localStreams(c *cli.CLI, attachStdin, tty bool) attachStreams {
	streams := attachStreams{Out: c.Out(), Err: c.Err(), TTY: tty}
	if attachStdin {
		streams.In = c.In()
	}
	if tty {
		streams.Err = c.Out()
	}
	return streams
}

// waitExitOrRemoved waits for the container's next exit, or for its removal
// when autoRemove is set, and sends the exit code; 125 when the wait fails.
func waitExitOrRemoved(ctx context.Context, errOut io.Writer, apiClient *client.Client, id string, autoRemove bool) <-chan int {
	condition := containertypes.WaitConditionNextExit
	if autoRemove {
		condition = containertypes.WaitConditionRemoved
	}
	wait := apiClient.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: condition})

	statusC := make(chan int, 1)
	go func() {
		select {
		case result := <-wait.Result:
			if result.Error != nil {
				fmt.Fprintf(errOut, "Error waiting for container: %s\n", result.Error.Message)
				statusC <- exitEngineFailure
				return
			}
			statusC <- int(result.StatusCode)
		case err := <-wait.Error:
			if ctx.Err() == nil {
				fmt.Fprintf(errOut, "Error waiting for container: %v\n", err)
			}
			statusC <- exitEngineFailure
		}
	}()
	return statusC
}
