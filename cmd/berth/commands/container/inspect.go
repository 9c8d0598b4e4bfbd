package container

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type inspectOptions struct {
	format string
	size   bool
}

// NewInspectCommand returns "container inspect".
func NewInspectCommand(c *cli.CLI) *cobra.Command {
	var opts inspectOptions

	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, &opts, args)
		},
	}

	flags := cmd.Flags()
	flags.StringVarP(&opts.format, "format", "f", "", "Format output using a custom template or 'json'")
	flags.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes")
	return cmd
}

func runInspect(ctx context.Context, c *cli.CLI, opts *inspectOptions, names []string) error {
	return c.Inspect(ctx, opts.format, names, func(ctx context.Context, apiClient *client.Client, name string) (any, []byte, error) {
		return Inspect(ctx, apiClient, name, opts.size)
	})
}

// Inspect returns a container's inspect response, decoded and as the
// daemon's JSON.
func Inspect(ctx context.Context, apiClient *client.Client, name string, size bool) (any, []byte, error) {
	result, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{Size: size})
	if err != nil {
		return nil, nil, err
	}
	return result.Container, result.Raw, nil
}
