package container

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewPauseCommand returns "pause": freeze every process of containers.
func NewPauseCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerPause(ctx, name, client.ContainerPauseOptions{})
				return err
			})
		},
	}
}

// NewUnpauseCommand returns "unpause": thaw paused containers.
func NewUnpauseCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
				return err
			})
		},
	}
}
