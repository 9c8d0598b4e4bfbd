package container

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type stopOptions struct {
	signal  string
	timeout int
}

// NewStopCommand returns "stop": send the stop signal, wait, then kill.
func NewStopCommand(c *cli.CLI) *cobra.Command {
	var opts stopOptions

	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stop := client.ContainerStopOptions{Signal: opts.signal, Timeout: timeoutFlag(cmd, opts.timeout)}
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerStop(ctx, name, stop)
				return err
			})
		},
	}
	addStopFlags(cmd, &opts)
	return cmd
}

// NewRestartCommand returns "restart": stop, then start again.
func NewRestartCommand(c *cli.CLI) *cobra.Command {
	var opts stopOptions

	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			restart := client.ContainerRestartOptions{Signal: opts.signal, Timeout: timeoutFlag(cmd, opts.timeout)}
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerRestart(ctx, name, restart)
				return err
			})
		},
	}
	addStopFlags(cmd, &opts)
	return cmd
}

func addStopFlags(cmd *cobra.Command, opts *stopOptions) {
	flags := cmd.Flags()
	flags.StringVarP(&opts.signal, "signal", "s", "", "Signal to send to the container")
	flags.IntVarP(&opts.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
}

// timeoutFlag returns the --timeout value, or nil when it was not given so
// that the daemon uses the container's stop timeout.
func timeoutFlag(cmd *cobra.Command, timeout int) *int {
	if !cmd.Flags().Changed("timeout") {
		return nil
	}
	return &timeout
}

// NewKillCommand returns "kill": send a signal to running containers.
func NewKillCommand(c *cli.CLI) *cobra.Command {
	var signal string

	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "Signal to send to the container")
	return cmd
}

// forEachContainer runs action on every named container, prints each name
// that succeeded, and returns the failures together.
func forEachContainer(ctx context.Context, c *cli.CLI, names []string,
	action func(context.Context, *client.Client, string) error,
) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	var errs []error
	for _, name := range names {
		err := action(ctx, apiClient, name)
		var skipped *skippedError
		switch {
		case errors.As(err, &skipped):
			fmt.Fprintln(c.Err(), skipped.cause.Error())
		case err != nil:
			errs = append(errs, err)
		default:
			fmt.Fprintln(c.Out(), name)
		}
	}
	return cli.JoinErrors(errs)
}

// skippedError marks a failure that forEachContainer reports on stderr
// without failing the command, such as rm -f of a missing container.
type skippedError struct{ cause error }

func (e *skippedError) Error() string { return e.cause.Error() }
