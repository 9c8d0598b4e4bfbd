// Package image implements the image commands of the berth client: build,
// images, import, inspect, load, pull, push, rmi, save and tag, both under
// "berth image" and at the top level, and prune under "berth image" only.
package image

import (
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewImageCommand returns the "image" command group.
func NewImageCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		NewBuildCommand(c),
		NewImportCommand(c),
		NewLoadCommand(c),
		NewSaveCommand(c),
		NewPullCommand(c),
		NewPushCommand(c),
		NewHistoryCommand(c),
		NewInspectCommand(c),
		NewListCommand(c),
		NewRemoveCommand(c),
		NewTagCommand(c),
		NewPruneCommand(c),
	)
	return cmd
}
