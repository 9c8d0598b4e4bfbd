package network

import (
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

const pruneWarning = `WARNING! This will remove all custom networks not used by at least one container.
Are you sure you want to continue?`

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				_, err := apiClient.NetworkRemove(cmd.Context(), name, client.NetworkRemoveOptions{})
				if err != nil {
					if force && errdefs.IsNotFound(err) {
						continue
					}
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.Out(), name)
			}
			return cli.JoinErrors(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		force   bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if !force && !cli.Confirm(c.In(), c.Out(), pruneWarning) {
				return errors.New("network prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: pruneFilters})
			if err != nil {
				return err
			}
			if len(result.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Networks:")
				for _, name := range result.Report.NetworksDeleted {
					fmt.Fprintln(c.Out(), name)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}
