package compose

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/container"
	"github.com/berth-engine/berth/compose"
)

type runOptions struct {
	remove     bool
	detach     bool
	noDeps     bool
	noTTY      bool
	env        []string
	entrypoint string
	name       string
	workdir    string
	user       string
	labels     []string
	build      bool

	entrypointSet bool
}

func newRunCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts runOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.entrypointSet = cmd.Flags().Changed("entrypoint")
			return runOneoff(cmd.Context(), c, flags, &opts, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&opts.remove, "rm", false, "Automatically remove the container when it exits")
	f.BoolVarP(&opts.detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&opts.noDeps, "no-deps", false, "Don't start linked services")
	f.BoolVarP(&opts.noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (by default a TTY is allocated when the standard streams are terminals)")
	f.StringArrayVarP(&opts.env, "env", "e", nil, "Set environment variables")
	f.StringVar(&opts.entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	f.StringVar(&opts.name, "name", "", "Assign a name to the container")
	f.StringVarP(&opts.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&opts.user, "user", "u", "", "Run as specified username or uid")
	f.StringArrayVarP(&opts.labels, "label", "l", nil, "Add or override a label")
	f.BoolVar(&opts.build, "build", false, "Build image before starting container")
	return cmd
}

func runOneoff(ctx context.Context, c *cli.CLI, flags *projectFlags, opts *runOptions, name string, command []string) error {
	s, err := openProject(ctx, c, flags)
	if err != nil {
		return err
	}
	service, err := s.project.GetService(name)
	if err != nil {
		return err
	}

	if !opts.noDeps {
		if err := s.startDependencies(ctx, service); err != nil {
			return err
		}
	}
	if err := s.ensureImages(ctx, []composetypes.ServiceConfig{service}, opts.build); err != nil {
		return err
	}
	if err := s.ensureNetworks(ctx); err != nil {
		return err
	}
	if err := s.ensureVolumes(ctx); err != nil {
		return err
	}

	hash, err := compose.ServiceHash(service)
	if err != nil {
		return err
	}
	containerName := opts.name
	if containerName == "" {
		suffix := make([]byte, 6)
		_, _ = rand.Read(suffix)
		containerName = compose.OneoffName(s.project, service, hex.EncodeToString(suffix))
	}
	req, err := compose.ContainerRequest(s.project, service, containerName, 1, hash, true)
	if err != nil {
		return err
	}
	applyRunOptions(req, opts, command, isTerminal(c.In()))

	result, err := s.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             req.Name,
		Config:           req.Config,
		HostConfig:       req.HostConfig,
		NetworkingConfig: req.NetworkingConfig,
	})
	if err != nil {
		return fmt.Errorf("failed to create container %s: %w", containerName, err)
	}
	if opts.detach {
		if _, err := s.api.ContainerStart(ctx, result.ID, client.ContainerStartOptions{}); err != nil {
			return err
		}
		fmt.Fprintln(c.Out(), containerName)
		return nil
	}

	startArgs := []string{"-a"}
	if req.Config.OpenStdin {
		startArgs = append(startArgs, "-i")
	}
	runErr := runSubcommand(ctx, container.NewStartCommand(c), append(startArgs, result.ID))
	if opts.remove {
		_, err := s.api.ContainerRemove(context.WithoutCancel(ctx), result.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil {
			return errors.Join(runErr, err)
		}
	}
	return runErr
}

// applyRunOptions overrides the service's container configuration with the
// flags and command of "compose run".
func applyRunOptions(req *compose.CreateRequest, opts *runOptions, command []string, stdinTerminal bool) {
	if len(command) > 0 {
		req.Config.Cmd = command
	}
	if opts.entrypointSet {
		req.Config.Entrypoint = nil
		if opts.entrypoint != "" {
			req.Config.Entrypoint = []string{opts.entrypoint}
		}
		if len(command) == 0 {
			req.Config.Cmd = nil
		}
	}
	req.Config.Env = append(req.Config.Env, opts.env...)
	if opts.workdir != "" {
		req.Config.WorkingDir = opts.workdir
	}
	if opts.user != "" {
		req.Config.User = opts.user
	}
	for _, l := range opts.labels {
		k, v, _ := strings.Cut(l, "=")
		req.Config.Labels[k] = v
	}
	if !opts.detach {
		req.Config.AttachStdout = true
		req.Config.AttachStderr = true
		if stdinTerminal {
			req.Config.AttachStdin = true
			req.Config.OpenStdin = true
			req.Config.StdinOnce = true
			req.Config.Tty = !opts.noTTY
		}
	}
}

// startDependencies brings up the services that service depends on, as
// up would, and waits for their conditions.
func (s *session) startDependencies(ctx context.Context, service composetypes.ServiceConfig) error {
	if len(service.DependsOn) == 0 {
		return nil
	}
	deps, err := s.project.WithSelectedServices(service.GetDependencies(), composetypes.IncludeDependencies)
	if err != nil {
		return err
	}
	order, err := compose.ServiceOrder(s.project)
	if err != nil {
		return err
	}
	order = filterNames(order, deps.ServiceNames())
	var services []composetypes.ServiceConfig
	for _, name := range order {
		services = append(services, s.project.Services[name])
	}
	if err := s.ensureImages(ctx, services, false); err != nil {
		return err
	}
	if err := s.ensureNetworks(ctx); err != nil {
		return err
	}
	if err := s.ensureVolumes(ctx); err != nil {
		return err
	}
	for _, dep := range services {
		if err := s.waitDependencies(ctx, dep); err != nil {
			return err
		}
		if _, err := s.convergeService(ctx, dep, compose.RecreateDiverged, false); err != nil {
			return err
		}
	}
	return s.waitDependencies(ctx, service)
}
