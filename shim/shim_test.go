package shim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"

	"github.com/berth-engine/berth/internal/testutil"
	"github.com/berth-engine/berth/logs"
	"github.com/berth-engine/berth/runtime/runc"
	"github.com/berth-engine/berth/runtime/spec"
	"github.com/berth-engine/berth/shim"
)

// TestMain lets the test binary act as the shim: Launch runs it as
// `<test binary> shim ...`, the way the berth binary runs `berth shim`.
//
// With BERTH_TEST_LAUNCH set to JSON shim options, the test binary instead
// launches a shim and exits, like a daemon that stops after starting a
// container.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "shim" {
		if err := shim.Main(context.Background(), os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "shim:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if options := os.Getenv(launchEnv); options != "" {
		os.Exit(launchAndExit(options))
	}
	os.Exit(m.Run())
}

const launchEnv = "BERTH_TEST_LAUNCH"

// launchAndExit launches and starts the container described by options.
func launchAndExit(options string) int {
	var opts shim.Options
	if err := json.Unmarshal([]byte(options), &opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	client, err := shim.Launch(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := client.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// container is one test container: its bundle, options and client.
type container struct {
	opts   shim.Options
	spec   spec.Options
	client *shim.Client
}

// busyboxApplets are linked into the test rootfs.
var busyboxApplets = []string{"sh", "echo", "cat", "sleep", "true", "false", "tty", "stty"}

// newContainer prepares a bundle with a busybox rootfs for args. modify may
// change the spec and shim options before Launch.
func newContainer(t *testing.T, args []string, modify func(*spec.Options, *shim.Options)) *container {
	t.Helper()
	testutil.Requires(t, testutil.Root, testutil.Runc, testutil.Busybox)

	dir := t.TempDir()
	id := "bt-shim-" + randomSuffix(t)
	rootfs := filepath.Join(dir, "rootfs")
	assert.NilError(t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	busybox, err := os.ReadFile("/bin/busybox")
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), busybox, 0o755))
	for _, applet := range busyboxApplets {
		assert.NilError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)))
	}
	assert.NilError(t, os.WriteFile(filepath.Join(rootfs, "bin", "notexec"), []byte("#!/bin/sh\n"), 0o644))

	binary, err := os.Executable()
	assert.NilError(t, err)
	c := &container{
		spec: spec.Options{ID: id, Rootfs: rootfs, Args: args, NetNSPath: spec.NetNSNone, Hostname: "box"},
		opts: shim.Options{
			ID:         id,
			Bundle:     filepath.Join(dir, "bundle"),
			StateDir:   filepath.Join(dir, "bundle"),
			LogPath:    filepath.Join(dir, id+"-json.log"),
			RuncRoot:   filepath.Join(dir, "runc"),
			ShimBinary: binary,
		},
	}
	if modify != nil {
		modify(&c.spec, &c.opts)
	}
	c.spec.Terminal = c.opts.Terminal

	s, err := spec.Generate(c.spec)
	assert.NilError(t, err)
	config, err := json.Marshal(s)
	assert.NilError(t, err)
	assert.NilError(t, os.MkdirAll(c.opts.Bundle, 0o700))
	assert.NilError(t, os.WriteFile(filepath.Join(c.opts.Bundle, "config.json"), config, 0o600))

	t.Cleanup(func() { c.cleanup(t) })
	return c
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	assert.NilError(t, err)
	return hex.EncodeToString(b)
}

// launch starts the shim and fails the test on error.
func (c *container) launch(t *testing.T) *shim.Client {
	t.Helper()
	client, err := shim.Launch(context.Background(), c.opts)
	assert.NilError(t, err)
	c.client = client
	return client
}

// cleanup kills whatever still runs: the container through runc, then the
// shim by the pid in its pid file, and waits until the shim is gone so that
// the temporary directories can be removed.
func (c *container) cleanup(t *testing.T) {
	ctx := context.Background()
	r := runc.New(runc.Config{Root: c.opts.RuncRoot})
	if err := r.Delete(ctx, c.opts.ID, true); err != nil && !runc.IsNotFound(err) {
		t.Logf("force-delete container %s: %v", c.opts.ID, err)
	}

	data, err := os.ReadFile(filepath.Join(c.opts.StateDir, shim.PidFile))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		return
	}
	waitForExit(t, pid)
}

