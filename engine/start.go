package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mobynet "github.com/moby/moby/api/types/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/build"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/runtime/spec"
	"github.com/berth-engine/berth/shim"
)

// ContainerStart starts a created or stopped container.
func (e *Engine) ContainerStart(ctx context.Context, ref string) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	// A start by a user gives an on-failure policy its full count again.
	c.Lock()
	if !c.State.IsRunning() {
		c.RestartCount = 0
	}
	c.Unlock()
	err = e.start(ctx, c)
	if err == errAlreadyStarted {
		return fmt.Errorf("container %s is already started: %w", c.ID, errdefs.ErrNotModified)
	}
	c.Lock()
	autoRemove := c.HostConfig.AutoRemove
	c.Unlock()
	if err != nil && autoRemove {
		if rmErr := e.remove(context.WithoutCancel(ctx), c, true); rmErr != nil {
			log.FromContext(ctx).Warn("remove --rm container after failed start", log.KeyContainer, c.ID, log.Err(rmErr))
		}
	}
	return err
}

func (e *Engine) start(ctx context.Context, c *ctr.Container) (retErr error) {
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	ctx = log.With(ctx, log.KeyContainer, c.ID)
	// NOTE: c's lock is held only to read and write its state, not across
	// the slow steps below, so that listings and inspect never wait for a
	// start. The task's op lock keeps other starts, stops, removes and
	// updates out, and only update changes HostConfig after create.
	c.Lock()
	status := c.State.Status
	c.Unlock()

	switch status {
	case ctr.Running, ctr.Paused:
		return errAlreadyStarted
	case ctr.Removing, ctr.Dead:
		return fmt.Errorf("container %s is marked for removal and cannot be started: %w", c.ID, errdefs.ErrConflict)
	}

	// Everything set up below is torn down again if a later step fails, so
	// a failed start leaves no mount, namespace or rule behind.
	var cleanups []func()
	defer func() {
		if retErr == nil {
			return
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		e.recordStartFailure(ctx, c, retErr)
	}()
	cleanupCtx := context.WithoutCancel(ctx)

	rootfs, err := e.snapshots.Mount(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mount root filesystem: %w", err)
	}
	cleanups = append(cleanups, func() {
		if err := e.snapshots.Unmount(cleanupCtx, c.SnapshotKey); err != nil {
			log.FromContext(ctx).Warn("unmount root filesystem", log.Err(err))
		}
	})

	netnsPath, err := e.connect(ctx, c)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		c.Lock()
		e.disconnect(cleanupCtx, c)
		c.Unlock()
	})

	if err := e.writeEtcFiles(c); err != nil {
		return err
	}

	bundle := e.bundleDir(c.ID)
	if err := os.RemoveAll(bundle); err != nil {
		return err
	}
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(bundle) })

	mounts, releaseMounts, err := e.setupMounts(ctx, c, rootfs)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, releaseMounts)

	specOpts := e.specOptions(c, rootfs, netnsPath)
	specOpts.Mounts = append(specOpts.Mounts, mounts...)
	if err := e.addHostConfigOptions(c, &specOpts); err != nil {
		return err
	}
	if wantsInit(c) {
		if err := e.addInit(&specOpts); err != nil {
			return err
		}
	}
	s, err := spec.Generate(specOpts)
	if err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return err
	}

	// A shim that never reports back fails the start instead of hanging it.
	launchCtx, cancelLaunch := context.WithTimeout(ctx, shimLaunchTimeout)
	defer cancelLaunch()
	client, err := e.shims.Launch(launchCtx, shim.Options{
		ID:         c.ID,
		Bundle:     bundle,
		StateDir:   bundle,
		LogPath:    e.logPath(c.ID),
		RuncRoot:   e.runcRoot(),
		RuncBinary: e.cfg.RuncBinary,
		ShimBinary: e.cfg.ShimBinary,
		Terminal:   c.Config.Tty,
		OpenStdin:  c.Config.OpenStdin,
		StdinOnce:  c.Config.StdinOnce,
	})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		client.Kill(cleanupCtx, 9)
		client.Close()
	})

	e.connectAttachers(ctx, c, client)

	startCtx, cancelStart := context.WithTimeout(ctx, shimCallTimeout)
	defer cancelStart()
	if err := client.Start(startCtx); err != nil {
		return err
	}
	c.Lock()
	err = c.State.SetRunning(client.Pid(), time.Now().UTC())
	if err == nil {
		c.ManuallyStopped = false
		if saveErr := e.containers.Save(c); saveErr != nil {
			log.FromContext(ctx).Warn("save container state", log.Err(saveErr))
		}
	}
	c.Unlock()
	if err != nil {
		return err
	}

	e.mu.Lock()
	t.shim = client
	e.mu.Unlock()
	go e.monitor(c, client)
	e.startHealthMonitor(c, true)

	if !c.Hidden {
		e.publishContainer(c, events.ActionStart)
	}
	log.FromContext(ctx).Info("container started", "pid", client.Pid())
	return nil
}

