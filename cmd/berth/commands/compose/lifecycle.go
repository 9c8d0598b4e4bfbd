package compose

import (
	"context"
	"errors"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/compose"
)

func newStopCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop services",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, containers, err := serviceContainers(ctx, c, flags, args, false, false)
			if err != nil {
				return err
			}
			return s.stopContainers(ctx, containers, changedTimeout(cmd, timeout))
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Seconds to wait for containers to stop before killing them")
	return cmd
}

func newStartCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start services",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, containers, err := serviceContainers(ctx, c, flags, args, true, true)
			if err != nil {
				return err
			}
			for _, pc := range containers {
				if pc.State == "running" {
					continue
				}
				if service, ok := s.project.Services[pc.Service]; ok {
					if err := s.waitDependencies(ctx, service); err != nil {
						return err
					}
				}
				if err := s.startContainer(ctx, pc.ID, pc.Name()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return cmd
}

func newRestartCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Restart service containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, containers, err := serviceContainers(ctx, c, flags, args, true, true)
			if err != nil {
				return err
			}
			t := changedTimeout(cmd, timeout)
			var errs []error
			for _, pc := range containers {
				s.status("Container", pc.Name(), "Restarting")
				if _, err := s.api.ContainerRestart(ctx, pc.ID, client.ContainerRestartOptions{Timeout: t}); err != nil {
					errs = append(errs, err)
					continue
				}
				s.status("Container", pc.Name(), "Started")
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Seconds to wait for containers to stop before killing them")
	return cmd
}

// serviceContainers opens the project and returns the containers of the
// named services, or of all services when none is named. With all set
// stopped containers are included, and with ordered they come in dependency
// order.
func serviceContainers(ctx context.Context, c *cli.CLI, flags *projectFlags, services []string, all, ordered bool) (*session, []projectContainer, error) {
	s, err := openProjectName(ctx, c, flags)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkServices(services); err != nil {
		return nil, nil, err
	}
	containers, err := s.containers(ctx, all, false, services...)
	if err != nil {
		return nil, nil, err
	}
	if ordered {
		position, err := s.positions()
		if err != nil {
			return nil, nil, err
		}
		sortByPosition(containers, position, false)
	}
	return s, containers, nil
}

// changedTimeout returns the --timeout value when the flag was given, nil
// for the daemon's default.
func changedTimeout(cmd *cobra.Command, timeout int) *int {
	if !cmd.Flags().Changed("timeout") {
		return nil
	}
	return &timeout
}

// positions maps each service to its place in dependency order.
func (s *session) positions() (map[string]int, error) {
	order, err := compose.ServiceOrder(s.project)
	if err != nil {
		return nil, err
	}
	position := map[string]int{}
	for i, name := range order {
		position[name] = i
	}
	return position, nil
}
