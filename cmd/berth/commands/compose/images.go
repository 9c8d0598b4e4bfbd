package compose

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/image"
	"github.com/berth-engine/berth/compose"
)

// runSubcommand runs one of berth's own client commands with args, so
// that compose builds, pulls, pushes and execs exactly as "berth build",
// "berth pull", "berth push" and "berth exec" do.
func runSubcommand(ctx context.Context, cmd *cobra.Command, args []string) error {
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// buildArgs returns the "berth build" arguments for a service.
func buildArgs(project *composetypes.Project, service composetypes.ServiceConfig, noCache, pull bool) []string {
	b := service.Build
	args := []string{"-t", compose.ImageName(project, service)}
	for _, tag := range b.Tags {
		args = append(args, "-t", tag)
	}
	if b.Dockerfile != "" {
		dockerfile := b.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(b.Context, dockerfile)
		}
		args = append(args, "-f", dockerfile)
	}
	keys := make([]string, 0, len(b.Args))
	for k := range b.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := b.Args[k]; v != nil {
			args = append(args, "--build-arg", k+"="+*v)
		}
	}
	labelKeys := make([]string, 0, len(b.Labels))
	for k := range b.Labels {
		labelKeys = append(labelKeys, k)
	}
	sort.Strings(labelKeys)
	for _, k := range labelKeys {
		args = append(args, "--label", k+"="+b.Labels[k])
	}
	if b.Target != "" {
		args = append(args, "--target", b.Target)
	}
	if b.Network != "" {
		args = append(args, "--network", b.Network)
	}
	for _, h := range b.ExtraHosts.AsList(":") {
		args = append(args, "--add-host", h)
	}
	if noCache || b.NoCache {
		args = append(args, "--no-cache")
	}
	if pull || b.Pull {
		args = append(args, "--pull")
	}
	return append(args, b.Context)
}

// buildServices builds the images of the named services that have a build
// section, or of all such services when names is empty.
func (s *session) buildServices(ctx context.Context, names []string, noCache, pull bool) error {
	for _, service := range s.selected(names) {
		if service.Build == nil {
			continue
		}
		s.status("Service", service.Name, "Building")
		args := buildArgs(s.project, service, noCache, pull)
		if err := runSubcommand(ctx, image.NewBuildCommand(s.cli), args); err != nil {
			return fmt.Errorf("failed to build service %s: %w", service.Name, err)
		}
		s.status("Service", service.Name, "Built")
	}
	return nil
}

// ensureImages builds or pulls the images of services that are not in the
// image store yet, as up does before it creates containers.
func (s *session) ensureImages(ctx context.Context, services []composetypes.ServiceConfig, build bool) error {
	for _, service := range services {
		name := compose.ImageName(s.project, service)
		if service.Build != nil && build {
			if err := s.buildServices(ctx, []string{service.Name}, false, false); err != nil {
				return err
			}
			continue
		}
		_, err := s.api.ImageInspect(ctx, name)
		if err == nil {
			continue
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
		if service.Build != nil {
			if err := s.buildServices(ctx, []string{service.Name}, false, false); err != nil {
				return err
			}
			continue
		}
		if err := s.pullImage(ctx, name, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) pullImage(ctx context.Context, name string, quiet bool) error {
	args := []string{name}
	if quiet {
		args = []string{"-q", name}
	}
	if err := runSubcommand(ctx, image.NewPullCommand(s.cli), args); err != nil {
		return fmt.Errorf("failed to pull %s: %w", name, err)
	}
	return nil
}

// selected returns the named services, or all enabled services when names
// is empty, sorted by name.
func (s *session) selected(names []string) []composetypes.ServiceConfig {
	if len(names) == 0 {
		names = s.project.ServiceNames()
	}
	sort.Strings(names)
	var out []composetypes.ServiceConfig
	for _, name := range names {
		if service, ok := s.project.Services[name]; ok {
			out = append(out, service)
		}
	}
	return out
}

func newBuildCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var noCache, pull bool
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openProject(cmd.Context(), c, flags)
			if err != nil {
				return err
			}
			if err := s.checkServices(args); err != nil {
				return err
			}
			return s.buildServices(cmd.Context(), args, noCache, pull)
		},
	}
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "Do not use cache when building the image")
	cmd.Flags().BoolVar(&pull, "pull", false, "Always attempt to pull a newer version of the image")
	return cmd
}

func newPullCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var quiet, ignoreFailures bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openProject(cmd.Context(), c, flags)
			if err != nil {
				return err
			}
			if err := s.checkServices(args); err != nil {
				return err
			}
			for _, service := range s.selected(args) {
				if service.Image == "" {
					continue
				}
				err := s.pullImage(cmd.Context(), service.Image, quiet)
				if err != nil && service.Build == nil && !ignoreFailures {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Pull without printing progress information")
	cmd.Flags().BoolVar(&ignoreFailures, "ignore-pull-failures", false, "Pull what it can and ignore images with pull failures")
	return cmd
}

func newPushCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var quiet, ignoreFailures bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openProject(cmd.Context(), c, flags)
			if err != nil {
				return err
			}
			if err := s.checkServices(args); err != nil {
				return err
			}
			for _, service := range s.selected(args) {
				if service.Image == "" {
					continue
				}
				pushArgs := []string{service.Image}
				if quiet {
					pushArgs = []string{"-q", service.Image}
				}
				err := runSubcommand(cmd.Context(), image.NewPushCommand(s.cli), pushArgs)
				if err != nil && !ignoreFailures {
					return fmt.Errorf("failed to push %s: %w", service.Image, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Push without printing progress information")
	cmd.Flags().BoolVar(&ignoreFailures, "ignore-push-failures", false, "Push what it can and ignore images with push failures")
	return cmd
}