// shimPid returns the pid in the shim's pid file.
func shimPid(t *testing.T, stateDir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, shim.PidFile))
	assert.NilError(t, err)
	pid, err := strconv.Atoi(string(data))
	assert.NilError(t, err)
	return pid
}

// waitForExit waits until no process has pid.
func waitForExit(t *testing.T, pid int) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if syscall.Kill(pid, 0) != nil {
			return poll.Success()
		}
		return poll.Continue("process %d still running", pid)
	}, poll.WithTimeout(15*time.Second))
}

// readAttach reads an attach stream until it ends and returns stdout and
// stderr.
func readAttach(t *testing.T, conn net.Conn, framed bool) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if framed {
		_, err := stdcopy.StdCopy(&stdout, &stderr, conn)
		assert.NilError(t, err)
	} else {
		_, err := io.Copy(&stdout, conn)
		assert.NilError(t, err)
	}
	return stdout.String(), stderr.String()
}

// readLog returns the container's log entries as "stream: text" strings.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	var entries []string
	err := logs.Read(context.Background(), path, logs.ReadOptions{Tail: -1}, nil, func(m logs.Message) error {
		entries = append(entries, m.Stream+": "+string(m.Line))
		return nil
	})
	assert.NilError(t, err)
	return entries
}

// waitForLog waits until the log has at least n entries.
func waitForLog(t *testing.T, path string, n int) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if len(readLog(t, path)) >= n {
			return poll.Success()
		}
		return poll.Continue("waiting for %d log entries", n)
	})
}

func TestOutputInAttachAndLog(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "echo hello; echo oops >&2"}, nil)
	client := c.launch(t)
	ctx := context.Background()

	conn, err := client.Attach(ctx, false, true, true)
	assert.NilError(t, err)
	defer conn.Close()
	assert.NilError(t, client.Start(ctx))

	stdout, stderr := readAttach(t, conn, true)
	assert.Check(t, is.Equal(stdout, "hello\n"))
	assert.Check(t, is.Equal(stderr, "oops\n"))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 0))
	assert.Check(t, !status.ExitedAt.IsZero())

	entries := readLog(t, c.opts.LogPath)
	assert.Check(t, is.Len(entries, 2))
	assert.Check(t, is.Contains(entries, "stdout: hello\n"))
	assert.Check(t, is.Contains(entries, "stderr: oops\n"))
}

func TestOutputBeforeAttachOnlyInLog(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "echo early; read line; echo late $line"}, func(_ *spec.Options, o *shim.Options) {
		o.OpenStdin = true
	})
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	waitForLog(t, c.opts.LogPath, 1)

	conn, err := client.Attach(ctx, true, true, true)
	assert.NilError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("go\n"))
	assert.NilError(t, err)

	stdout, _ := readAttach(t, conn, true)
	assert.Check(t, is.Equal(stdout, "late go\n"))
	assert.Check(t, is.DeepEqual(readLog(t, c.opts.LogPath), []string{"stdout: early\n", "stdout: late go\n"}))
}

func TestExitCodeRecorded(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "exit 3"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 3))
	assert.Check(t, !status.OOMKilled)

	recorded, err := shim.ReadExit(c.opts.StateDir)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(recorded.ExitCode, 3))
}

func TestStdinOnce(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"cat"}, func(_ *spec.Options, o *shim.Options) {
		o.OpenStdin = true
		o.StdinOnce = true
	})
	client := c.launch(t)
	ctx := context.Background()

	conn, err := client.Attach(ctx, true, true, true)
	assert.NilError(t, err)
	defer conn.Close()
	assert.NilError(t, client.Start(ctx))

	_, err = conn.Write([]byte("ping\n"))
	assert.NilError(t, err)
	assert.NilError(t, conn.(*net.UnixConn).CloseWrite())

	stdout, _ := readAttach(t, conn, true)
	assert.Check(t, is.Equal(stdout, "ping\n"))
	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 0), "cat exits once stdin is closed")
}

