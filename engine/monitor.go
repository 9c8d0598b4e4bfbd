package engine

import (
	"context"
	"os"
	"time"

	"github.com/moby/moby/api/types/events"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/shim"
)

// exitCodeShimLost is recorded when neither the shim nor its exit file can
// tell how the container ended.
const exitCodeShimLost = 255

// monitor waits for the container's process to exit and records the exit.
// It runs for as long as the container does, on the daemon's context.
func (e *Engine) monitor(c *ctr.Container, client *shim.Client) {
	ctx := log.With(e.ctx, log.KeyContainer, c.ID)

	status, err := client.Wait(ctx)
	lost := false
	if err != nil {
		// The shim went away before it responded, so its exit file is
		// the record of what happened.
		st, readErr := shim.ReadExit(e.bundleDir(c.ID))
		if readErr != nil {
			log.FromContext(ctx).Error("shim exited without an exit status", log.Err(err))
			status = shim.ExitStatus{ExitCode: exitCodeShimLost, ExitedAt: time.Now().UTC(), Error: err.Error()}
			lost = true
		} else {
			status = *st
		}
	}
	client.Close()
	if lost {
		// Without its shim nothing supervises the container's processes,
		// so they are killed rather than left running unseen.
		c.Lock()
		e.destroyRuntime(ctx, c)
		c.Unlock()
	}
	e.handleExit(ctx, c, status)
}

// handleExit records an exit, releases what the running container held and
// applies --rm.
func (e *Engine) handleExit(ctx context.Context, c *ctr.Container, status shim.ExitStatus) {
	e.stopHealthMonitor(c.ID)
	c.Lock()
	if status.ExitedAt.IsZero() {
		status.ExitedAt = time.Now().UTC()
	}
	if err := c.State.SetExited(status.ExitCode, status.OOMKilled, status.ExitedAt, status.Error); err != nil {
		log.FromContext(ctx).Warn("record container exit", log.Err(err))
	}
	e.releaseRuntime(ctx, c)
	autoRemove := c.HostConfig.AutoRemove
	hidden := c.Hidden
	ranFor := status.ExitedAt.Sub(c.State.StartedAt)
	restart := !e.shuttingDown() && shouldRestart(c, status, c.ManuallyStopped)
	// A container its policy restarts goes straight to restarting, so that
	// no reader sees it exited in between.
	if restart {
		if err := c.State.Move(ctr.Restarting); err != nil {
			restart = false
		} else {
			c.RestartCount++
		}
	}
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.Err(err))
	}
	c.Unlock()

	log.FromContext(ctx).Info("container exited", "exit_code", status.ExitCode)
	if !hidden {
		e.publishContainer(c, events.ActionDie)
	}
	e.signalExit(c.ID)
	if restart {
		e.scheduleRestart(ctx, c, ranFor)
		return
	}

	if autoRemove {
		if err := e.remove(ctx, c, true); err != nil {
			log.FromContext(ctx).Error("remove container after exit", log.Err(err))
		}
	}
}

// releaseRuntime frees the network, mounts and bundle of a container whose
// process is gone. The caller holds c's lock.
func (e *Engine) releaseRuntime(ctx context.Context, c *ctr.Container) {
	e.disconnect(ctx, c)
	e.unmountVolumes(ctx, c)
	if err := e.snapshots.Unmount(ctx, c.SnapshotKey); err != nil {
		log.FromContext(ctx).Warn("unmount root filesystem", log.Err(err))
	}
	if err := os.RemoveAll(e.bundleDir(c.ID)); err != nil {
		log.FromContext(ctx).Warn("remove bundle", log.Err(err))
	}
}

// restore reconnects to the shims of containers that were running when the
// daemon stopped, and records the exit of those whose shim is gone.
func (e *Engine) restore(ctx context.Context) {
	for _, c := range e.containers.List() {
		c.Lock()
		running := c.State.IsRunning()
		c.Unlock()
		cctx := log.With(ctx, log.KeyContainer, c.ID)
		if c.Hidden {
			// A build step's container outlived the build that a crash ended.
			e.resumeRemoval(cctx, c)
			continue
		}
		if !running {
			if c.State.Status == ctr.Removing {
				e.resumeRemoval(cctx, c)
				continue
			}
			if e.hasRuntimeState(c) {
				// A crash during a start: the container never counted as
				// running, so whatever its start set up is removed.
				log.FromContext(cctx).Info("removing runtime state of a container that did not finish starting")
				c.Lock()
				e.destroyRuntime(cctx, c)
				c.Unlock()
			}
			continue
		}

		client, err := shim.Connect(cctx, e.bundleDir(c.ID))
		if err == nil {
			e.task(c.ID).shim = client
			go e.monitor(c, client)
			e.startHealthMonitor(c, false)
			log.FromContext(cctx).Info("reconnected to running container")
			continue
		}

		status := shim.ExitStatus{ExitCode: exitCodeShimLost, ExitedAt: time.Now().UTC()}
		if st, readErr := shim.ReadExit(e.bundleDir(c.ID)); readErr == nil {
			status = *st
		} else {
			status.Error = "container process was lost while the daemon was down"
			c.Lock()
			e.destroyRuntime(cctx, c)
			c.Unlock()
		}
		log.FromContext(cctx).Info("container exited while the daemon was down", "exit_code", status.ExitCode)
		e.handleExit(cctx, c, status)
	}
}

// restoreNetwork drops network endpoints that no running container owns.
// It runs after restore has settled every container's state.
func (e *Engine) restoreNetwork(ctx context.Context) {
	e.detachOrphanEndpoints(ctx)
}

// resumeRemoval finishes a removal that a crash interrupted.
func (e *Engine) resumeRemoval(ctx context.Context, c *ctr.Container) {
	if err := e.remove(ctx, c, true); err != nil {
		log.FromContext(ctx).Warn("finish interrupted container removal", log.Err(err))
	}
}
