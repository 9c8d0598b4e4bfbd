package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
)

// Docker Engine's health check defaults and limits.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	// maxHealthLogEntries is how many probe results State.Health.Log keeps.
	maxHealthLogEntries = 5
	// maxProbeOutput is how many bytes of a probe's output are kept.
	maxProbeOutput = 4096
	// exitCodeProbeTimeout is the result of a probe that exceeded its
	// timeout, and exitCodeProbeError that of a probe that could not run.
	exitCodeProbeTimeout = -1
	exitCodeProbeError   = -1
)

// mergeHealthcheck fills what the request's health check leaves unset from
// the image's, as Docker does at create.
func mergeHealthcheck(req, img *container.HealthConfig) *container.HealthConfig {
	if img == nil {
		return req
	}
	merged := *img
	if req == nil {
		return &merged
	}
	merged = *req
	if len(merged.Test) == 0 {
		merged.Test = img.Test
	}
	if merged.Interval == 0 {
		merged.Interval = img.Interval
	}
	if merged.Timeout == 0 {
		merged.Timeout = img.Timeout
	}
	if merged.StartPeriod == 0 {
		merged.StartPeriod = img.StartPeriod
	}
	if merged.StartInterval == 0 {
		merged.StartInterval = img.StartInterval
	}
	if merged.Retries == 0 {
		merged.Retries = img.Retries
	}
	return &merged
}

// probeCommand returns the argv of a health check, or nil when there is no
// health check: no Test, or Test ["NONE"] (--no-healthcheck).
func probeCommand(hc *container.HealthConfig) []string {
	if hc == nil || len(hc.Test) < 2 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	}
	return nil
}

// probeSchedule is a health check with Docker's defaults filled in.
type probeSchedule struct {
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
}

func newProbeSchedule(hc *container.HealthConfig) probeSchedule {
	s := probeSchedule{
		interval:      hc.Interval,
		timeout:       hc.Timeout,
		startPeriod:   hc.StartPeriod,
		startInterval: hc.StartInterval,
		retries:       hc.Retries,
	}
	if s.interval <= 0 {
		s.interval = defaultProbeInterval
	}
	if s.timeout <= 0 {
		s.timeout = defaultProbeTimeout
	}
	if s.startInterval <= 0 {
		s.startInterval = defaultStartInterval
	}
	if s.retries <= 0 {
		s.retries = defaultProbeRetries
	}
	return s
}

// startHealthMonitor starts probing c if it has a health check. With reset,
// as at every start of the container, the status goes back to starting and
// the failing streak to zero. The log of earlier results is kept.
func (e *Engine) startHealthMonitor(c *ctr.Container, reset bool) {
	c.Lock()
	argv := probeCommand(c.Config.Healthcheck)
	if argv == nil || c.Hidden {
		c.Unlock()
		return
	}
	schedule := newProbeSchedule(c.Config.Healthcheck)
	if c.State.Health == nil {
		c.State.Health = &container.Health{Log: []*container.HealthcheckResult{}}
		reset = true
	}
	if reset {
		c.State.Health.Status = container.Starting
		c.State.Health.FailingStreak = 0
		if err := e.containers.Save(c); err != nil {
			log.FromContext(e.ctx).Warn("save container state", log.KeyContainer, c.ID, log.Err(err))
		}
	}
	startedAt := c.State.StartedAt
	c.Unlock()

	stop := make(chan struct{})
	t := e.task(c.ID)
	e.mu.Lock()
	if t.healthStop != nil {
		close(t.healthStop)
	}
	t.healthStop = stop
	e.mu.Unlock()
	go e.runHealthMonitor(c, argv, schedule, startedAt, stop)
}

// stopHealthMonitor ends the probes of container id, if any run.
func (e *Engine) stopHealthMonitor(id string) {
	t := e.task(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.healthStop != nil {
		close(t.healthStop)
		t.healthStop = nil
	}
}

// runHealthMonitor probes c on its schedule until stop closes. During the
// start period a starting container is probed every start interval.
func (e *Engine) runHealthMonitor(c *ctr.Container, argv []string, s probeSchedule, startedAt time.Time, stop <-chan struct{}) {
	ctx := log.With(e.ctx, log.KeyContainer, c.ID)
	for {
		wait := s.interval
		c.Lock()
		starting := c.State.Health != nil && c.State.Health.Status == container.Starting
		c.Unlock()
		inStartPeriod := time.Since(startedAt) < s.startPeriod
		if starting && inStartPeriod {
			wait = s.startInterval
		}
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}

		c.Lock()
		paused := c.State.Status == ctr.Paused
		running := c.State.Status == ctr.Running
		c.Unlock()
		if paused {
			continue
		}
		if !running {
			return
		}
		result, err := e.runProbe(ctx, c, argv, s.timeout, stop)
		if err != nil {
			select {
			case <-stop:
				return
			default:
			}
			log.FromContext(ctx).Warn("health check probe failed to run", log.Err(err))
			result = &container.HealthcheckResult{
				Start: time.Now().UTC(), End: time.Now().UTC(), ExitCode: exitCodeProbeError, Output: err.Error(),
			}
		}
		select {
		case <-stop:
			return // the container stopped while the probe ran
		default:
		}
		e.recordProbe(ctx, c, result, s, time.Since(startedAt) < s.startPeriod)
	}
}

