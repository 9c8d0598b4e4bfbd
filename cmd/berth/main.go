// Command berth is a Docker-compatible container engine: `berth daemon`
// serves the Engine API, `berth shim` supervises one container, and every
// other subcommand is a client of the API.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands"
	"github.com/berth-engine/berth/internal/initproc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A Docker-compatible container engine",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDaemonCommand(), newShimCommand())
	commands.AddCommands(root, version)
	return root
}

func main() {
	// The init of --init containers is this binary, mounted at
	// initproc.Path. It skips cobra so that the command's own flags pass
	// through unparsed; `berth init -- COMMAND` runs it too.
	if filepath.Base(os.Args[0]) == filepath.Base(initproc.Path) {
		os.Exit(initproc.Run(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(initproc.Run(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	cause := context.Cause(ctx)
	stop()
	if err != nil && cause != nil && (errors.Is(err, context.Canceled) || errors.Is(err, cause)) {
		// Exit like a client killed by Ctrl-C, without a message, because the
		// error only reports that the signal cancelled the command.
		os.Exit(130)
	}
	if err != nil {
		os.Exit(commands.HandleError(os.Stderr, err))
	}
}