func TestStdinClosedWithoutOpenStdin(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"cat"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 0), "cat reads /dev/null and exits")
}

func TestTerminal(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "tty; stty size"}, func(_ *spec.Options, o *shim.Options) {
		o.Terminal = true
	})
	client := c.launch(t)
	ctx := context.Background()

	conn, err := client.Attach(ctx, false, true, false)
	assert.NilError(t, err)
	defer conn.Close()
	assert.NilError(t, client.Resize(ctx, 30, 100))
	assert.NilError(t, client.Start(ctx))

	stdout, _ := readAttach(t, conn, false)
	assert.Check(t, is.Contains(stdout, "/dev/pts/"))
	assert.Check(t, is.Contains(stdout, "30 100"))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 0))
	entries := readLog(t, c.opts.LogPath)
	assert.Assert(t, len(entries) > 0)
	assert.Check(t, strings.HasPrefix(entries[0], "stdout: /dev/pts/"))
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		exitCode int
		message  string
	}{
		{name: "not in PATH", args: []string{"nonexistent"}, exitCode: 127, message: "executable file not found"},
		{name: "missing path", args: []string{"/no/such/file"}, exitCode: 127, message: "no such file or directory"},
		{name: "not executable", args: []string{"/bin/notexec"}, exitCode: 126, message: "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, tc.args, nil)

			_, err := shim.Launch(context.Background(), c.opts)
			assert.Assert(t, err != nil)
			var startErr *shim.StartError
			assert.Assert(t, errors.As(err, &startErr), "error %v is not a *shim.StartError", err)
			assert.Check(t, is.Contains(startErr.Message, tc.message))
			assert.Check(t, is.Equal(shim.ExitCodeForStartError(err), tc.exitCode))
			assert.Check(t, errdefs.IsInvalidArgument(err))

			_, err = os.Stat(filepath.Join(c.opts.StateDir, shim.SocketFile))
			assert.Check(t, os.IsNotExist(err), "a failed launch leaves no socket")
			assert.Check(t, is.Len(readLog(t, c.opts.LogPath), 0), "runc's error stays out of the container log")
		})
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "100"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))
	assert.Check(t, client.Pid() > 0)

	assert.NilError(t, client.Kill(ctx, syscall.SIGKILL))
	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 137))

	err = client.Kill(ctx, syscall.SIGKILL)
	assert.Check(t, err != nil, "kill after exit")
}

func TestKillBeforeStart(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "100"}, nil)
	client := c.launch(t)
	ctx := context.Background()

	assert.NilError(t, client.Kill(ctx, syscall.SIGKILL))
	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 137))
	assert.Check(t, errdefs.IsConflict(client.Start(ctx)))
}

func TestWaitManyAndAfterExit(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "exit 5"}, nil)
	client := c.launch(t)
	ctx := context.Background()

	results := make(chan shim.ExitStatus, 3)
	for range 3 {
		go func() {
			status, err := client.Wait(ctx)
			assert.Check(t, err)
			results <- status
		}()
	}
	assert.NilError(t, client.Start(ctx))
	for range 3 {
		assert.Check(t, is.Equal((<-results).ExitCode, 5))
	}

	// Again after the exit: from the lingering shim or from exit.json.
	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 5))

	c.cleanup(t)
	status, err = client.Wait(ctx)
	assert.NilError(t, err, "wait after the shim exited")
	assert.Check(t, is.Equal(status.ExitCode, 5))
	_, err = shim.Connect(ctx, c.opts.StateDir)
	assert.Check(t, errdefs.IsUnavailable(err), "connect after the shim exited: %v", err)
}

func TestWaitCancel(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "100"}, nil)
	client := c.launch(t)
	assert.NilError(t, client.Start(context.Background()))
	defer client.Kill(context.Background(), syscall.SIGKILL)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.Wait(ctx)
	assert.Check(t, is.ErrorIs(err, context.Canceled))
}

