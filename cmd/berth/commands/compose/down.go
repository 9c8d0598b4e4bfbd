package compose

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/compose"
)

type downOptions struct {
	volumes       bool
	rmi           string
	removeOrphans bool
	timeout       int
	timeoutSet    bool
}

func newDownCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts downOptions
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.timeoutSet = cmd.Flags().Changed("timeout")
			return runDown(cmd.Context(), c, flags, &opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.volumes, "volumes", "v", false, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers")
	f.StringVar(&opts.rmi, "rmi", "", "Remove images used by services. \"local\" removes only images that don't have a custom tag (\"local\"|\"all\")")
	f.BoolVar(&opts.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.IntVarP(&opts.timeout, "timeout", "t", 10, "Seconds to wait for containers to stop before killing them")
	return cmd
}

func runDown(ctx context.Context, c *cli.CLI, flags *projectFlags, opts *downOptions) error {
	if opts.rmi != "" && opts.rmi != "local" && opts.rmi != "all" {
		return fmt.Errorf("invalid value for --rmi: %q (expected \"local\" or \"all\")", opts.rmi)
	}
	s, err := openProjectName(ctx, c, flags)
	if err != nil {
		return err
	}
	all, err := s.containers(ctx, true, true)
	if err != nil {
		return err
	}
	var timeout *int
	if opts.timeoutSet {
		timeout = &opts.timeout
	}

	order, err := compose.ServiceOrder(s.project)
	if err != nil {
		return err
	}
	position := map[string]int{}
	for i, name := range order {
		position[name] = i
	}
	sortByPosition(all, position, true)

	var errs []error
	var orphans []projectContainer
	for _, pc := range all {
		_, known := s.project.Services[pc.Service]
		if !known && !pc.Oneoff && len(s.project.Services) > 0 && !opts.removeOrphans {
			orphans = append(orphans, pc)
			continue
		}
		if err := s.removeContainer(ctx, pc.ID, pc.Name(), timeout, opts.volumes); err != nil {
			errs = append(errs, err)
		}
	}
	if len(orphans) > 0 {
		fmt.Fprintf(s.cli.Err(), "WARN[0000] Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", orphanNames(orphans))
	} else if err := s.removeNetworks(ctx); err != nil {
		errs = append(errs, err)
	}
	if opts.volumes {
		if err := s.removeVolumes(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if opts.rmi != "" {
		if err := s.removeImages(ctx, all, opts.rmi); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeImages implements --rmi: "all" removes every image the services
// use, "local" only the images built for services without an image name.
func (s *session) removeImages(ctx context.Context, removed []projectContainer, mode string) error {
	images := map[string]bool{}
	for _, service := range s.project.Services {
		if mode == "local" && service.Image != "" {
			continue
		}
		images[compose.ImageName(s.project, service)] = true
	}
	for _, pc := range removed {
		name := pc.Labels[compose.ImageLabel]
		if name == "" {
			continue
		}
		if _, known := s.project.Services[pc.Service]; known {
			continue
		}
		if mode == "all" || name == s.project.Name+"-"+pc.Service {
			images[name] = true
		}
	}
	names := make([]string, 0, len(images))
	for name := range images {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		_, err := s.api.ImageRemove(ctx, name, client.ImageRemoveOptions{})
		if err != nil {
			if !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		s.status("Image", name, "Removed")
	}
	return errors.Join(errs...)
}

// sortByPosition orders containers by the dependency position of their
// service, and by number within a service. reverse puts dependents first,
// the order in which they stop.
func sortByPosition(containers []projectContainer, position map[string]int, reverse bool) {
	sort.SliceStable(containers, func(i, j int) bool {
		pi, pj := position[containers[i].Service], position[containers[j].Service]
		if pi != pj {
			if reverse {
				return pi > pj
			}
			return pi < pj
		}
		return containers[i].Number < containers[j].Number
	})
}
