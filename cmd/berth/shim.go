package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/shim"
)

// newShimCommand returns `berth shim`, the per-container supervisor that the
// daemon starts through shim.Launch. Its flags are parsed by shim.Main, so
// the command line stays defined in one place.
func newShimCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "shim --id ID --bundle DIR --state-dir DIR --log-path FILE [OPTIONS]",
		Short:              "Supervise one container (started by the daemon)",
		Hidden:             true,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return shim.Main(ctx, args)
		},
	}
}
