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
	pruneAllWarning = `WARNING! This will remove all images without at least one container associated to them.
Are you sure you want to continue?`
	pruneDanglingWarning = `WARNING! This will remove all dangling images.
Are you sure you want to continue?`
)

// NewPruneCommand returns "image prune": delete unused images, by default
// only the untagged ones.
func NewPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		all     bool
		force   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			warning := pruneDanglingWarning
			if all {
				warning = pruneAllWarning
				pruneFilters.Add("dangling", "false")
			} else {
				pruneFilters.Add("dangling", "true")
			}
			if !force && !cli.Confirm(c.In(), c.Out(), warning) {
				return errors.New("image prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.ImagePrune(cmd.Context(), client.ImagePruneOptions{Filters: pruneFilters})
			if err != nil {
				return err
			}
			report := result.Report
			if len(report.ImagesDeleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Images:")
				for _, d := range report.ImagesDeleted {
					if d.Untagged != "" {
						fmt.Fprintln(c.Out(), "untagged:", d.Untagged)
					} else {
						fmt.Fprintln(c.Out(), "deleted:", d.Deleted)
					}
				}
				fmt.Fprintln(c.Out())
			}
			fmt.Fprintln(c.Out(), "Total reclaimed space:", units.HumanSize(float64(report.SpaceReclaimed)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}
