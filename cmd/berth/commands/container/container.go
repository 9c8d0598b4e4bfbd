// Package container implements the container commands of the berth client:
// run, create, ps, start, stop, restart, kill, rm, logs, inspect, wait,
// attach, exec, port, pause, unpause, rename, top and cp, both under "berth container"
// and at the top level, and prune under "berth container" only.
package container

import (
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewContainerCommand returns the "container" command group.
func NewContainerCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		NewAttachCommand(c),
		NewCreateCommand(c),
		NewExecCommand(c),
		NewInspectCommand(c),
		NewKillCommand(c),
		NewListCommand(c),
		NewLogsCommand(c),
		NewRestartCommand(c),
		NewRmCommand(c),
		NewRunCommand(c),
		NewStartCommand(c),
		NewStopCommand(c),
		NewWaitCommand(c),
		NewPortCommand(c),
		NewPauseCommand(c),
		NewUnpauseCommand(c),
		NewRenameCommand(c),
		NewUpdateCommand(c),
		NewTopCommand(c),
		NewCpCommand(c),
		NewDiffCommand(c),
		NewExportCommand(c),
		NewCommitCommand(c),
		NewStatsCommand(c),
		NewPruneCommand(c),
	)
	return cmd
}
