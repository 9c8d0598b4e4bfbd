package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestExec(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	d.must("run", "-d", "--name", "box", "-e", "FROM_RUN=1", "busybox", "sleep", "300")

	r, err := d.run("exec", "-e", "EXTRA=yes", "-w", "/tmp", "box", "sh", "-c", "echo out $FROM_RUN $EXTRA; pwd; echo err >&2; id -u")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "out 1 yes\n/tmp\n0\n"))
	assert.Check(t, is.Equal(r.stderr, "err\n"))

	r, err = d.run("exec", "-u", "nobody", "box", "id", "-u")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.TrimSpace(r.stdout), "65534"), r.String())

	r, err = d.run("exec", "box", "sh", "-c", "exit 7")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 7), r.String())

	r, err = d.run("exec", "box", "no-such-command")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 127), r.String())

	// With -i, stdin reaches the process and its end closes the process's
	// stdin.
	r, err = d.runInput("hello\nworld\n", "exec", "-i", "box", "wc", "-l")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.TrimSpace(r.stdout), "2"), r.String())

	d.must("exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark")
	waitFor(t, "the detached exec to write its file", 10*time.Second, func() bool {
		r, err := d.run("exec", "box", "cat", "/tmp/mark")
		return err == nil && r.stdout == "detached\n"
	})

	d.must("stop", "-t", "0", "box")
	r, err = d.run("exec", "box", "true")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0)
	assert.Check(t, is.Contains(r.stderr, "is not running"), r.String())
}

func TestExecTerminal(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	d.must("run", "-d", "--name", "box", "busybox", "sleep", "300")

	term := d.runTerminal("exec", "-it", "box", "sh")
	term.send("echo product=$((6*7))\r")
	term.expect("product=42")
	term.send("stty size\r")
	term.expect("24 80")
	assert.NilError(t, term.master.Resize(console.WinSize{Height: 40, Width: 132}))
	waitFor(t, "the exec's terminal to take the new size", 10*time.Second, func() bool {
		term.send("stty size\r")
		time.Sleep(100 * time.Millisecond)
		term.mu.Lock()
		defer term.mu.Unlock()
		return strings.Contains(term.output.String(), "40 132")
	})
	term.send("exit 3\r")
	assert.Check(t, is.Equal(term.exitCode(), 3))
}
