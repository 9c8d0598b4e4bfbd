package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/detachkeys"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/spec"
	"github.com/berth-engine/berth/shim"
)

// execInstance is one exec created with ContainerExecCreate.
type execInstance struct {
	id          string
	containerID string
	config      container.ExecCreateRequest
	keys        []byte

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int
	exitCode *int
	client   *shim.Client
	done     chan struct{} // closed once the exit is recorded
}

// ContainerExecCreate registers an exec instance in a running container.
func (e *Engine) ContainerExecCreate(ctx context.Context, ref string, config container.ExecCreateRequest) (string, error) {
	c, err := e.get(ref)
	if err != nil {
		return "", err
	}
	if len(config.Cmd) == 0 {
		return "", fmt.Errorf("No exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	keys, err := detachkeys.Parse(config.DetachKeys)
	if err != nil {
		return "", err
	}
	c.Lock()
	status := c.State.Status
	c.Unlock()
	switch status {
	case ctr.Running:
	case ctr.Paused:
		return "", fmt.Errorf("Container %s is paused, unpause the container before exec: %w", c.ID, errdefs.ErrConflict)
	default:
		return "", fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}

	ex := &execInstance{id: newID(), containerID: c.ID, config: config, keys: keys, done: make(chan struct{})}
	exited := e.exitChannel(c.ID)
	e.execs.Store(ex.id, ex)
	log.FromContext(ctx).Debug("exec created", log.KeyContainer, c.ID, "exec", ex.id)

	// Like Docker, forget the exec when its container exits.
	go func() {
		select {
		case <-exited:
		case <-e.ctx.Done():
		}
		e.execs.Delete(ex.id)
	}()
	return ex.id, nil
}

func (e *Engine) execInstance(id string) (*execInstance, error) {
	v, ok := e.execs.Load(id)
	if !ok {
		return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	return v.(*execInstance), nil
}

// ContainerExecStart runs the exec's process. Detached, it returns once the
// process started. Otherwise it streams until the output ends and the exit
// is recorded, or until the client detaches or goes away.
func (e *Engine) ContainerExecStart(ctx context.Context, id string, opts server.ExecStartOptions) error {
	ex, err := e.execInstance(id)
	if err != nil {
		return err
	}
	ex.mu.Lock()
	if ex.started {
		ex.mu.Unlock()
		return fmt.Errorf("exec %s has already been started: %w", id, errdefs.ErrConflict)
	}
	ex.started = true
	ex.mu.Unlock()

	logger := log.FromContext(ctx).With(log.KeyContainer, ex.containerID, "exec", id)
	client := e.shimOf(ex.containerID)
	if client == nil {
		ex.finish(nil)
		return fmt.Errorf("container %s is not running: %w", ex.containerID, errdefs.ErrConflict)
	}
	process, err := e.execProcess(ex, opts.ConsoleSize)
	if err != nil {
		logger.Error("build exec process", log.Err(err))
		ex.finish(nil)
		return err
	}

	cfg := ex.config
	attach := !opts.Detach
	useStdin := attach && cfg.AttachStdin && opts.Stdin != nil
	conn, pid, err := client.Exec(context.WithoutCancel(ctx), id, *process, useStdin, attach && cfg.AttachStdout, attach && cfg.AttachStderr)
	if err != nil {
		var startErr *shim.StartError
		if errors.As(err, &startErr) {
			code := startErr.ExitCode()
			logger.Info("exec process failed to start", "exit_code", code, log.Err(err))
			ex.finish(&code)
			return fmt.Errorf("OCI runtime exec failed: %s: %w", startErr.Message, errdefs.ErrUnknown)
		}
		logger.Error("start exec process", log.Err(err))
		ex.finish(nil)
		return err
	}
	ex.mu.Lock()
	ex.running = true
	ex.pid = pid
	ex.client = client
	ex.mu.Unlock()
	go e.waitExec(ex, client)

	if opts.Detach {
		conn.Close()
		return nil
	}
	defer conn.Close()
	err = pump(ctx, conn, server.AttachOptions{
		Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
		UseStdin: useStdin, UseStdout: cfg.AttachStdout, UseStderr: cfg.AttachStderr,
	}, cfg.Tty, ex.keys)
	if err != nil {
		return err
	}
	// The client reads the exit code right after the stream ends.
	select {
	case <-ex.done:
	case <-ctx.Done():
	}
	return nil
}

// waitExec records the exit of a started exec process.
func (e *Engine) waitExec(ex *execInstance, client *shim.Client) {
	status, err := client.ExecWait(e.ctx, ex.id)
	if err != nil {
		log.FromContext(e.ctx).Warn("wait for exec process failed", log.KeyContainer, ex.containerID, "exec", ex.id, log.Err(err))
		ex.finish(nil)
		return
	}
	code := status.ExitCode
	ex.finish(&code)
}

// finish records the end of the exec, with an exit code when one is known.
func (ex *execInstance) finish(code *int) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	select {
	case <-ex.done:
		return
	default:
	}
	ex.running = false
	ex.exitCode = code
	close(ex.done)
}

// execProcess builds the exec's process from the container's process in
// config.json. It keeps the capabilities, rlimits and security settings and
// sets the exec's command, environment, working directory, user and terminal.
func (e *Engine) execProcess(ex *execInstance, consoleSize *[2]uint) (*specs.Process, error) {
	bundle := e.bundleDir(ex.containerID)
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read container spec: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode container spec: %w", err)
	}
	if s.Process == nil {
		return nil, fmt.Errorf("invalid container spec: missing process")
	}

	p := *s.Process
	cfg := ex.config
	p.Args = cfg.Cmd
	p.Env = mergeEnv(p.Env, cfg.Env)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}

	if cfg.User != "" {
		rootfs := ""
		if s.Root != nil {
			rootfs = s.Root.Path
			if !filepath.IsAbs(rootfs) {
				rootfs = filepath.Join(bundle, rootfs)
			}
		}
		user, err := spec.ResolveUser(rootfs, cfg.User)
		if err != nil {
			return nil, err
		}
		p.User = user
	}

	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	if cfg.Tty {
		if !hasEnv(p.Env, "TERM") {
			p.Env = append(p.Env, "TERM=xterm")
		}
		size := consoleSize
		if size == nil {
			size = cfg.ConsoleSize
		}
		if size != nil && size[0] > 0 && size[1] > 0 {
			p.ConsoleSize = &specs.Box{Height: size[0], Width: size[1]}
		}
	}
	return &p, nil
}

