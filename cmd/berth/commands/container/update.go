package container

import (
	"context"
	"errors"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewUpdateCommand returns "update": change the resource limits and restart
// policy of containers.
func NewUpdateCommand(c *cli.CLI) *cobra.Command {
	var (
		opts      createOptions
		limits    resourceOptions
		cpuShares int64
		restart   string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			resources, err := parseResources(cmd.Flags(), &opts)
			if err != nil {
				return err
			}
			resources.CPUShares = cpuShares
			if err := parseResourceOptions(&limits, &resources); err != nil {
				return err
			}
			var policy *containertypes.RestartPolicy
			if cmd.Flags().Changed("restart") {
				parsed, err := parseRestartPolicy(restart)
				if err != nil {
					return err
				}
				policy = &parsed
			}
			update := client.ContainerUpdateOptions{Resources: &resources, RestartPolicy: policy}
			return forEachContainer(cmd.Context(), c, args, func(ctx context.Context, apiClient *client.Client, name string) error {
				_, err := apiClient.ContainerUpdate(ctx, name, update)
				return err
			})
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.memory, "memory", "m", "", "Memory limit, in bytes or with a unit suffix (b, k, m, g)")
	flags.StringVar(&opts.cpus, "cpus", "", "Number of CPUs, may be fractional (1.5)")
	flags.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Int64Var(&opts.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	flags.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	addResourceFlags(flags, &limits)
	return cmd
}
