package engine

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/shim"
)

// Docker's restart back-off: the delay starts at 100 ms and doubles with
// each restart up to one minute, and starts over once a container has run
// for at least ten seconds.
const (
	restartDelayMin   = 100 * time.Millisecond
	restartDelayMax   = time.Minute
	restartResetAfter = 10 * time.Second
)

// shouldRestart reports whether the restart policy of c requires a restart
// after an exit with status. The caller holds c's lock.
func shouldRestart(c *ctr.Container, status shim.ExitStatus, stoppedByUser bool) bool {
	policy := c.HostConfig.RestartPolicy
	switch policy.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		return !stoppedByUser
	case container.RestartPolicyOnFailure:
		if stoppedByUser || status.ExitCode == 0 {
			return false
		}
		return policy.MaximumRetryCount == 0 || c.RestartCount < policy.MaximumRetryCount
	}
	return false
}

// nextRestartDelay returns the back-off before the next restart and
// remembers it in t. The caller holds Engine.mu.
func nextRestartDelay(t *task, ranFor time.Duration) time.Duration {
	switch {
	case ranFor >= restartResetAfter || t.restartDelay == 0:
		t.restartDelay = restartDelayMin
	default:
		t.restartDelay = min(2*t.restartDelay, restartDelayMax)
	}
	return t.restartDelay
}

// scheduleRestart starts c, which handleExit moved to restarting, again
// after the back-off, unless it is stopped or removed meanwhile.
func (e *Engine) scheduleRestart(ctx context.Context, c *ctr.Container, ranFor time.Duration) {
	t := e.task(c.ID)
	e.mu.Lock()
	delay := nextRestartDelay(t, ranFor)
	e.mu.Unlock()
	log.FromContext(ctx).Info("restarting container by its restart policy", "delay", delay)

	go func() {
		time.Sleep(delay)
		if _, err := e.containers.Get(c.ID); err != nil {
			return // removed meanwhile
		}
		c.Lock()
		restarting := c.State.Status == ctr.Restarting
		c.Unlock()
		if !restarting {
			return // stopped meanwhile
		}
		if err := e.start(e.ctx, c); err != nil && err != errAlreadyStarted {
			log.FromContext(ctx).Error("restart container", log.Err(err))
		}
	}()
}

// restartByPolicy starts, when the daemon starts, the containers whose
// restart policy requires it: those a restart was pending for, those with
// always, and those with unless-stopped that no user stopped.
func (e *Engine) restartByPolicy(ctx context.Context) {
	for _, c := range e.containers.List() {
		c.Lock()
		policy := c.HostConfig.RestartPolicy.Name
		status := c.State.Status
		due := status == ctr.Restarting ||
			status == ctr.Exited && (policy == container.RestartPolicyAlways ||
				policy == container.RestartPolicyUnlessStopped && !c.ManuallyStopped)
		c.Unlock()
		if !due || c.Hidden {
			continue
		}
		go func() {
			cctx := log.With(e.ctx, log.KeyContainer, c.ID)
			if err := e.start(cctx, c); err != nil && err != errAlreadyStarted {
				log.FromContext(cctx).Error("start container by its restart policy", log.Err(err))
				return
			}
			log.FromContext(cctx).Info("started container by its restart policy")
		}()
	}
}