func hasEnv(env []string, key string) bool {
	for _, entry := range env {
		if k, _, _ := strings.Cut(entry, "="); k == key {
			return true
		}
	}
	return false
}

// ContainerExecInspect describes an exec instance as Docker does.
func (e *Engine) ContainerExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	ex, err := e.execInstance(id)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	cfg := ex.config
	privileged := cfg.Privileged
	resp := container.ExecInspectResponse{
		ID:      ex.id,
		Running: ex.running,
		ProcessConfig: &container.ExecProcessConfig{
			Tty:        cfg.Tty,
			Entrypoint: cfg.Cmd[0],
			Arguments:  append([]string{}, cfg.Cmd[1:]...),
			Privileged: &privileged,
			User:       cfg.User,
		},
		OpenStdin:   cfg.AttachStdin,
		OpenStdout:  cfg.AttachStdout,
		OpenStderr:  cfg.AttachStderr,
		ContainerID: ex.containerID,
		DetachKeys:  ex.keys,
		Pid:         ex.pid,
	}
	if ex.exitCode != nil {
		code := *ex.exitCode
		resp.ExitCode = &code
	}
	return resp, nil
}

// ContainerExecResize changes the size of the exec's terminal.
func (e *Engine) ContainerExecResize(ctx context.Context, id string, height, width uint) error {
	ex, err := e.execInstance(id)
	if err != nil {
		return err
	}
	ex.mu.Lock()
	client, running := ex.client, ex.running
	ex.mu.Unlock()
	if !running || client == nil {
		return fmt.Errorf("exec %s is not running: %w", id, errdefs.ErrConflict)
	}
	return client.ExecResize(ctx, id, uint16(height), uint16(width))
}
