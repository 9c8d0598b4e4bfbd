package image

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type removeOptions struct {
	force   bool
	noPrune bool
}

// NewRemoveCommand returns "image rm" (also "image remove").
func NewRemoveCommand(c *cli.CLI) *cobra.Command {
	cmd := newRemoveCommand(c, "rm")
	cmd.Aliases = []string{"remove", "rmi"}
	return cmd
}

// NewRmiCommand returns the top-level "rmi".
func NewRmiCommand(c *cli.CLI) *cobra.Command {
	return newRemoveCommand(c, "rmi")
}

func newRemoveCommand(c *cli.CLI, use string) *cobra.Command {
	var opts removeOptions

	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(cmd.Context(), c, &opts, args)
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.force, "force", "f", false, "Force removal of the image")
	flags.BoolVar(&opts.noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func runRemove(ctx context.Context, c *cli.CLI, opts *removeOptions, images []string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	var errs []error
	for _, image := range images {
		result, err := apiClient.ImageRemove(ctx, image, client.ImageRemoveOptions{
			Force:         opts.force,
			PruneChildren: !opts.noPrune,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, item := range result.Items {
			if item.Untagged != "" {
				fmt.Fprintln(c.Out(), "Untagged:", item.Untagged)
			}
			if item.Deleted != "" {
				fmt.Fprintln(c.Out(), "Deleted:", item.Deleted)
			}
		}
	}
	return cli.JoinErrors(errs)
}
