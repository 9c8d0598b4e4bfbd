// Package commands assembles berth's client commands, which talk to the
// daemon only through the Engine API client.
package commands

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/compose"
	"github.com/berth-engine/berth/cmd/berth/commands/container"
	"github.com/berth-engine/berth/cmd/berth/commands/image"
	"github.com/berth-engine/berth/cmd/berth/commands/kube"
	"github.com/berth-engine/berth/cmd/berth/commands/network"
	"github.com/berth-engine/berth/cmd/berth/commands/registry"
	"github.com/berth-engine/berth/cmd/berth/commands/system"
	"github.com/berth-engine/berth/cmd/berth/commands/volume"
)

// AddCommands adds every client command and the global -H/--host flag to
// root. version, when given, is the client version that "berth version"
// shows. The commands print nothing when they fail: the caller prints the
// returned error and exits with HandleError.
func AddCommands(root *cobra.Command, version ...string) {
	opts := &cli.Options{}
	if len(version) > 0 {
		opts.Version = version[0]
	}
	opts.AddFlags(root.PersistentFlags())
	addClientCommands(root, cli.NewStandard(opts))
}

// HandleError prints err to w the way Docker's CLI does and returns the
// exit code: 0 for nil, the code of a container or of a run failure
// (125, 126, 127), else 1.
func HandleError(w io.Writer, err error) int {
	return cli.PrintError(w, err)
}

// ExitCode returns the exit code for err without printing it.
func ExitCode(err error) int {
	return cli.ExitCode(err)
}

// addClientCommands adds the command groups and Docker's top-level
// shortcuts. Each shortcut is a separate command instance because a cobra
// command has one parent.
func addClientCommands(root *cobra.Command, c *cli.CLI) {
	added := []*cobra.Command{
		container.NewContainerCommand(c),
		image.NewImageCommand(c),
		image.NewBuilderCommand(c),
		network.NewNetworkCommand(c),
		volume.NewVolumeCommand(c),
		system.NewSystemCommand(c),
		compose.NewComposeCommand(c),
		kube.NewKubeCommand(c),

		container.NewAttachCommand(c),
		container.NewCreateCommand(c),
		container.NewExecCommand(c),
		container.NewKillCommand(c),
		container.NewLogsCommand(c),
		container.NewPsCommand(c),
		container.NewRestartCommand(c),
		container.NewRmCommand(c),
		container.NewRunCommand(c),
		container.NewStartCommand(c),
		container.NewStopCommand(c),
		container.NewWaitCommand(c),
		container.NewPortCommand(c),
		container.NewPauseCommand(c),
		container.NewUnpauseCommand(c),
		container.NewRenameCommand(c),
		container.NewUpdateCommand(c),
		container.NewTopCommand(c),
		container.NewCpCommand(c),
		container.NewDiffCommand(c),
		container.NewExportCommand(c),
		container.NewCommitCommand(c),
		container.NewStatsCommand(c),

		image.NewBuildCommand(c),
		image.NewImagesCommand(c),
		image.NewImportCommand(c),
		image.NewLoadCommand(c),
		image.NewSaveCommand(c),
		image.NewPullCommand(c),
		image.NewPushCommand(c),
		registry.NewLoginCommand(c),
		registry.NewLogoutCommand(c),
		image.NewRmiCommand(c),
		image.NewTagCommand(c),
		image.NewHistoryCommand(c),

		system.NewInfoCommand(c),
		system.NewInspectCommand(c),
		system.NewVersionCommand(c),
		system.NewEventsCommand(c),
	}
	root.AddCommand(added...)

	for _, cmd := range added {
		configureTree(cmd)
	}
}

// configureTree makes cmd and its subcommands report errors like Docker's
// CLI: no usage dump on failure, no "Error:" line from cobra, and exit code
// 125 for invalid flags.
func configureTree(cmd *cobra.Command) {
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cli.FlagError(cmd, err)
	})
	for _, sub := range cmd.Commands() {
		configureTree(sub)
	}
}
