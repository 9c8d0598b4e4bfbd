package container

import (
	"context"
	"errors"
	"github.com/berth-engine/berth/internal/detachkeys"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type attachOptions struct {
	noStdin    bool
	sigProxy   bool
	detachKeys string
}

// NewAttachCommand returns "attach": connect the local streams to a
// running container.
func NewAttachCommand(c *cli.CLI) *cobra.Command {
	var opts attachOptions

	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttach(cmd.Context(), c, &opts, args[0])
		},
	}

	flags := cmd.Flags()
	flags.BoolVar(&opts.noStdin, "no-stdin", false, "Do not attach STDIN")
	flags.BoolVar(&opts.sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container (default \""+detachkeys.Default+"\")")
	return cmd
}

func runAttach(ctx context.Context, c *cli.CLI, opts *attachOptions, name string) error {
	keys := opts.detachKeys
	if keys == "" {
		keys = detachkeys.Default
	}
	detachKeys, err := detachkeys.Parse(keys)
	if err != nil {
		return err
	}

	ctx = signalContext(ctx, opts.sigProxy)
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	inspect, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := inspect.Container
	if err := checkAttachable(ctr.State); err != nil {
		return err
	}

	tty := ctr.Config != nil && ctr.Config.Tty
	attachStdin := !opts.noStdin && ctr.Config != nil && ctr.Config.OpenStdin
	if tty && attachStdin {
		if _, isTerminal := cli.TerminalFd(c.In()); !isTerminal {
			return errors.New("the input device is not a TTY")
		}
	}

	if opts.sigProxy {
		stop := forwardSignals(context.WithoutCancel(ctx), apiClient, ctr.ID)
		defer stop()
	}

	resp, err := apiClient.ContainerAttach(ctx, ctr.ID, client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      attachStdin,
		Stdout:     true,
		Stderr:     true,
		DetachKeys: opts.detachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()

	// Registered now, the wait returns the exit code even if the container
	// stops before the stream ends.
	wait := apiClient.ContainerWait(ctx, ctr.ID, client.ContainerWaitOptions{})

	if tty {
		if fd, isTerminal := cli.TerminalFd(c.Out()); isTerminal {
			monitorTTYSize(ctx, apiClient, ctr.ID, fd)
		}
	}

	streams := localStreams(c, attachStdin, tty)
	streams.DetachKeys = detachKeys
	if err := streamAttach(ctx, resp.HijackedResponse, streams); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}

	select {
	case result := <-wait.Result:
		if result.Error != nil {
			return errors.New(result.Error.Message)
		}
		if result.StatusCode != 0 {
			return cli.StatusError{StatusCode: int(result.StatusCode)}
		}
		return nil
	case err := <-wait.Error:
		return err
	}
}

// checkAttachable rejects containers whose process is not running, with
// Docker's messages.
func checkAttachable(state *containertypes.State) error {
	switch {
	case state == nil || !state.Running:
		return errors.New("You cannot attach to a stopped container, start it first")
	case state.Paused:
		return errors.New("You cannot attach to a paused container, unpause it first")
	case state.Restarting:
		return errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	return nil
}
