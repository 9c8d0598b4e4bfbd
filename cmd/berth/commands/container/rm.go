package container

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type rmOptions struct {
	force   bool
	volumes bool
}

// NewRmCommand returns "rm": remove containers.
func NewRmCommand(c *cli.CLI) *cobra.Command {
	var opts rmOptions

	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more containers",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			remove := client.ContainerRemoveOptions{Force: opts.force, RemoveVolumes: opts.volumes}
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerRemove(ctx, name, remove)
				if opts.force && cerrdefs.IsNotFound(err) {
					// Like Docker, rm -f of a missing container reports it
					// but succeeds.
					return &skippedError{cause: err}
				}
				return err
			})
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	flags.BoolVarP(&opts.volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}
