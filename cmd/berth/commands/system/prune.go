package system

import (
	"errors"
	"fmt"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewPruneCommand returns "system prune": remove stopped containers, unused
// networks, dangling images and dangling build cache, or with --all every
// image no container uses and all build cache. --volumes adds unused
// anonymous volumes.
func NewPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		all     bool
		force   bool
		volumes bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := parsePruneFilters(filters)
			if err != nil {
				return err
			}
			imageFilters, err := parsePruneFilters(filters)
			if err != nil {
				return err
			}
			imageFilters.Add("dangling", fmt.Sprint(!all))
			if !force && !cli.Confirm(c.In(), c.Out(), pruneWarning(all, volumes)) {
				return errors.New("system prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			containers, err := apiClient.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: pruneFilters})
			if err != nil {
				return err
			}
			var reclaimed uint64
			if deleted := containers.Report.ContainersDeleted; len(deleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Containers:")
				for _, id := range deleted {
					fmt.Fprintln(c.Out(), id)
				}
				fmt.Fprintln(c.Out())
			}
			reclaimed += containers.Report.SpaceReclaimed
			networks, err := apiClient.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: pruneFilters})
			if err != nil {
				return err
			}
			if deleted := networks.Report.NetworksDeleted; len(deleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Networks:")
				for _, name := range deleted {
					fmt.Fprintln(c.Out(), name)
				}
				fmt.Fprintln(c.Out())
			}
			if volumes {
				result, err := apiClient.VolumePrune(ctx, client.VolumePruneOptions{Filters: pruneFilters})
				if err != nil {
					return err
				}
				if deleted := result.Report.VolumesDeleted; len(deleted) > 0 {
					fmt.Fprintln(c.Out(), "Deleted Volumes:")
					for _, name := range deleted {
						fmt.Fprintln(c.Out(), name)
					}
					fmt.Fprintln(c.Out())
				}
				reclaimed += result.Report.SpaceReclaimed
			}
			images, err := apiClient.ImagePrune(ctx, client.ImagePruneOptions{Filters: imageFilters})
			if err != nil {
				return err
			}
			if deleted := images.Report.ImagesDeleted; len(deleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Images:")
				for _, d := range deleted {
					if d.Untagged != "" {
						fmt.Fprintln(c.Out(), "untagged:", d.Untagged)
					} else {
						fmt.Fprintln(c.Out(), "deleted:", d.Deleted)
					}
				}
				fmt.Fprintln(c.Out())
			}
			reclaimed += images.Report.SpaceReclaimed
			cache, err := apiClient.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: all, Filters: pruneFilters})
			if err != nil {
				return err
			}
			if deleted := cache.Report.CachesDeleted; len(deleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted build cache objects:")
				for _, id := range deleted {
					fmt.Fprintln(c.Out(), id)
				}
				fmt.Fprintln(c.Out())
			}
			reclaimed += cache.Report.SpaceReclaimed
			fmt.Fprintln(c.Out(), "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	flags.StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}

// pruneWarning lists what system prune removes, for the confirmation prompt.
func pruneWarning(all, volumes bool) string {
	images, cache := "all dangling images", "unused build cache"
	if all {
		images = "all images without at least one container associated to them"
		cache = "all build cache"
	}
	warning := "WARNING! This will remove:\n" +
		"  - all stopped containers\n" +
		"  - all networks not used by at least one container\n"
	if volumes {
		warning += "  - all anonymous volumes not used by at least one container\n"
	}
	return warning +
		"  - " + images + "\n" +
		"  - " + cache + "\n\n" +
		"Are you sure you want to continue?"
}

// parsePruneFilters converts --filter name=value arguments into API filters,
// which the prune requests of containers, networks, volumes, images and
// build cache get.
func parsePruneFilters(values []string) (client.Filters, error) {
	filters := make(client.Filters)
	for _, value := range values {
		name, filterValue, ok := strings.Cut(value, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("bad format of filter %q (expected name=value)", value)
		}
		filters.Add(strings.ToLower(strings.TrimSpace(name)), filterValue)
	}
	return filters, nil
}
