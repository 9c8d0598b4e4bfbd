package system

import (
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewSystemCommand returns `berth system`, the group of commands about the
// daemon as a whole.
func NewSystemCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Manage berth",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(NewInfoCommand(c), NewEventsCommand(c), NewPruneCommand(c), NewDFCommand(c))
	return cmd
}
