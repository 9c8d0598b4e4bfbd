package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// terminal runs the berth CLI on a new pseudo-terminal, as a user at a
// shell would: the pty is the CLI's controlling terminal, so resizing it
// sends the CLI SIGWINCH.
type terminal struct {
	t      *testing.T
	master console.Console
	cmd    *exec.Cmd

	mu     sync.Mutex
	output bytes.Buffer
	done   chan struct{}
}

func (d *daemon) runTerminal(args ...string) *terminal {
	d.t.Helper()
	return d.startTerminal(berthBinary, []string{"BERTH_HOST=unix://" + d.socket, "DOCKER_HOST="}, args...)
}

// startTerminal runs binary with args on a new pseudo-terminal, with env
// added to the test's environment.
func (d *daemon) startTerminal(binary string, env []string, args ...string) *terminal {
	d.t.Helper()
	master, slavePath, err := console.NewPty()
	assert.NilError(d.t, err)
	assert.NilError(d.t, master.Resize(console.WinSize{Height: 24, Width: 80}))
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	assert.NilError(d.t, err)
	defer slave.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append(os.Environ(), env...), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	assert.NilError(d.t, cmd.Start())

	term := &terminal{t: d.t, master: master, cmd: cmd, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.mu.Lock()
			term.output.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				close(term.done)
				return
			}
		}
	}()
	d.t.Cleanup(func() {
		cancel()
		cmd.Wait()
		master.Close()
	})
	return term
}

func (term *terminal) send(s string) {
	term.t.Helper()
	_, err := term.master.Write([]byte(s))
	assert.NilError(term.t, err)
}

// expect waits until the terminal has shown s.
func (term *terminal) expect(s string) {
	term.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		term.mu.Lock()
		out := term.output.String()
		term.mu.Unlock()
		if strings.Contains(out, s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("terminal never showed %q; it shows:\n%s", s, term.output.String())
}

// exitCode waits for the CLI to exit.
func (term *terminal) exitCode() int {
	term.t.Helper()
	err := term.cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	assert.NilError(term.t, err)
	return 0
}

func TestInteractiveTerminal(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	term := d.runTerminal("run", "-it", "--rm", "--name", "shell", "busybox", "sh")
	term.send("echo product=$((6*7))\r")
	term.expect("product=42")

	term.send("tty\r")
	term.expect("/dev/pts/0")

	term.send("stty size\r")
	term.expect("24 80")
	assert.NilError(t, term.master.Resize(console.WinSize{Height: 40, Width: 132}))
	waitFor(t, "the container's terminal to take the new size", 10*time.Second, func() bool {
		term.send("stty size\r")
		time.Sleep(100 * time.Millisecond)
		term.mu.Lock()
		defer term.mu.Unlock()
		return strings.Contains(term.output.String(), "40 132")
	})

	term.send("exit 3\r")
	assert.Check(t, is.Equal(term.exitCode(), 3))
}

func TestDetachKeysLeaveContainerRunning(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	term := d.runTerminal("run", "-it", "--name", "detached", "busybox", "sh")
	// The expected text differs from the typed text, so that the local
	// echo of the terminal cannot satisfy it before the shell runs.
	term.send("echo ready=$((1+1))\r")
	term.expect("ready=2")
	term.send("\x10\x11") // ctrl-p ctrl-q
	assert.Check(t, is.Equal(term.exitCode(), 0))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "detached")), "running"))

	again := d.runTerminal("attach", "detached")
	again.send("echo back=$((2+2))\r")
	again.expect("back=4")
	again.send("exit\r")
	assert.Check(t, is.Equal(again.exitCode(), 0))
	waitFor(t, "the container to exit", 10*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "detached")) == "exited"
	})
}

func TestTerminalStartsWithClientSize(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	// stty runs at once, before any resize request could arrive, so it
	// prints the size given at create.
	term := d.runTerminal("run", "-it", "--rm", "busybox", "stty", "size")
	term.expect("24 80")
	assert.Check(t, is.Equal(term.exitCode(), 0))
}
