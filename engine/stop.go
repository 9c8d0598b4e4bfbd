package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/shim"
)

// defaultStopTimeout is Docker's grace period between the stop signal and
// SIGKILL, in seconds.
const defaultStopTimeout = 10

// killWait bounds the wait for a container to exit after SIGKILL.
const killWait = 30 * time.Second

// shimLaunchTimeout bounds the wait for a new shim to report that it
// created the container.
const shimLaunchTimeout = time.Minute

// shimCallTimeout bounds a signal request to a shim, so that a request to a
// shim that no longer responds fails instead of hanging.
const shimCallTimeout = 10 * time.Second

// sendSignal requests that the container's shim send sig to the container's
// process.
func sendSignal(ctx context.Context, client *shim.Client, sig syscall.Signal) error {
	ctx, cancel := context.WithTimeout(ctx, shimCallTimeout)
	defer cancel()
	return client.Kill(ctx, sig)
}

// ContainerStop stops a running container: the stop signal, then SIGKILL
// once the timeout has passed. A negative timeout waits for ever.
func (e *Engine) ContainerStop(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	e.markStoppedByUser(c)
	if !e.isRunning(c) {
		return fmt.Errorf("container %s is already stopped: %w", c.ID, errdefs.ErrNotModified)
	}
	if err := e.stop(ctx, c, signal, timeout); err != nil {
		return err
	}
	e.publishContainer(c, events.ActionStop)
	return nil
}

func (e *Engine) stop(ctx context.Context, c *ctr.Container, signal string, timeout *int) error {
	c.Lock()
	if signal == "" {
		signal = c.Config.StopSignal
	}
	seconds := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		seconds = *c.Config.StopTimeout
	}
	c.Unlock()
	if timeout != nil {
		seconds = *timeout
	}

	sig := syscall.SIGTERM
	if signal != "" {
		s, err := ParseSignal(signal)
		if err != nil {
			return err
		}
		sig = s
	}

	exited := e.exitChannel(c.ID)
	client := e.shimOf(c.ID)
	if client == nil {
		return nil
	}
	if err := sendSignal(ctx, client, sig); err != nil {
		log.FromContext(ctx).Warn("send stop signal", log.KeyContainer, c.ID, "signal", sig, log.Err(err))
	}
	e.thawAfterSignal(ctx, c)

	var grace <-chan time.Time
	if seconds >= 0 {
		timer := time.NewTimer(time.Duration(seconds) * time.Second)
		defer timer.Stop()
		grace = timer.C
	}
	select {
	case <-exited:
		return nil
	case <-grace:
		log.FromContext(ctx).Info("container ignored the stop signal, killing it",
			log.KeyContainer, c.ID, "timeout_s", seconds)
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.kill(ctx, c, exited, unix.SIGKILL)
}