func TestConnectAgain(t *testing.T) {
	t.Parallel()
	// The kernel drops signals that PID 1 of a PID namespace has no handler
	// for, so the shell traps SIGTERM.
	c := newContainer(t, []string{"sh", "-c", `trap "exit 7" TERM; echo ready; sleep 100 & wait`}, nil)
	first := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, first.Start(ctx))
	waitForLog(t, c.opts.LogPath, 1)

	second, err := shim.Connect(ctx, c.opts.StateDir)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(second.Pid(), first.Pid()))

	assert.NilError(t, second.Kill(ctx, syscall.SIGTERM))
	status, err := first.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 7))
}

func TestConnectAfterLauncherExit(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "read line; echo got $line; exit 9"}, func(_ *spec.Options, o *shim.Options) {
		o.OpenStdin = true
		o.StdinOnce = true
	})
	options, err := json.Marshal(c.opts)
	assert.NilError(t, err)

	launcher := exec.Command(c.opts.ShimBinary)
	launcher.Env = append(os.Environ(), launchEnv+"="+string(options))
	output, err := launcher.CombinedOutput()
	assert.NilError(t, err, "launcher output: %s", output)

	ctx := context.Background()
	client, err := shim.Connect(ctx, c.opts.StateDir)
	assert.NilError(t, err)
	assert.Check(t, client.Pid() > 0)

	conn, err := client.Attach(ctx, true, true, false)
	assert.NilError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("hi\n"))
	assert.NilError(t, err)
	assert.NilError(t, conn.(*net.UnixConn).CloseWrite())
	stdout, _ := readAttach(t, conn, true)
	assert.Check(t, is.Equal(stdout, "got hi\n"))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 9))
}

func TestRelaunchInSameStateDir(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sh", "-c", "read line; exit 1"}, func(_ *spec.Options, o *shim.Options) {
		o.OpenStdin = true
		o.StdinOnce = true
	})
	ctx := context.Background()
	// runUntilInput starts the container and returns a function that ends
	// its input, which makes it exit.
	runUntilInput := func() (*shim.Client, func()) {
		client := c.launch(t)
		conn, err := client.Attach(ctx, true, false, false)
		assert.NilError(t, err)
		assert.NilError(t, client.Start(ctx))
		return client, func() {
			assert.Check(t, conn.(*net.UnixConn).CloseWrite())
			conn.Close()
		}
	}

	client, endInput := runUntilInput()
	firstShim := shimPid(t, c.opts.StateDir)
	endInput()
	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 1))

	// Restart while the first shim still lingers.
	client, endInput = runUntilInput()
	secondShim := shimPid(t, c.opts.StateDir)
	assert.Check(t, secondShim != firstShim)
	waitForExit(t, firstShim)

	_, err = shim.Connect(ctx, c.opts.StateDir)
	assert.NilError(t, err, "the first shim must leave the second shim's socket alone")
	assert.Check(t, is.Equal(shimPid(t, c.opts.StateDir), secondShim))
	endInput()
	status, err = client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 1))
}

func TestShimKilledContainerKeepsRunning(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "100"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	assert.NilError(t, syscall.Kill(shimPid(t, c.opts.StateDir), syscall.SIGKILL))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := shim.Connect(ctx, c.opts.StateDir); errdefs.IsUnavailable(err) {
			return poll.Success()
		}
		return poll.Continue("shim still answers")
	})

	assert.Check(t, syscall.Kill(client.Pid(), 0), "container process survives its shim")
	_, err := client.Wait(ctx)
	assert.Check(t, errdefs.IsUnavailable(err), "wait without shim or exit file: %v", err)
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	script := "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"
	c := newContainer(t, []string{"sh", "-c", script}, func(s *spec.Options, _ *shim.Options) {
		s.Memory = 16 << 20
		s.MemorySwap = 16 << 20
	})
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	status, err := client.Wait(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 137))
	assert.Check(t, status.OOMKilled)
}
