package container

import (
	"context"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type logsOptions struct {
	follow     bool
	tail       string
	timestamps bool
	since      string
	until      string
	details    bool
}

// NewLogsCommand returns "logs": print a container's log.
func NewLogsCommand(c *cli.CLI) *cobra.Command {
	var opts logsOptions

	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), c, &opts, args[0])
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.follow, "follow", "f", false, "Follow log output")
	flags.StringVarP(&opts.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	flags.BoolVarP(&opts.timestamps, "timestamps", "t", false, "Show timestamps")
	flags.StringVar(&opts.since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	flags.StringVar(&opts.until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	flags.BoolVar(&opts.details, "details", false, "Show extra details provided to logs")
	return cmd
}

func runLogs(ctx context.Context, c *cli.CLI, opts *logsOptions, name string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	// A TTY container has one output stream, sent without stdcopy frames.
	inspect, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	tty := inspect.Container.Config != nil && inspect.Container.Config.Tty

	body, err := apiClient.ContainerLogs(ctx, inspect.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Since:      opts.since,
		Until:      opts.until,
		Timestamps: opts.timestamps,
		Follow:     opts.follow,
		Tail:       opts.tail,
		Details:    opts.details,
	})
	if err != nil {
		return err
	}
	defer body.Close()

	if tty {
		_, err = io.Copy(c.Out(), body)
	} else {
		_, err = stdcopy.StdCopy(c.Out(), c.Err(), body)
	}
	return err
}
