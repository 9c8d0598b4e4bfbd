package engine

import (
	"sync"
	"time"

	"github.com/berth-engine/berth/shim"
)

// task is the engine's runtime bookkeeping for one container, kept from its
// first use until the container is removed. Fields other than op are guarded
// by Engine.mu.
type task struct {
	// op serialises start, stop and remove of the container.
	op sync.Mutex

	shim *shim.Client // nil while no process runs

	// exit is closed when the container's next exit has been recorded, and
	// then replaced by a fresh channel.
	exit    chan struct{}
	removed chan struct{}

	// attachers wait for the container to start; start connects them to the
	// shim before the process runs, so they see all of its output.
	attachers []*pendingAttach

	// restartDelay is the last back-off of the restart policy.
	restartDelay time.Duration

	// healthStop is closed to end the health check probes, nil while
	// none run.
	healthStop chan struct{}
}

// task returns the bookkeeping of container id, creating it on first use.
func (e *Engine) task(id string) *task {
	e.mu.Lock()
	defer e.mu.Unlock()

	t, ok := e.tasks[id]
	if !ok {
		t = &task{exit: make(chan struct{}), removed: make(chan struct{})}
		e.tasks[id] = t
	}
	return t
}

// exitChannel returns the channel that closes at the next exit of id.
func (e *Engine) exitChannel(id string) <-chan struct{} {
	t := e.task(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	return t.exit
}

// signalExit wakes everyone waiting for the exit of id.
func (e *Engine) signalExit(id string) {
	t := e.task(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	t.shim = nil
	close(t.exit)
	t.exit = make(chan struct{})
}

// signalRemoved wakes everyone waiting for the removal of id and deletes
// its bookkeeping.
func (e *Engine) signalRemoved(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tasks[id]; ok {
		close(t.removed)
		delete(e.tasks, id)
	}
}

func (e *Engine) shimOf(id string) *shim.Client {
	t := e.task(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	return t.shim
}
