package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/compose"
)

type upOptions struct {
	detach        bool
	build         bool
	noBuild       bool
	forceRecreate bool
	noRecreate    bool
	noDeps        bool
	scale         []string
	removeOrphans bool
	wait          bool
	noColor       bool
	timeout       int
	timeoutSet    bool
}

func (o *upOptions) policy() (string, error) {
	switch {
	case o.forceRecreate && o.noRecreate:
		return "", errors.New("--force-recreate and --no-recreate are incompatible")
	case o.forceRecreate:
		return compose.RecreateForce, nil
	case o.noRecreate:
		return compose.RecreateNever, nil
	}
	return compose.RecreateDiverged, nil
}

func newUpCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts upOptions
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.timeoutSet = cmd.Flags().Changed("timeout")
			return runUp(cmd.Context(), c, flags, &opts, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.detach, "detach", "d", false, "Detached mode: run containers in the background")
	f.BoolVar(&opts.build, "build", false, "Build images before starting containers")
	f.BoolVar(&opts.noBuild, "no-build", false, "Don't build an image, even if it's missing")
	f.BoolVar(&opts.forceRecreate, "force-recreate", false, "Recreate containers even if their configuration hasn't changed")
	f.BoolVar(&opts.noRecreate, "no-recreate", false, "If containers already exist, don't recreate them")
	f.BoolVar(&opts.noDeps, "no-deps", false, "Don't start linked services")
	f.StringArrayVar(&opts.scale, "scale", nil, "Scale SERVICE to NUM instances (SERVICE=NUM)")
	f.BoolVar(&opts.removeOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	f.BoolVar(&opts.wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode")
	f.BoolVar(&opts.noColor, "no-color", false, "Produce monochrome output")
	f.IntVarP(&opts.timeout, "timeout", "t", 10, "Seconds to wait for containers to stop when Ctrl-C stops the project (default: each service's stop_grace_period, else 10)")
	return cmd
}

func runUp(ctx context.Context, c *cli.CLI, flags *projectFlags, opts *upOptions, args []string) error {
	policy, err := opts.policy()
	if err != nil {
		return err
	}
	s, err := openProject(ctx, c, flags)
	if err != nil {
		return err
	}
	if err := compose.ApplyScale(s.project, opts.scale); err != nil {
		return err
	}
	if err := s.checkServices(args); err != nil {
		return err
	}
	if len(args) > 0 {
		selectOpt := composetypes.IncludeDependencies
		if opts.noDeps {
			selectOpt = composetypes.IgnoreDependencies
		}
		// Keep the whole project for names and networks, but converge
		// only the selected services.
		selected, err := s.project.WithSelectedServices(args, selectOpt)
		if err != nil {
			return err
		}
		args = selected.ServiceNames()
	}

	order, err := compose.ServiceOrder(s.project)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		order = filterNames(order, args)
	}
	services := make([]composetypes.ServiceConfig, 0, len(order))
	for _, name := range order {
		services = append(services, s.project.Services[name])
	}

	if !opts.noBuild {
		if err := s.ensureImages(ctx, services, opts.build); err != nil {
			return err
		}
	}
	if err := s.ensureNetworks(ctx); err != nil {
		return err
	}
	if err := s.ensureVolumes(ctx); err != nil {
		return err
	}
	if err := s.handleOrphans(ctx, opts.removeOrphans); err != nil {
		return err
	}

	changed := map[string]bool{}
	for _, service := range services {
		if err := s.waitDependencies(ctx, service); err != nil {
			return err
		}
		restart := false
		for dep, d := range service.DependsOn {
			if d.Restart && changed[dep] {
				restart = true
			}
		}
		servicePolicy := policy
		if policy != compose.RecreateNever && sharesChangedNamespace(service, changed) {
			servicePolicy = compose.RecreateForce
		}
		didChange, err := s.convergeService(ctx, service, servicePolicy, restart)
		if err != nil {
			return err
		}
		changed[service.Name] = didChange
	}

	if opts.wait {
		return s.waitRunning(ctx, services)
	}
	if opts.detach {
		return nil
	}
	return s.attach(ctx, order, opts)
}