// recordStartFailure stores the error of a failed start the way Docker
// shows it: exit code 127 when the command was not found, 126 when it
// cannot be executed, and 128 otherwise. A container that never ran stays
// created; one being restarted by its policy is exited.
func (e *Engine) recordStartFailure(ctx context.Context, c *ctr.Container, err error) {
	c.Lock()
	defer c.Unlock()
	switch c.State.Status {
	case ctr.Created, ctr.Exited, ctr.Restarting:
		if c.State.Status == ctr.Restarting {
			c.State.Status = ctr.Exited
		}
		c.State.ExitCode = shim.ExitCodeForStartError(err)
		c.State.Error = err.Error()
		c.State.FinishedAt = time.Now().UTC()
	}
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.Err(err))
	}
	e.failAttachers(c.ID, err)
}

// portBindings turns the published ports of a container into requests
// for the network manager.
func portBindings(config *container.Config, hc *container.HostConfig) ([]network.PortBinding, error) {
	var out []network.PortBinding
	add := func(port mobynet.Port, hostIP netip.Addr, hostPort string) error {
		var first, last uint16
		if hostPort != "" {
			var err error
			if first, last, err = parseHostPortRange(hostPort); err != nil {
				return fmt.Errorf("invalid host port %q for %s: %w", hostPort, port, err)
			}
		}
		out = append(out, network.PortBinding{
			HostIP:        hostIP,
			HostPort:      first,
			HostPortEnd:   last,
			ContainerPort: port.Num(),
			Proto:         string(port.Proto()),
		})
		return nil
	}

	for port, bindings := range hc.PortBindings {
		if len(bindings) == 0 {
			if err := add(port, netip.Addr{}, ""); err != nil {
				return nil, err
			}
		}
		for _, b := range bindings {
			if err := add(port, b.HostIP, b.HostPort); err != nil {
				return nil, err
			}
		}
	}
	if hc.PublishAllPorts {
		for port := range config.ExposedPorts {
			if _, ok := hc.PortBindings[port]; ok {
				continue
			}
			if err := add(port, netip.Addr{}, ""); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parseHostPortRange reads a host port ("8000") or range ("8000-8010").
func parseHostPortRange(s string) (first, last uint16, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, fmt.Errorf("must be a port number from 0 to 65535 or a range such as 8000-8010: %w",
			errdefs.ErrInvalidArgument)
	}
	if !isRange {
		return uint16(a), uint16(a), nil
	}
	b, err := strconv.ParseUint(hi, 10, 16)
	if err != nil || b < a {
		return 0, 0, fmt.Errorf("must be a port range such as 8000-8010 with the lower port first: %w",
			errdefs.ErrInvalidArgument)
	}
	return uint16(a), uint16(b), nil
}

func (e *Engine) specOptions(c *ctr.Container, rootfs, netnsPath string) spec.Options {
	dir := e.containers.Dir(c.ID)
	opts := spec.Options{
		ID:             c.ID,
		Rootfs:         rootfs,
		ReadonlyRootfs: c.HostConfig.ReadonlyRootfs,
		Args:           append([]string{c.Path}, c.Args...),
		Env:            c.Config.Env,
		Cwd:            c.Config.WorkingDir,
		User:           c.Config.User,
		Terminal:       c.Config.Tty,
		ConsoleSize:    c.HostConfig.ConsoleSize,
		Hostname:       c.Config.Hostname,
		NetNSPath:      netnsPath,
		HostsPath:      filepath.Join(dir, "hosts"),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		HostnamePath:   filepath.Join(dir, "hostname"),
		Memory:         c.HostConfig.Memory,
		MemorySwap:     c.HostConfig.MemorySwap,
		NanoCPUs:       c.HostConfig.NanoCPUs,
		CPUShares:      c.HostConfig.CPUShares,
		PidsLimit:      c.HostConfig.PidsLimit,
		Privileged:     c.HostConfig.Privileged,
		CapAdd:         c.HostConfig.CapAdd,
		CapDrop:        c.HostConfig.CapDrop,
	}
	if opts.Cwd == "" {
		opts.Cwd = "/"
	}
	if c.Hidden {
		// A build step's RUN here-document script, written by Engine.Run.
		scripts := filepath.Join(dir, buildScriptDir)
		if _, err := os.Stat(scripts); err == nil {
			opts.Mounts = append(opts.Mounts, specs.Mount{
				Destination: build.ScriptDir,
				Type:        "bind",
				Source:      scripts,
				Options:     []string{"rbind", "rprivate", "ro"},
			})
		}
	}
	return opts
}

func (e *Engine) logPath(id string) string {
	return filepath.Join(e.containers.Dir(id), id+"-json.log")
}
