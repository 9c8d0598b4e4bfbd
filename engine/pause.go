package engine

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/runc"
)

// runc returns a client for the runc root the shims create containers in.
func (e *Engine) runc() *runc.Runc {
	return runc.New(runc.Config{Binary: e.cfg.RuncBinary, Root: e.runcRoot()})
}

// ContainerPause freezes every process of a running container.
func (e *Engine) ContainerPause(ctx context.Context, ref string) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	c.Lock()
	defer c.Unlock()
	switch c.State.Status {
	case ctr.Paused:
		return fmt.Errorf("Container %s is already paused: %w", c.ID, errdefs.ErrConflict)
	case ctr.Restarting:
		return fmt.Errorf("Container %s is restarting, wait until the container is running: %w", c.ID, errdefs.ErrConflict)
	case ctr.Running:
	default:
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}
	if err := e.runc().Pause(ctx, c.ID); err != nil {
		return fmt.Errorf("pause container %s: %w", c.ID, err)
	}
	if err := c.State.Move(ctr.Paused); err != nil {
		return err
	}
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.KeyContainer, c.ID, log.Err(err))
	}
	e.publishContainer(c, events.ActionPause)
	return nil
}

// ContainerUnpause thaws a paused container.
func (e *Engine) ContainerUnpause(ctx context.Context, ref string) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	c.Lock()
	defer c.Unlock()
	if c.State.Status != ctr.Paused {
		return fmt.Errorf("Container %s is not paused: %w", c.ID, errdefs.ErrConflict)
	}
	return e.resume(ctx, c)
}

// resume thaws a paused container and records it as running again. The
// caller holds c's lock.
func (e *Engine) resume(ctx context.Context, c *ctr.Container) error {
	if err := e.runc().Resume(ctx, c.ID); err != nil {
		return fmt.Errorf("unpause container %s: %w", c.ID, err)
	}
	if err := c.State.Move(ctr.Running); err != nil {
		return err
	}
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.KeyContainer, c.ID, log.Err(err))
	}
	e.publishContainer(c, events.ActionUnPause)
	return nil
}

// thawAfterSignal resumes a paused container after a signal was sent to it,
// so that the frozen process receives the signal, as Docker does for stop
// and kill. A container that is not paused is left alone.
func (e *Engine) thawAfterSignal(ctx context.Context, c *ctr.Container) {
	c.Lock()
	defer c.Unlock()
	if c.State.Status != ctr.Paused {
		return
	}
	if err := e.resume(context.WithoutCancel(ctx), c); err != nil {
		log.FromContext(ctx).Warn("unpause container to deliver a signal", log.KeyContainer, c.ID, log.Err(err))
	}
}