// sharesChangedNamespace reports whether service joins the network
// namespace or the volumes of a service whose containers were just
// replaced, so that its own containers must be recreated to follow them.
func sharesChangedNamespace(service composetypes.ServiceConfig, changed map[string]bool) bool {
	if target, ok := strings.CutPrefix(service.NetworkMode, "service:"); ok && changed[target] {
		return true
	}
	for _, from := range service.VolumesFrom {
		name, _, _ := strings.Cut(strings.TrimPrefix(from, "service:"), ":")
		if changed[name] {
			return true
		}
	}
	return false
}

func filterNames(order, names []string) []string {
	wanted := map[string]bool{}
	for _, n := range names {
		wanted[n] = true
	}
	var out []string
	for _, n := range order {
		if wanted[n] {
			out = append(out, n)
		}
	}
	return out
}

// handleOrphans removes, or warns about, containers of the project whose
// service the compose files no longer define.
func (s *session) handleOrphans(ctx context.Context, remove bool) error {
	all, err := s.containers(ctx, true, false)
	if err != nil {
		return err
	}
	var orphans []projectContainer
	for _, pc := range all {
		if _, ok := s.project.Services[pc.Service]; ok {
			continue
		}
		if _, ok := s.project.DisabledServices[pc.Service]; ok {
			continue
		}
		orphans = append(orphans, pc)
	}
	if len(orphans) == 0 {
		return nil
	}
	if !remove {
		fmt.Fprintf(s.cli.Err(), "WARN[0000] Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", orphanNames(orphans))
		return nil
	}
	for _, pc := range orphans {
		if err := s.removeContainer(ctx, pc.ID, pc.Name(), nil, false); err != nil {
			return err
		}
	}
	return nil
}

func orphanNames(orphans []projectContainer) string {
	names := make([]string, len(orphans))
	for i, pc := range orphans {
		names[i] = pc.Name()
	}
	return strings.Join(names, ", ")
}

// convergeService brings a service's containers to its configuration and
// scale. It returns whether a container was created or recreated.
func (s *session) convergeService(ctx context.Context, service composetypes.ServiceConfig, policy string, restart bool) (bool, error) {
	hash, err := compose.ServiceHash(service)
	if err != nil {
		return false, err
	}
	existing, err := s.containers(ctx, true, false, service.Name)
	if err != nil {
		return false, err
	}
	planned := make([]compose.Container, len(existing))
	for i, pc := range existing {
		planned[i] = compose.Container{
			ID:      pc.ID,
			Name:    pc.Name(),
			Number:  pc.Number,
			Hash:    pc.Labels[compose.ConfigHashLabel],
			Running: pc.State == "running",
		}
	}
	actions := compose.PlanService(compose.PlanInput{
		Hash:                 hash,
		Scale:                service.GetScale(),
		Existing:             planned,
		Policy:               policy,
		RestartForDependency: restart,
	})
	for _, a := range actions {
		if err := s.apply(ctx, service, hash, a); err != nil {
			return false, err
		}
	}
	return compose.Changed(actions), nil
}

