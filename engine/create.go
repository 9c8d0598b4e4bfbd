package engine

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/log"
)

// ContainerCreate creates a container from an image without starting it.
func (e *Engine) ContainerCreate(ctx context.Context, req server.ContainerCreateRequest) (container.CreateResponse, error) {
	c, err := e.create(ctx, req, false)
	if err != nil {
		return container.CreateResponse{}, err
	}
	return container.CreateResponse{ID: c.ID, Warnings: []string{}}, nil
}

func (e *Engine) create(ctx context.Context, req server.ContainerCreateRequest, hidden bool) (*ctr.Container, error) {
	if req.Config == nil {
		return nil, fmt.Errorf("config cannot be empty in order to create a container: %w", errdefs.ErrInvalidArgument)
	}
	hostConfig := req.HostConfig
	if hostConfig == nil {
		hostConfig = &container.HostConfig{}
	}
	if err := checkHostConfig(hostConfig); err != nil {
		return nil, err
	}
	if err := checkRuntimeOptions(hostConfig); err != nil {
		return nil, err
	}
	if req.Name != "" {
		if err := checkName(req.Name); err != nil {
			return nil, err
		}
	}
	if req.Config.Image == "" {
		return nil, fmt.Errorf("no image specified: %w", errdefs.ErrInvalidArgument)
	}
	if wd := req.Config.WorkingDir; wd != "" && !path.IsAbs(wd) {
		return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path: %w",
			wd, errdefs.ErrInvalidArgument)
	}
	// Docker rejects an unknown stop signal at create, not at stop time.
	if sig := req.Config.StopSignal; sig != "" {
		if _, err := ParseSignal(sig); err != nil {
			return nil, err
		}
	}

	e.imageUse.RLock()
	defer e.imageUse.RUnlock()
	img, err := e.images.Get(ctx, req.Config.Image)
	if err != nil {
		return nil, err
	}
	config := mergeImageConfig(req.Config, img)
	if err := checkPublishedPorts(config, hostConfig); err != nil {
		return nil, err
	}
	argv := append(append([]string{}, config.Entrypoint...), config.Cmd...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}

	c := &ctr.Container{
		ID:         newID(),
		Created:    time.Now().UTC(),
		Image:      img.ID,
		ImageName:  req.Config.Image,
		Path:       argv[0],
		Args:       argv[1:],
		Config:     config,
		HostConfig: hostConfig,
		State:      ctr.State{Status: ctr.Created},
		Hidden:     hidden,
	}
	c.SnapshotKey = c.ID
	c.Name = strings.TrimPrefix(req.Name, "/")
	if c.Name == "" {
		c.Name = randomName(func(n string) bool { _, err := e.containers.Get(n); return err == nil })
	}
	if c.Config.Hostname == "" {
		c.Config.Hostname = c.ID[:12]
	}
	if err := e.setupNetworks(c, req.NetworkingConfig); err != nil {
		return nil, err
	}
	ctx = log.With(ctx, log.KeyContainer, c.ID)
	points, undoMounts, err := e.createMountPoints(c.ID, config, hostConfig, hidden)
	if err != nil {
		return nil, err
	}
	c.MountPoints = points

	if err := e.snapshots.Prepare(ctx, c.SnapshotKey, img.ChainID()); err != nil {
		undoMounts()
		return nil, fmt.Errorf("prepare root filesystem of %s: %w", c.ID, err)
	}
	if err := e.containers.Add(c); err != nil {
		undoMounts()
		if rmErr := e.snapshots.Remove(ctx, c.SnapshotKey); rmErr != nil {
			log.FromContext(ctx).Warn("remove snapshot of container that was not created", log.Err(rmErr))
		}
		return nil, err
	}
	e.task(c.ID)

	if !hidden {
		e.publishContainer(c, events.ActionCreate)
	}
	log.FromContext(ctx).Debug("container created", "name", c.Name, log.KeyImage, img.ID)
	return c, nil
}

// checkHostConfig rejects the options berth cannot honour yet, so that a
// user never gets a container that silently ignores them.
func checkHostConfig(hc *container.HostConfig) error {
	// The network mode is checked against the networks in setupNetworks,
	// and the mounts in collectMounts.
	// The API module's validation carries Docker Engine's messages, such as
	// "invalid restart policy: unknown policy 'bogus'; use one of ...".
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		return fmt.Errorf("can't create 'AutoRemove' container with restart policy: %w", errdefs.ErrInvalidArgument)
	}
	for port, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if b.HostPort == "" {
				continue
			}
			if _, _, err := parseHostPortRange(b.HostPort); err != nil {
				return fmt.Errorf("invalid host port %q for %s: %w", b.HostPort, port, err)
			}
		}
	}
	return nil
}

