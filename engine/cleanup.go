package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/runc"
	"github.com/berth-engine/berth/shim"
)

// destroyRuntime removes whatever a container that is not running may
// still hold at the runtime level: a shim, a runc container (killing its
// processes), the network endpoint, the root filesystem mount and the
// bundle. A daemon crash during a start, or a shim that died, leaves such
// state behind. Every step is best effort and safe to repeat. The caller
// holds c's lock.
func (e *Engine) destroyRuntime(ctx context.Context, c *ctr.Container) {
	ctx = log.With(ctx, log.KeyContainer, c.ID)
	bundle := e.bundleDir(c.ID)

	killShim(ctx, bundle)
	r := runc.New(runc.Config{Binary: e.cfg.RuncBinary, Root: e.runcRoot()})
	deleteCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.Delete(deleteCtx, c.ID, true); err != nil && !runc.IsNotFound(err) {
		log.FromContext(ctx).Warn("force-delete leftover runc container", log.Err(err))
	}
	e.releaseRuntime(ctx, c)
}

// killShim kills the shim whose pid file is in stateDir, if that process is
// still a berth shim.
func killShim(ctx context.Context, stateDir string) {
	data, err := os.ReadFile(filepath.Join(stateDir, shim.PidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		log.FromContext(ctx).Warn("read shim pid file", log.Err(err))
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	// The pid may have been reused since the shim wrote it.
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "\x00shim\x00") {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
		log.FromContext(ctx).Info("killed leftover shim", "shim_pid", pid)
	}
}

// hasRuntimeState reports whether a container that is not running left
// runtime state behind: a bundle directory, a network namespace or a
// network endpoint.
func (e *Engine) hasRuntimeState(c *ctr.Container) bool {
	for _, path := range []string{e.bundleDir(c.ID), filepath.Join(e.netnsDir(), c.ID)} {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	_, attached := e.network.Endpoint(c.ID)
	return attached
}

// detachOrphanEndpoints removes network endpoints of containers that do not
// exist or do not run, which a crash between attaching the network and
// recording the start can leave.
func (e *Engine) detachOrphanEndpoints(ctx context.Context) {
	for _, ep := range e.network.Endpoints() {
		c, err := e.containers.Get(ep.ContainerID)
		if err == nil && e.isRunning(c) {
			continue
		}
		log.FromContext(ctx).Info("detaching network endpoint of a container that does not run",
			log.KeyContainer, ep.ContainerID)
		if err := e.network.Detach(ctx, ep.ContainerID); err != nil {
			log.FromContext(ctx).Warn("detach orphan endpoint", log.KeyContainer, ep.ContainerID, log.Err(err))
		}
	}
}
