package container

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-engine/berth/internal/detachkeys"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type startOptions struct {
	attach     bool
	openStdin  bool
	detachKeys string
}

// NewStartCommand returns "start": start stopped containers, or start one
// and attach to it with -a.
func NewStartCommand(c *cli.CLI) *cobra.Command {
	var opts startOptions

	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.attach || opts.openStdin {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				return startAttached(cmd.Context(), c, &opts, args[0])
			}
			return startContainers(cmd.Context(), c, args)
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	flags.BoolVarP(&opts.openStdin, "interactive", "i", false, "Attach container's STDIN")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container (default \""+detachkeys.Default+"\")")
	return cmd
}

func startContainers(ctx context.Context, c *cli.CLI, names []string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	var errs []error
	var failed []string
	for _, name := range names {
		if _, err := apiClient.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
			errs = append(errs, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintln(c.Out(), name)
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("Error: failed to start containers: %s", strings.Join(failed, ", ")))
	}
	return cli.JoinErrors(errs)
}

// startAttached attaches to one container, starts it, streams its output
// until it exits and returns its exit code.
func startAttached(ctx context.Context, c *cli.CLI, opts *startOptions, name string) error {
	keys := opts.detachKeys
	if keys == "" {
		keys = detachkeys.Default
	}
	detachKeys, err := detachkeys.Parse(keys)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(signalContext(ctx, true))
	defer cancel()

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	inspect, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := inspect.Container
	tty := ctr.Config != nil && ctr.Config.Tty
	attachStdin := opts.openStdin && ctr.Config != nil && ctr.Config.OpenStdin
	if tty && attachStdin {
		if _, isTerminal := cli.TerminalFd(c.In()); !isTerminal {
			return errors.New("the input device is not a TTY")
		}
	}

	stopSignals := forwardSignals(context.WithoutCancel(ctx), apiClient, ctr.ID)
	defer stopSignals()

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

	streams := localStreams(c, attachStdin, tty)
	streams.DetachKeys = detachKeys
	streamDone := make(chan error, 1)
	go func() { streamDone <- streamAttach(ctx, resp.HijackedResponse, streams) }()

	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	autoRemove := ctr.HostConfig != nil && ctr.HostConfig.AutoRemove
	statusC := waitExitOrRemoved(statusCtx, c.Err(), apiClient, ctr.ID, autoRemove)

	if _, err := apiClient.ContainerStart(ctx, ctr.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-streamDone
		return err
	}

	if tty {
		if fd, isTerminal := cli.TerminalFd(c.Out()); isTerminal {
			monitorTTYSize(ctx, apiClient, ctr.ID, fd)
		}
	}

	if err := <-streamDone; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	if status := <-statusC; status != 0 {
		return cli.StatusError{StatusCode: status}
	}
	return nil
}
