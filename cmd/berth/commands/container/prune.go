package container

import (
	"errors"
	"fmt"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

const pruneWarning = `WARNING! This will remove all stopped containers.
Are you sure you want to continue?`

// NewPruneCommand returns "container prune": remove stopped containers.
func NewPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		force   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := ParseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !cli.Confirm(c.In(), c.Out(), pruneWarning) {
				return errors.New("container prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.ContainerPrune(cmd.Context(), client.ContainerPruneOptions{Filters: pruneFilters})
			if err != nil {
				return err
			}
			report := result.Report
			if len(report.ContainersDeleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Containers:")
				for _, id := range report.ContainersDeleted {
					fmt.Fprintln(c.Out(), id)
				}
				fmt.Fprintln(c.Out())
			}
			fmt.Fprintln(c.Out(), "Total reclaimed space:", units.HumanSize(float64(report.SpaceReclaimed)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}