func (s *session) apply(ctx context.Context, service composetypes.ServiceConfig, hash string, a compose.Action) error {
	timeout := stopTimeout(service)
	switch a.Kind {
	case compose.Keep:
		s.status("Container", a.Container.Name, "Running")
		return nil
	case compose.Start:
		return s.startContainer(ctx, a.Container.ID, a.Container.Name)
	case compose.Restart:
		s.status("Container", a.Container.Name, "Restarting")
		if _, err := s.api.ContainerRestart(ctx, a.Container.ID, client.ContainerRestartOptions{Timeout: timeout}); err != nil {
			return err
		}
		s.status("Container", a.Container.Name, "Started")
		return nil
	case compose.Remove:
		return s.removeContainer(ctx, a.Container.ID, a.Container.Name, timeout, false)
	case compose.Recreate:
		return s.recreate(ctx, service, hash, a, timeout)
	case compose.Create:
		name := compose.ContainerName(s.project, service, a.Number)
		id, err := s.createContainer(ctx, service, name, a.Number, hash)
		if err != nil {
			return err
		}
		return s.startContainer(ctx, id, name)
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

// recreate replaces a container. The old one is stopped and renamed, the
// new one is created under the old name, and the old one is removed
// before the new one starts, so that its published ports are free.
func (s *session) recreate(ctx context.Context, service composetypes.ServiceConfig, hash string, a compose.Action, timeout *int) error {
	old := a.Container
	s.status("Container", old.Name, "Recreate")
	if _, err := s.api.ContainerStop(ctx, old.ID, client.ContainerStopOptions{Timeout: timeout}); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	tmpName := old.ID[:12] + "_" + old.Name
	if _, err := s.api.ContainerRename(ctx, old.ID, client.ContainerRenameOptions{NewName: tmpName}); err != nil {
		return err
	}
	name := compose.ContainerName(s.project, service, a.Number)
	id, err := s.createContainer(ctx, service, name, a.Number, hash)
	if err != nil {
		return err
	}
	if _, err := s.api.ContainerRemove(ctx, old.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	s.status("Container", name, "Recreated")
	return s.startContainer(ctx, id, name)
}

func (s *session) createContainer(ctx context.Context, service composetypes.ServiceConfig, name string, number int, hash string) (string, error) {
	req, err := compose.ContainerRequest(s.project, service, name, number, hash, false)
	if err != nil {
		return "", err
	}
	s.status("Container", name, "Creating")
	result, err := s.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             req.Name,
		Config:           req.Config,
		HostConfig:       req.HostConfig,
		NetworkingConfig: req.NetworkingConfig,
	})
	if err != nil {
		return "", fmt.Errorf("failed to create container %s: %w", name, err)
	}
	s.status("Container", name, "Created")
	return result.ID, nil
}

func (s *session) startContainer(ctx context.Context, id, name string) error {
	s.status("Container", name, "Starting")
	if _, err := s.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("failed to start container %s: %w", name, err)
	}
	s.status("Container", name, "Started")
	return nil
}

// removeContainer stops and removes a container. removeVolumes also
// removes its anonymous volumes.
func (s *session) removeContainer(ctx context.Context, id, name string, timeout *int, removeVolumes bool) error {
	s.status("Container", name, "Stopping")
	if _, err := s.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: timeout}); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	s.status("Container", name, "Stopped")
	s.status("Container", name, "Removing")
	_, err := s.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: removeVolumes})
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	s.status("Container", name, "Removed")
	return nil
}

func stopTimeout(service composetypes.ServiceConfig) *int {
	if service.StopGracePeriod == nil {
		return nil
	}
	seconds := int(time.Duration(*service.StopGracePeriod).Seconds())
	return &seconds
}

// pollInterval is how often up inspects containers while it waits for a
// dependency condition.
const pollInterval = 200 * time.Millisecond

// waitDependencies waits until each dependency of service meets the
// condition that depends_on sets for it.
func (s *session) waitDependencies(ctx context.Context, service composetypes.ServiceConfig) error {
	for name, dep := range service.DependsOn {
		if _, ok := s.project.Services[name]; !ok {
			if dep.Required {
				return fmt.Errorf("service %q depends on undefined service %q", service.Name, name)
			}
			continue
		}
		if err := s.waitCondition(ctx, name, dep.Condition); err != nil {
			if !dep.Required {
				fmt.Fprintf(s.cli.Err(), "WARN[0000] optional dependency %q failed: %v\n", name, err)
				continue
			}
			return err
		}
	}
	return nil
}