// kill sends SIGKILL and waits for the exit to be recorded.
func (e *Engine) kill(ctx context.Context, c *ctr.Container, exited <-chan struct{}, sig syscall.Signal) error {
	client := e.shimOf(c.ID)
	if client == nil {
		return nil
	}
	if err := sendSignal(ctx, client, sig); err != nil {
		return fmt.Errorf("kill container %s: %w", c.ID, err)
	}
	e.thawAfterSignal(ctx, c)
	select {
	case <-exited:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("container %s did not exit %s after SIGKILL: %w", c.ID, killWait, errdefs.ErrUnavailable)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ContainerKill sends a signal (default SIGKILL) to a running container.
func (e *Engine) ContainerKill(ctx context.Context, ref string, signal string) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	sig := unix.SIGKILL
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	c.Lock()
	restarting := c.State.Status == ctr.Restarting
	stopSignal := c.Config.StopSignal
	c.Unlock()
	if restarting {
		// Killing a container that waits for its policy restart cancels
		// the restart.
		e.markStoppedByUser(c)
		return nil
	}
	client := e.shimOf(c.ID)
	if client == nil || !e.isRunning(c) {
		return fmt.Errorf("Cannot kill container: %s: container %s is not running: %w", ref, c.ID, errdefs.ErrConflict)
	}
	// Only a signal meant to end the container turns its restart policy
	// off; a reload signal such as SIGHUP leaves it on, as in Docker.
	if sig == unix.SIGKILL || isStopSignal(sig, stopSignal) {
		e.markStoppedByUser(c)
	}
	exited := e.exitChannel(c.ID)
	if err := sendSignal(ctx, client, sig); err != nil {
		return fmt.Errorf("kill container %s: %w", c.ID, err)
	}
	e.thawAfterSignal(ctx, c)
	e.publishContainer(c, events.ActionKill)
	if sig == unix.SIGKILL {
		select {
		case <-exited:
		case <-time.After(killWait):
		case <-ctx.Done():
		}
	}
	return nil
}

// ContainerRestart stops the container if it runs, then starts it.
func (e *Engine) ContainerRestart(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	t := e.task(c.ID)
	t.op.Lock()
	if e.isRunning(c) {
		e.markStoppedByUser(c)
		if err := e.stop(ctx, c, signal, timeout); err != nil {
			t.op.Unlock()
			return err
		}
	}
	t.op.Unlock()

	if err := e.start(ctx, c); err != nil && err != errAlreadyStarted {
		return err
	}
	e.publishContainer(c, events.ActionRestart)
	return nil
}

// markStoppedByUser keeps the restart policy from restarting c after the
// exit that a user's stop or kill causes, and cancels a pending restart.
func (e *Engine) markStoppedByUser(c *ctr.Container) {
	c.Lock()
	defer c.Unlock()
	c.ManuallyStopped = true
	if c.State.Status == ctr.Restarting {
		if err := c.State.Move(ctr.Exited); err != nil {
			log.FromContext(e.ctx).Warn("cancel pending restart", log.KeyContainer, c.ID, log.Err(err))
		}
	}
	if err := e.containers.Save(c); err != nil {
		log.FromContext(e.ctx).Warn("save container state", log.KeyContainer, c.ID, log.Err(err))
	}
}

func (e *Engine) isRunning(c *ctr.Container) bool {
	c.Lock()
	defer c.Unlock()
	return c.State.IsRunning()
}

// ContainerRemove deletes a container. A running container is killed first
// when force is set, and refused otherwise.
func (e *Engine) ContainerRemove(ctx context.Context, ref string, force, removeVolumes bool) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	return e.removeContainer(ctx, c, force, removeVolumes)
}

// removeConflict returns the error for removing a container in status
// without force, in the words of Docker Engine 25 and later (daemon/delete.go), or nil when
// the status allows removal.
func removeConflict(name string, status ctr.Status) error {
	switch status {
	case ctr.Paused:
		return fmt.Errorf("cannot remove container \"/%s\": container is paused and must be unpaused first: %w",
			name, errdefs.ErrConflict)
	case ctr.Running, ctr.Restarting:
		return fmt.Errorf("cannot remove container \"/%s\": container is %s: "+
			"stop the container before removing or force remove: %w", name, status, errdefs.ErrConflict)
	}
	return nil
}

// remove deletes a container. The anonymous volumes of a --rm container go
// with it, as in Docker.
func (e *Engine) remove(ctx context.Context, c *ctr.Container, force bool) error {
	c.Lock()
	autoRemove := c.HostConfig.AutoRemove
	c.Unlock()
	return e.removeContainer(ctx, c, force, autoRemove)
}