// runProbe runs argv as an exec in c and returns its result. A probe that
// exceeds timeout is killed and gets exit code -1.
func (e *Engine) runProbe(ctx context.Context, c *ctr.Container, argv []string, timeout time.Duration, stop <-chan struct{}) (*container.HealthcheckResult, error) {
	client := e.shimOf(c.ID)
	if client == nil {
		return nil, fmt.Errorf("container %s is not running", c.ID)
	}
	ex := &execInstance{
		id:          newID(),
		containerID: c.ID,
		config:      container.ExecCreateRequest{Cmd: argv, AttachStdout: true, AttachStderr: true},
	}
	process, err := e.execProcess(ex, nil)
	if err != nil {
		return nil, err
	}

	start := time.Now().UTC()
	conn, pid, err := client.Exec(ctx, ex.id, *process, false, true, true)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	var output bytes.Buffer
	outputDone := make(chan struct{})
	go func() {
		defer close(outputDone)
		limited := &limitedBuffer{buf: &output, max: maxProbeOutput}
		stdcopy.StdCopy(limited, limited, conn)
	}()

	type exit struct {
		code int
		err  error
	}
	exited := make(chan exit, 1)
	go func() {
		status, err := client.ExecWait(ctx, ex.id)
		exited <- exit{status.ExitCode, err}
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case x := <-exited:
		if x.err != nil {
			return nil, x.err
		}
		// The exit can arrive before the last output, so the output gets
		// a moment to end. A process the probe left running keeps the
		// stream open, and closing the connection ends the copy.
		select {
		case <-outputDone:
		case <-time.After(time.Second):
			conn.Close()
			<-outputDone
		}
		return &container.HealthcheckResult{
			Start: start, End: time.Now().UTC(), ExitCode: x.code, Output: output.String(),
		}, nil
	case <-timer.C:
		// pid is the probe's process on the host, because the shim runs
		// runc exec in the daemon's PID namespace.
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		return &container.HealthcheckResult{
			Start:    start,
			End:      time.Now().UTC(),
			ExitCode: exitCodeProbeTimeout,
			Output:   fmt.Sprintf("Health check exceeded timeout (%s)", timeout),
		}, nil
	case <-stop:
		return nil, fmt.Errorf("container stopped")
	}
}

// recordProbe adds a probe result to c's health log and updates the status
// as Docker does: a success makes the container healthy, and retries
// consecutive failures make it unhealthy. Failures during the start period
// of a container that is still starting do not count.
func (e *Engine) recordProbe(ctx context.Context, c *ctr.Container, result *container.HealthcheckResult, s probeSchedule, inStartPeriod bool) {
	c.Lock()
	h := c.State.Health
	if h == nil {
		c.Unlock()
		return
	}
	before := h.Status
	h.Log = append(h.Log, result)
	if len(h.Log) > maxHealthLogEntries {
		h.Log = append([]*container.HealthcheckResult{}, h.Log[len(h.Log)-maxHealthLogEntries:]...)
	}
	switch {
	case result.ExitCode == 0:
		h.FailingStreak = 0
		h.Status = container.Healthy
	case inStartPeriod && h.Status == container.Starting:
	default:
		h.FailingStreak++
		if h.FailingStreak >= s.retries {
			h.Status = container.Unhealthy
		}
	}
	after := h.Status
	if err := e.containers.Save(c); err != nil {
		log.FromContext(ctx).Warn("save container state", log.Err(err))
	}
	c.Unlock()

	if after != before {
		log.FromContext(ctx).Info("container health status changed", "health", after)
		e.publishContainer(c, events.Action("health_status: "+string(after)))
	}
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so that a chatty probe cannot grow the container record.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// healthStatus is the value the health filter of a listing matches.
func healthStatus(c *ctr.Container) string {
	if c.State.Health == nil {
		return string(container.NoHealthcheck)
	}
	return string(c.State.Health.Status)
}