func (s *session) waitCondition(ctx context.Context, service, condition string) error {
	switch condition {
	case composetypes.ServiceConditionHealthy, composetypes.ServiceConditionCompletedSuccessfully:
	default:
		return nil
	}
	containers, err := s.containers(ctx, true, false, service)
	if err != nil {
		return err
	}
	for _, pc := range containers {
		if err := s.waitContainer(ctx, pc, condition); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) waitContainer(ctx context.Context, pc projectContainer, condition string) error {
	if condition == composetypes.ServiceConditionHealthy {
		s.status("Container", pc.Name(), "Waiting")
	}
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		result, err := s.api.ContainerInspect(ctx, pc.ID, client.ContainerInspectOptions{})
		if err != nil {
			return err
		}
		state := result.Container.State
		switch condition {
		case composetypes.ServiceConditionHealthy:
			if state.Health == nil {
				return fmt.Errorf("container %s has no healthcheck configured", pc.Name())
			}
			switch state.Health.Status {
			case "healthy":
				s.status("Container", pc.Name(), "Healthy")
				return nil
			case "unhealthy":
				return fmt.Errorf("dependency failed to start: container %s is unhealthy", pc.Name())
			}
			if !state.Running {
				return fmt.Errorf("dependency failed to start: container %s exited (%d)", pc.Name(), state.ExitCode)
			}
		case composetypes.ServiceConditionCompletedSuccessfully:
			if !state.Running && !state.Restarting && state.Status != "created" {
				if state.ExitCode != 0 {
					return fmt.Errorf("service %q didn't complete successfully: exit %d", pc.Service, state.ExitCode)
				}
				s.status("Container", pc.Name(), "Exited")
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// waitRunning implements --wait: every container of services must be
// running, and healthy when it has a healthcheck. A container that exits
// with 0 counts as done for a service that others wait on to complete.
func (s *session) waitRunning(ctx context.Context, services []composetypes.ServiceConfig) error {
	completes := map[string]bool{}
	for _, service := range s.project.Services {
		for name, dep := range service.DependsOn {
			if dep.Condition == composetypes.ServiceConditionCompletedSuccessfully {
				completes[name] = true
			}
		}
	}
	for _, service := range services {
		containers, err := s.containers(ctx, true, false, service.Name)
		if err != nil {
			return err
		}
		for _, pc := range containers {
			if completes[service.Name] {
				if err := s.waitContainer(ctx, pc, composetypes.ServiceConditionCompletedSuccessfully); err != nil {
					return err
				}
				continue
			}
			result, err := s.api.ContainerInspect(ctx, pc.ID, client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			if result.Container.State.Health != nil {
				if err := s.waitContainer(ctx, pc, composetypes.ServiceConditionHealthy); err != nil {
					return err
				}
				continue
			}
			if !result.Container.State.Running {
				return fmt.Errorf("container %s exited (%d)", pc.Name(), result.Container.State.ExitCode)
			}
		}
	}
	return nil
}

// attach streams the logs of the project's containers until they all
// exit or the user presses Ctrl-C, which stops the project.
func (s *session) attach(ctx context.Context, services []string, opts *upOptions) error {
	containers, err := s.containers(ctx, true, false, services...)
	if err != nil {
		return err
	}
	fmt.Fprintln(s.cli.Err(), "Attaching to "+orphanNames(containers))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	logCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.streamLogs(logCtx, containers, logOptions{follow: true, noColor: opts.noColor, tail: "all"})
	}()

	// berth's main also cancels ctx on SIGINT, so either event can come
	// first when the user presses Ctrl-C.
	select {
	case err := <-done:
		if ctx.Err() == nil {
			return err
		}
	case <-signals:
	}
	cancel()
	fmt.Fprintln(s.cli.Err(), "Gracefully stopping... (press Ctrl+C again to force)")
	// Without --timeout each container gets its stop_grace_period, which
	// the daemon keeps as the container's stop timeout.
	var timeout *int
	if opts.timeoutSet {
		timeout = &opts.timeout
	}
	return s.stopContainers(context.WithoutCancel(ctx), containers, timeout)
}

// stopContainers stops containers in reverse dependency order.
func (s *session) stopContainers(ctx context.Context, containers []projectContainer, timeout *int) error {
	order, err := compose.ServiceOrder(s.project)
	if err != nil {
		return err
	}
	position := map[string]int{}
	for i, name := range order {
		position[name] = i
	}
	sorted := append([]projectContainer(nil), containers...)
	sortByPosition(sorted, position, true)
	var errs []error
	for _, pc := range sorted {
		if pc.State != "running" && pc.State != "restarting" && pc.State != "paused" {
			continue
		}
		s.status("Container", pc.Name(), "Stopping")
		if _, err := s.api.ContainerStop(ctx, pc.ID, client.ContainerStopOptions{Timeout: timeout}); err != nil {
			errs = append(errs, err)
			continue
		}
		s.status("Container", pc.Name(), "Stopped")
	}
	return errors.Join(errs...)
}