// removeContainer deletes a container and, with removeVolumes, its
// anonymous volumes that no other container uses.
func (e *Engine) removeContainer(ctx context.Context, c *ctr.Container, force, removeVolumes bool) error {
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	// A concurrent remove may have finished while this one waited.
	if _, err := e.containers.Get(c.ID); err != nil {
		return err
	}
	c.Lock()
	status, name := c.State.Status, c.Name
	c.Unlock()
	if !force {
		if err := removeConflict(name, status); err != nil {
			return err
		}
	}
	e.markStoppedByUser(c)
	if e.isRunning(c) {
		if err := e.kill(ctx, c, e.exitChannel(c.ID), unix.SIGKILL); err != nil {
			return err
		}
	}

	c.Lock()
	c.State.Status = ctr.Removing
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.KeyContainer, c.ID, log.Err(err))
	}
	if e.hasRuntimeState(c) {
		e.destroyRuntime(ctx, c)
	}
	c.Unlock()

	if err := e.snapshots.Remove(ctx, c.SnapshotKey); err != nil {
		return fmt.Errorf("remove root filesystem of %s: %w", c.ID, err)
	}
	os.RemoveAll(e.bundleDir(c.ID))
	if err := e.containers.Delete(c); err != nil {
		return err
	}
	e.releaseVolumes(ctx, c, removeVolumes)
	if !c.Hidden {
		e.publishContainer(c, events.ActionDestroy)
	}
	e.signalRemoved(c.ID)
	if _, err := e.images.Get(ctx, c.Image.String()); err != nil {
		// The image was deleted with force while this container used it.
		e.pruneLayers(ctx)
	}
	log.FromContext(ctx).Debug("container removed", log.KeyContainer, c.ID)
	return nil
}

// Real-time signal numbers as Linux user space sees them: glibc keeps the
// first two for itself, so SIGRTMIN is 34.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal accepts a signal as a number, a name, or a name with the SIG
// prefix, in any case, including RTMIN+n and RTMAX-n.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > sigRTMax {
			return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := realtimeSignal(name); ok {
		return sig, nil
	}
	sig := unix.SignalNum("SIG" + name)
	if sig == 0 {
		return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// realtimeSignal parses RTMIN, RTMIN+n, RTMAX and RTMAX-n.
func realtimeSignal(name string) (syscall.Signal, bool) {
	base, offset, sign := 0, "", 1
	switch {
	case strings.HasPrefix(name, "RTMIN"):
		base, offset = sigRTMin, strings.TrimPrefix(name, "RTMIN")
	case strings.HasPrefix(name, "RTMAX"):
		base, offset, sign = sigRTMax, strings.TrimPrefix(name, "RTMAX"), -1
	default:
		return 0, false
	}
	n := 0
	if offset != "" {
		want := "+"
		if sign < 0 {
			want = "-"
		}
		if !strings.HasPrefix(offset, want) {
			return 0, false
		}
		v, err := strconv.Atoi(offset[1:])
		if err != nil || v < 0 {
			return 0, false
		}
		n = v
	}
	sig := base + sign*n
	if sig < sigRTMin || sig > sigRTMax {
		return 0, false
	}
	return syscall.Signal(sig), true
}

// isStopSignal reports whether sig is the container's stop signal, SIGTERM
// when it names none.
func isStopSignal(sig syscall.Signal, stopSignal string) bool {
	if stopSignal == "" {
		return sig == unix.SIGTERM
	}
	want, err := ParseSignal(stopSignal)
	return err == nil && sig == want
}

// stopForShutdown stops every running container in parallel with its stop
// signal and timeout. The stops do not count as user stops, so restart
// policies start the containers again when the daemon starts.
func (e *Engine) stopForShutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range e.containers.List() {
		if c.Hidden || !e.isRunning(c) {
			continue
		}
		wg.Go(func() {
			t := e.task(c.ID)
			t.op.Lock()
			defer t.op.Unlock()
			cctx := log.With(ctx, log.KeyContainer, c.ID)
			if err := e.stop(cctx, c, "", nil); err != nil {
				log.FromContext(cctx).Warn("stop container at shutdown", log.Err(err))
				return
			}
			log.FromContext(cctx).Info("stopped container at shutdown")
		})
	}
	wg.Wait()
}