// checkPublishedPorts rejects at create time the published ports that the
// bridge network cannot program, so that no container is created that
// would fail at every start. That is every SCTP port, including exposed
// ones with PublishAllPorts, and IPv6 host addresses.
func checkPublishedPorts(config *container.Config, hc *container.HostConfig) error {
	for port, bindings := range hc.PortBindings {
		if err := checkPublishProtocol(port); err != nil {
			return err
		}
		for _, b := range bindings {
			if b.HostIP.IsValid() && !b.HostIP.Unmap().Is4() {
				return fmt.Errorf("publishing %s on IPv6 host address %s is not supported; "+
					"use an IPv4 address such as 127.0.0.1 or 0.0.0.0: %w", port, b.HostIP, errdefs.ErrNotImplemented)
			}
		}
	}
	if hc.PublishAllPorts {
		for port := range config.ExposedPorts {
			if err := checkPublishProtocol(port); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkPublishProtocol(port network.Port) error {
	switch port.Proto() {
	case network.TCP, network.UDP:
		return nil
	case network.SCTP:
		return fmt.Errorf("publishing SCTP port %s is not supported; only tcp and udp ports can be published: %w",
			port, errdefs.ErrNotImplemented)
	default:
		return fmt.Errorf("invalid protocol in published port %s: use tcp or udp: %w",
			port, errdefs.ErrInvalidArgument)
	}
}

// mergeImageConfig fills what the request leaves unset from the image, as
// Docker does: an entrypoint given at create time also drops the image's
// command.
func mergeImageConfig(req *container.Config, img image.Image) *container.Config {
	c := *req
	ic := img.Config.Config

	if c.Entrypoint == nil {
		c.Entrypoint = ic.Entrypoint
		if len(c.Cmd) == 0 {
			c.Cmd = ic.Cmd
		}
	}
	if len(c.Entrypoint) == 1 && c.Entrypoint[0] == "" {
		c.Entrypoint = nil
	}
	c.Env = mergeEnv(ic.Env, req.Env)
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if c.User == "" {
		c.User = ic.User
	}
	if c.StopSignal == "" {
		c.StopSignal = ic.StopSignal
	}
	c.Healthcheck = mergeHealthcheck(req.Healthcheck, ic.Healthcheck)
	if len(ic.ExposedPorts) > 0 {
		ports := network.PortSet{}
		for p := range ic.ExposedPorts {
			if port, err := network.ParsePort(p); err == nil {
				ports[port] = struct{}{}
			}
		}
		for p := range req.ExposedPorts {
			ports[p] = struct{}{}
		}
		c.ExposedPorts = ports
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range req.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if len(ic.Volumes) > 0 && c.Volumes == nil {
		c.Volumes = map[string]struct{}{}
		for v := range ic.Volumes {
			c.Volumes[v] = struct{}{}
		}
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	return &c
}

// mergeEnv returns base with each variable of override replacing the one of
// the same name. An override without "=" (a name the client had no value
// for) removes the variable, as Docker does.
func mergeEnv(base, override []string) []string {
	out := append([]string{}, base...)
	index := map[string]int{}
	for i, kv := range out {
		index[envName(kv)] = i
	}
	for _, kv := range override {
		i, ok := index[envName(kv)]
		switch {
		case !strings.Contains(kv, "="):
			if ok {
				out[i] = ""
			}
		case ok:
			out[i] = kv
		default:
			index[envName(kv)] = len(out)
			out = append(out, kv)
		}
	}
	kept := out[:0]
	for _, kv := range out {
		if kv != "" {
			kept = append(kept, kv)
		}
	}
	return kept
}

func envName(kv string) string {
	name, _, _ := strings.Cut(kv, "=")
	return name
}

// get resolves a container reference.
func (e *Engine) get(ref string) (*ctr.Container, error) {
	return e.containers.Get(ref)
}

// errNotRunning is Docker's conflict for operations that need a process.
func errNotRunning(id string) error {
	return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
}

var errAlreadyStarted = errors.New("container already started")
