package image

import (
	"errors"
	"fmt"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

const (
	builderPruneWarning = `WARNING! This will remove all dangling build cache.
Are you sure you want to continue?`
	builderPruneAllWarning = `WARNING! This will remove all build cache.
Are you sure you want to continue?`
)

// NewBuilderCommand returns "builder": manage the build cache.
func NewBuilderCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage builds",
		Args:  cli.NoArgs,
	}
	cmd.AddCommand(NewBuilderPruneCommand(c), NewBuildCommand(c))
	return cmd
}

// NewBuilderPruneCommand returns "builder prune": empty the build cache.
// The daemon's cache is one index of build steps, so --all and --filter
// select nothing narrower: every prune empties it.
func NewBuilderPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		all     bool
		force   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove build cache",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			warning := builderPruneWarning
			if all {
				warning = builderPruneAllWarning
			}
			if !force && !cli.Confirm(c.In(), c.Out(), warning) {
				return errors.New("builder prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.BuildCachePrune(cmd.Context(), client.BuildCachePruneOptions{All: all, Filters: pruneFilters})
			if err != nil {
				return err
			}
			report := result.Report
			if len(report.CachesDeleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted build cache objects:")
				for _, id := range report.CachesDeleted {
					fmt.Fprintln(c.Out(), id)
				}
				fmt.Fprintln(c.Out())
			}
			fmt.Fprintln(c.Out(), "Total reclaimed space:", units.HumanSize(float64(report.SpaceReclaimed)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=24h")`)
	return cmd
}
