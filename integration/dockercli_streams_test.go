package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// streamsCLI is Docker's own CLI (client only) pointed at a berth daemon,
// reporting failures to the test or subtest t.
type streamsCLI struct {
	t *testing.T
	d *daemon
}

func newStreamsCLI(t *testing.T, d *daemon) streamsCLI {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed; the docker compatibility checks need it as a client")
	}
	return streamsCLI{t: t, d: d}
}

// sub returns the same CLI reporting to the subtest t.
func (c streamsCLI) sub(t *testing.T) streamsCLI {
	return streamsCLI{t: t, d: c.d}
}

func (c streamsCLI) args(args []string) []string {
	return append([]string{"-H", "unix://" + c.d.socket}, args...)
}

// runInput runs docker with stdin and returns its output and exit code.
func (c streamsCLI) runInput(stdin io.Reader, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", c.args(args)...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=")
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		r.code = exitErr.ExitCode()
		err = nil
	}
	assert.NilError(c.t, err, "docker %s", strings.Join(args, " "))
	return r
}

func (c streamsCLI) run(args ...string) result {
	c.t.Helper()
	return c.runInput(nil, args...)
}

// must runs docker and fails the test unless it exits 0.
func (c streamsCLI) must(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	assert.Equal(c.t, r.code, 0, "docker %s\n%s", strings.Join(args, " "), r)
	return r.stdout
}

// shell runs a shell pipeline in which "$DOCKER" is the docker CLI pointed
// at the daemon.
func (c streamsCLI) shell(script string) result {
	c.t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "DOCKER=docker -H unix://"+c.d.socket, "DOCKER_HOST=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		r.code = exitErr.ExitCode()
		err = nil
	}
	assert.NilError(c.t, err, script)
	return r
}

// terminal runs docker on a new pseudo-terminal of 24x80.
func (c streamsCLI) terminal(args ...string) *terminal {
	c.t.Helper()
	d := *c.d
	d.t = c.t
	return d.startTerminal("docker", []string{"DOCKER_HOST="}, c.args(args)...)
}

func (c streamsCLI) status(name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.must("inspect", "-f", "{{.State.Status}}", name))
}

// shows reports whether the terminal has shown s so far.
func (term *terminal) shows(s string) bool {
	term.mu.Lock()
	defer term.mu.Unlock()
	return strings.Contains(term.output.String(), s)
}

// TestDockerCLIStreams drives the streaming commands of the docker CLI:
// run/start/attach on terminals, exec, cp and logs. The subtests share one
// daemon and each uses its own containers.
func TestDockerCLIStreams(t *testing.T) {
	d := newDaemon(t)
	cli := newStreamsCLI(t, d)
	d.importBusybox()

	t.Run("run terminal", func(t *testing.T) { testDockerRunTerminal(cli.sub(t)) })
	t.Run("detach and attach", func(t *testing.T) { testDockerDetachAttach(cli.sub(t)) })
	t.Run("custom detach keys", func(t *testing.T) { testDockerCustomDetachKeys(cli.sub(t)) })
	t.Run("start attached interactive", func(t *testing.T) { testDockerStartInteractive(cli.sub(t)) })
	t.Run("exec options", func(t *testing.T) { testDockerExecOptions(cli.sub(t)) })
	t.Run("exec terminal", func(t *testing.T) { testDockerExecTerminal(cli.sub(t)) })
	t.Run("exec errors", func(t *testing.T) { testDockerExecErrors(cli.sub(t)) })
	t.Run("cp into container", func(t *testing.T) { testDockerCpIn(cli.sub(t)) })
	t.Run("cp out of container", func(t *testing.T) { testDockerCpOut(cli.sub(t)) })
	t.Run("cp tar streams", func(t *testing.T) { testDockerCpTarStreams(cli.sub(t)) })
	t.Run("cp ownership", func(t *testing.T) { testDockerCpOwnership(cli.sub(t)) })
	t.Run("cp symlink escapes", func(t *testing.T) { testDockerCpEscapes(cli.sub(t)) })
	t.Run("logs", func(t *testing.T) { testDockerLogs(cli.sub(t)) })
}

func testDockerRunTerminal(c streamsCLI) {
	t := c.t
	term := c.terminal("run", "-it", "--name", "tty-run", "busybox", "sh")
	// The expected text differs from the typed text, so the echo of the
	// typed line cannot satisfy it before the shell runs.
	term.send("echo product=$((6*7))\r")
	term.expect("product=42")

	// The CLI put its terminal in raw mode, so the echo of the typed line
	// came from the container's terminal.
	attrs, err := unix.IoctlGetTermios(int(term.master.Fd()), unix.TCGETS)
	assert.NilError(t, err)
	assert.Check(t, attrs.Lflag&unix.ECHO == 0, "local echo is on: the CLI did not make its terminal raw")
	assert.Check(t, attrs.Lflag&unix.ICANON == 0, "canonical mode is on: the CLI did not make its terminal raw")
	assert.Check(t, attrs.Lflag&unix.ISIG == 0, "signal keys are on: the CLI did not make its terminal raw")
	term.expect("echo product=$((6*7))")

	term.send("stty size\r")
	term.expect("24 80")
	assert.NilError(t, term.master.Resize(console.WinSize{Height: 40, Width: 132}))
	waitFor(t, "the container's terminal to take the new size", 10*time.Second, func() bool {
		term.send("stty size\r")
		time.Sleep(100 * time.Millisecond)
		return term.shows("40 132")
	})

	// Ctrl-C goes to the container's terminal, which interrupts the
	// foreground sleep, so the shell and the CLI carry on.
	term.send("sleep 300\r")
	waitFor(t, "sleep to run in the container", 10*time.Second, func() bool {
		r := c.run("exec", "tty-run", "pidof", "sleep")
		return r.code == 0
	})
	term.send("\x03")
	waitFor(t, "Ctrl-C to end sleep", 10*time.Second, func() bool {
		return c.run("exec", "tty-run", "pidof", "sleep").code != 0
	})
	term.send("echo alive=$((3+4))\r")
	term.expect("alive=7")
	assert.Check(t, is.Equal(c.status("tty-run"), "running"))

	term.send("exit 7\r")
	assert.Check(t, is.Equal(term.exitCode(), 7))
	assert.Check(t, is.Equal(c.status("tty-run"), "exited"))
	assert.Check(t, is.Equal(strings.TrimSpace(c.must("inspect", "-f", "{{.State.ExitCode}}", "tty-run")), "7"))
}

func testDockerDetachAttach(c streamsCLI) {
	t := c.t
	term := c.terminal("run", "-it", "--name", "tty-detach", "busybox", "sh")
	term.send("echo ready=$((1+1))\r")
	term.expect("ready=2")
	term.send("\x10\x11") // Ctrl-P Ctrl-Q
	assert.Check(t, is.Equal(term.exitCode(), 0))
	assert.Check(t, is.Equal(c.status("tty-detach"), "running"))
	ps := c.must("ps", "--filter", "name=tty-detach", "--format", "{{.Names}} {{.Status}}")
	assert.Check(t, strings.HasPrefix(ps, "tty-detach Up "), "docker ps: %q", ps)

	again := c.terminal("attach", "tty-detach")
	again.send("echo back=$((2+2))\r")
	again.expect("back=4")
	again.send("exit 5\r")
	assert.Check(t, is.Equal(again.exitCode(), 5))
	waitFor(t, "the container to exit", 10*time.Second, func() bool {
		return c.status("tty-detach") == "exited"
	})
}

func testDockerCustomDetachKeys(c streamsCLI) {
	t := c.t
	term := c.terminal("run", "-it", "--detach-keys", "ctrl-x,x", "--name", "tty-keys", "busybox", "sh")
	term.send("echo ready=$((1+2))\r")
	term.expect("ready=3")
	term.send("\x18x") // Ctrl-X x
	assert.Check(t, is.Equal(term.exitCode(), 0))
	assert.Check(t, is.Equal(c.status("tty-keys"), "running"))

	// Detach keys given to attach apply to that attach only. docker
	// attach reports a detach as an error, unlike docker run.
	again := c.terminal("attach", "--detach-keys", "ctrl-a", "tty-keys")
	again.send("echo back=$((2+3))\r")
	again.expect("back=5")
	again.send("\x01") // Ctrl-A
	again.expect("read escape sequence")
	assert.Check(t, is.Equal(again.exitCode(), 1))
	assert.Check(t, is.Equal(c.status("tty-keys"), "running"))
	c.must("rm", "-f", "tty-keys")
}

func testDockerStartInteractive(c streamsCLI) {
	t := c.t
	c.must("create", "-it", "--name", "tty-create", "busybox", "sh")
	term := c.terminal("start", "-ai", "tty-create")
	term.send("echo started=$((4+4))\r")
	term.expect("started=8")
	term.send("tty\r")
	term.expect("/dev/pts/0")
	term.send("exit 4\r")
	assert.Check(t, is.Equal(term.exitCode(), 4))

	// Without a terminal: the end of the CLI's stdin ends cat's stdin.
	c.must("create", "-i", "--name", "stdin-cat", "busybox", "cat")
	r := c.runInput(strings.NewReader("line one\nline two\n"), "start", "-ai", "stdin-cat")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "line one\nline two\n"))
	assert.Check(t, is.Equal(c.status("stdin-cat"), "exited"))

	c.must("create", "-i", "--name", "stdin-exit", "busybox", "sh", "-c", "read line; echo got $line; exit 3")
	r = c.runInput(strings.NewReader("value\n"), "start", "-ai", "stdin-exit")
	assert.Check(t, is.Equal(r.code, 3), r.String())
	assert.Check(t, is.Equal(r.stdout, "got value\n"))

	// run -i without a terminal works the same way.
	r = c.runInput(strings.NewReader("a\nb\nc\n"), "run", "--rm", "-i", "busybox", "wc", "-l")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(strings.TrimSpace(r.stdout), "3"))
}

func testDockerExecOptions(c streamsCLI) {
	t := c.t
	c.must("run", "-d", "--name", "exec-box", "-e", "FROM_RUN=1", "busybox", "sleep", "300")

	r := c.run("exec", "-e", "EXTRA=yes", "-e", "FROM_RUN=2", "-w", "/tmp", "exec-box",
		"sh", "-c", "echo $FROM_RUN $EXTRA; pwd; echo err >&2")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "2 yes\n/tmp\n"))
	assert.Check(t, is.Equal(r.stderr, "err\n"))

	users := []struct {
		user, id string
	}{
		{"1000", "uid=1000 gid=0(root)"},
		{"1000:1000", "uid=1000 gid=1000"},
		{"nobody", "uid=65534(nobody) gid=65534(nogroup)"},
		{"daemon:bin", "uid=1(daemon) gid=2(bin)"},
		{"0:65534", "uid=0(root) gid=65534(nogroup)"},
	}
	for _, u := range users {
		out := c.must("exec", "-u", u.user, "exec-box", "id")
		assert.Check(t, strings.HasPrefix(out, u.id), "docker exec -u %s: id printed %q, expected %q", u.user, out, u.id)
	}

	for _, code := range []int{0, 1, 7, 255} {
		r := c.run("exec", "exec-box", "sh", "-c", fmt.Sprintf("exit %d", code))
		assert.Check(t, is.Equal(r.code, code), r.String())
	}

	c.must("exec", "-d", "exec-box", "sh", "-c", "sleep 1; echo detached > /tmp/mark")
	waitFor(t, "the detached exec to write its file", 10*time.Second, func() bool {
		return c.run("exec", "exec-box", "cat", "/tmp/mark").stdout == "detached\n"
	})

	r = c.runInput(strings.NewReader("x\ny\n"), "exec", "-i", "exec-box", "wc", "-l")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(strings.TrimSpace(r.stdout), "2"))
}

func testDockerExecTerminal(c streamsCLI) {
	t := c.t
	c.must("run", "-d", "--name", "exec-tty", "busybox", "sleep", "300")

	term := c.terminal("exec", "-it", "-e", "SHOWN=yes", "-w", "/etc", "exec-tty", "sh")
	term.send("echo product=$((6*7)) $SHOWN\r")
	term.expect("product=42 yes")
	term.send("pwd; tty\r")
	term.expect("/etc\r\n/dev/pts/")
	term.send("stty size\r")
	term.expect("24 80")
	assert.NilError(t, term.master.Resize(console.WinSize{Height: 40, Width: 132}))
	waitFor(t, "the exec's terminal to take the new size", 10*time.Second, func() bool {
		term.send("stty size\r")
		time.Sleep(100 * time.Millisecond)
		return term.shows("40 132")
	})
	term.send("exit 6\r")
	assert.Check(t, is.Equal(term.exitCode(), 6))
	assert.Check(t, is.Equal(c.status("exec-tty"), "running"))
}

func testDockerExecErrors(c streamsCLI) {
	t := c.t
	c.must("create", "--name", "exec-stopped", "busybox", "sleep", "300")
	id := strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", "exec-stopped"))

	r := c.run("exec", "exec-stopped", "true")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Equal(r.stderr, "Error response from daemon: container "+id+" is not running\n"))

	c.must("start", "exec-stopped")
	c.must("stop", "-t", "0", "exec-stopped")
	r = c.runInput(strings.NewReader("echo\n"), "exec", "-i", "exec-stopped", "sh")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Equal(r.stderr, "Error response from daemon: container "+id+" is not running\n"))

	r = c.run("exec", "no-such-box", "true")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Equal(r.stderr, "Error response from daemon: No such container: no-such-box\n"))
}

func testDockerCpIn(c streamsCLI) {
	t := c.t
	src, _ := hostTree(t)
	c.must("run", "-d", "--name", "cp-in", "busybox", "sleep", "300")
	c.must("exec", "cp-in", "mkdir", "/existing", "/contents")

	// A directory into an existing directory keeps its name.
	c.must("cp", src, "cp-in:/existing")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/existing/src/a", "/existing/src/sub/b"), "alpha\nbeta\n"))
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "stat", "-c", "%a %u:%g", "/existing/src/a", "/existing/src/sub"), "640 0:0\n750 0:0\n"))

	// A directory to a path that does not exist becomes that path, with or
	// without a trailing slash.
	c.must("cp", src, "cp-in:/renamed")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/renamed/a", "/renamed/sub/b"), "alpha\nbeta\n"))
	c.must("cp", src, "cp-in:/renamed-slash/")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/renamed-slash/a"), "alpha\n"))

	// SRC/. copies the contents into an existing directory.
	c.must("cp", src+"/.", "cp-in:/contents")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "ls", "/contents"), "a\nsub\n"))

	// A file to a new name, into an existing directory, and over a file.
	c.must("cp", filepath.Join(src, "a"), "cp-in:/existing/file")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/existing/file"), "alpha\n"))
	c.must("cp", filepath.Join(src, "a"), "cp-in:/contents/sub/")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/contents/sub/a"), "alpha\n"))
	c.must("cp", filepath.Join(src, "sub", "b"), "cp-in:/existing/file")
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "cat", "/existing/file"), "beta\n"))
	assert.Check(t, is.Equal(c.must("exec", "cp-in", "stat", "-c", "%a", "/existing/file"), "644\n"))

	// A file to a path that ends in "/" and does not exist is an error.
	r := c.run("cp", filepath.Join(src, "a"), "cp-in:/nonexistent/")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "no such directory"))
	assert.Check(t, c.run("exec", "cp-in", "test", "-e", "/nonexistent").code != 0)

	// A directory over a file is an error.
	r = c.run("cp", src, "cp-in:/existing/file")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "cannot copy directory"))

	// A missing parent directory is an error.
	r = c.run("cp", filepath.Join(src, "a"), "cp-in:/no/parent/file")
	assert.Check(t, is.Equal(r.code, 1), r.String())

	// The container need not run.
	c.must("create", "--name", "cp-created", "busybox", "cat", "/copied/a")
	c.must("cp", src, "cp-created:/copied")
	assert.Check(t, is.Equal(c.must("start", "-a", "cp-created"), "alpha\n"))
}

func testDockerCpOut(c streamsCLI) {
	t := c.t
	c.must("run", "-d", "--name", "cp-out", "busybox", "sh", "-c",
		"mkdir -p /data/sub && echo alpha > /data/a && echo beta > /data/sub/b && "+
			"chmod 640 /data/a && chmod 750 /data/sub && touch /ready && sleep 300")
	waitFor(t, "the container to write its files", 10*time.Second, func() bool {
		return c.run("exec", "cp-out", "test", "-e", "/ready").code == 0
	})
	base := t.TempDir()

	// A directory to a host path that does not exist becomes that path.
	dst := filepath.Join(base, "new")
	c.must("cp", "cp-out:/data", dst)
	assertFile(t, filepath.Join(dst, "a"), "alpha\n", 0o640)
	assertFile(t, filepath.Join(dst, "sub", "b"), "beta\n", 0o644)
	fi, err := os.Stat(filepath.Join(dst, "sub"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o750)))

	// Into an existing directory it keeps its name; with "/." only the
	// contents go in.
	existing := filepath.Join(base, "existing")
	assert.NilError(t, os.Mkdir(existing, 0o755))
	c.must("cp", "cp-out:/data", existing)
	assertFile(t, filepath.Join(existing, "data", "a"), "alpha\n", 0o640)
	c.must("cp", "cp-out:/data/.", existing)
	assertFile(t, filepath.Join(existing, "a"), "alpha\n", 0o640)
	assertFile(t, filepath.Join(existing, "sub", "b"), "beta\n", 0o644)
	c.must("cp", "cp-out:/data/sub/", filepath.Join(base, "sub-copy"))
	assertFile(t, filepath.Join(base, "sub-copy", "b"), "beta\n", 0o644)

	// Files: to a new name, into a directory, over a file.
	c.must("cp", "cp-out:/data/a", filepath.Join(base, "file"))
	assertFile(t, filepath.Join(base, "file"), "alpha\n", 0o640)
	c.must("cp", "cp-out:/etc/passwd", existing+"/")
	_, err = os.Stat(filepath.Join(existing, "passwd"))
	assert.Check(t, err)
	c.must("cp", "cp-out:/data/sub/b", filepath.Join(base, "file"))
	assertFile(t, filepath.Join(base, "file"), "beta\n", 0o644)

	// A file to a host path that ends in "/" and does not exist is an
	// error, and so is a directory over a file.
	r := c.run("cp", "cp-out:/data/a", filepath.Join(base, "missing")+"/")
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "no such directory"))
	_, err = os.Stat(filepath.Join(base, "missing"))
	assert.Check(t, os.IsNotExist(err), "docker cp created %s", filepath.Join(base, "missing"))
	r = c.run("cp", "cp-out:/data", filepath.Join(base, "file"))
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "cannot copy directory"))

	// A source that does not exist.
	r = c.run("cp", "cp-out:/no/such/file", base)
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "Could not find the file /no/such/file in container cp-out"))
	r = c.run("cp", "no-such-box:/etc/passwd", base)
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "No such container"))
}

func assertFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(path)
	if !assert.Check(t, err) {
		return
	}
	assert.Check(t, is.Equal(string(data), content), path)
	fi, err := os.Stat(path)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), perm), path)
}

func testDockerCpTarStreams(c streamsCLI) {
	t := c.t
	src, _ := hostTree(t)
	c.must("run", "-d", "--name", "cp-tar", "busybox", "sleep", "300")
	c.must("exec", "cp-tar", "mkdir", "/in")

	// tar c | docker cp - CTR:DIR extracts into DIR.
	r := c.shell("tar -C " + src + " -c . | $DOCKER cp - cp-tar:/in")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(c.must("exec", "cp-tar", "cat", "/in/a", "/in/sub/b"), "alpha\nbeta\n"))
	assert.Check(t, is.Equal(c.must("exec", "cp-tar", "stat", "-c", "%a", "/in/a", "/in/sub"), "640\n750\n"))

	// The destination of "-" must be an existing directory.
	r = c.shell("tar -C " + src + " -c a | $DOCKER cp - cp-tar:/in/a")
	assert.Check(t, r.code != 0, r.String())
	assert.Check(t, is.Contains(r.stderr, "destination \"cp-tar:/in/a\" must be a directory"))

	// docker cp CTR:PATH - | tar t lists the directory under its base name.
	r = c.shell("$DOCKER cp cp-tar:/in/sub - | tar t")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "sub/\nsub/b\n"))
	r = c.shell("$DOCKER cp cp-tar:/in/. - | tar t | sort")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "./\n./a\n./sub/\n./sub/b\n"))

	// A single file streams as one entry with its content and mode.
	out := c.must("cp", "cp-tar:/in/a", "-")
	tr := tar.NewReader(strings.NewReader(out))
	hdr, err := tr.Next()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(hdr.Name, "a"))
	assert.Check(t, is.Equal(hdr.Mode&0o7777, int64(0o640)))
	data, err := io.ReadAll(tr)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "alpha\n"))
	_, err = tr.Next()
	assert.Check(t, is.Equal(err, io.EOF))
}

func testDockerCpOwnership(c streamsCLI) {
	t := c.t
	c.must("run", "-d", "--name", "cp-own", "busybox", "sh", "-c",
		"mkdir /owned && echo x > /owned/f && chown -R 1234:5678 /owned && "+
			"chmod 751 /owned/f && chmod 2705 /owned && touch /ready && sleep 300")
	waitFor(t, "the container to write its files", 10*time.Second, func() bool {
		return c.run("exec", "cp-own", "test", "-e", "/ready").code == 0
	})

	// The tar stream carries the container's uids, gids and modes.
	out := c.must("cp", "cp-own:/owned", "-")
	tr := tar.NewReader(strings.NewReader(out))
	seen := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		seen[hdr.Name] = hdr
	}
	dir, file := seen["owned/"], seen["owned/f"]
	assert.Assert(t, dir != nil && file != nil, "tar entries: %v", seen)
	assert.Check(t, is.Equal(dir.Uid, 1234))
	assert.Check(t, is.Equal(dir.Gid, 5678))
	assert.Check(t, is.Equal(dir.Mode&0o7777, int64(0o2705)))
	assert.Check(t, is.Equal(file.Uid, 1234))
	assert.Check(t, is.Equal(file.Gid, 5678))
	assert.Check(t, is.Equal(file.Mode&0o7777, int64(0o751)))

	// Into the container, the docker CLI (28.2) archives host files with
	// their owners and Docker Engine keeps the archive's owners. With -a
	// (copyUIDGID) the files go to the container's configured user, if it
	// has one.
	host := filepath.Join(t.TempDir(), "hostfile")
	assert.NilError(t, os.WriteFile(host, []byte("h\n"), 0o604))
	assert.NilError(t, os.Chown(host, 4321, 8765))
	c.must("cp", host, "cp-own:/plain")
	assert.Check(t, is.Equal(c.must("exec", "cp-own", "stat", "-c", "%u:%g %a", "/plain"), "4321:8765 604\n"))
	c.must("cp", "-a", host, "cp-own:/archive")
	assert.Check(t, is.Equal(c.must("exec", "cp-own", "stat", "-c", "%u:%g %a", "/archive"), "4321:8765 604\n"))

	c.must("create", "--name", "cp-user", "-u", "1000:1001", "busybox", "true")
	c.must("cp", "-a", host, "cp-user:/archive")
	c.must("cp", host, "cp-user:/plain")
	out = c.must("cp", "cp-user:/archive", "-")
	hdr, err := tar.NewReader(strings.NewReader(out)).Next()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid), "1000:1001"), "docker cp -a into a container with user 1000:1001")
	out = c.must("cp", "cp-user:/plain", "-")
	hdr, err = tar.NewReader(strings.NewReader(out)).Next()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fmt.Sprintf("%d:%d", hdr.Uid, hdr.Gid), "4321:8765"), "docker cp into a container with user 1000:1001")

	// A tar stream from stdin keeps its owners, or with -a takes the
	// container's user.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "streamed", Typeflag: tar.TypeReg, Mode: 0o600, Size: 2, Uid: 42, Gid: 43}))
	_, err = tw.Write([]byte("s\n"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	c.must("exec", "cp-own", "mkdir", "/plain-dir", "/archive-dir")
	r := c.runInput(bytes.NewReader(buf.Bytes()), "cp", "-", "cp-own:/plain-dir")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	r = c.runInput(bytes.NewReader(buf.Bytes()), "cp", "-a", "-", "cp-own:/archive-dir")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(c.must("exec", "cp-own", "stat", "-c", "%u:%g %a", "/plain-dir/streamed", "/archive-dir/streamed"), "42:43 600\n42:43 600\n"))

	// Out to the host, modes are kept.
	dst := filepath.Join(t.TempDir(), "owned")
	c.must("cp", "cp-own:/owned", dst)
	fi, err := os.Stat(filepath.Join(dst, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o751)))
}

func testDockerCpEscapes(c streamsCLI) {
	t := c.t
	src, outside := hostTree(t)
	c.must("run", "-d", "--name", "cp-esc", "busybox", "sleep", "300")
	c.must("exec", "cp-esc", "mkdir", "/links")
	c.must("exec", "cp-esc", "ln", "-s", outside, "/links/abs")
	c.must("exec", "cp-esc", "ln", "-s", "/etc/../../../.."+outside, "/links/climb")
	c.must("exec", "cp-esc", "ln", "-s", "../../../../../.."+outside+"/sentinel", "/links/rel-file")
	c.must("exec", "cp-esc", "ln", "-s", "/etc", "/links/etc")

	// Writes through links resolve inside the container.
	targets := []string{
		"cp-esc:/links/abs", "cp-esc:/links/abs/", "cp-esc:/links/climb", "cp-esc:/links/climb/sentinel",
		"cp-esc:/links/rel-file", "cp-esc:/../../../.." + outside + "/sentinel",
	}
	for _, target := range targets {
		r := c.run("cp", filepath.Join(src, "a"), target)
		t.Logf("docker cp %s %s: %s", filepath.Join(src, "a"), target, r)
		assertUnchanged(t, outside)
	}
	r := c.shell("tar -C " + src + " -c a | $DOCKER cp - cp-esc:/links/climb")
	t.Log(r)
	assertUnchanged(t, outside)

	// The in-container /etc link is followed to the container's /etc.
	c.must("cp", filepath.Join(src, "a"), "cp-esc:/links/etc/")
	assert.Check(t, is.Equal(c.must("exec", "cp-esc", "cat", "/etc/a"), "alpha\n"))

	// Reads through links never return the host's file.
	sources := []string{
		"cp-esc:/links/abs/sentinel", "cp-esc:/links/climb/sentinel", "cp-esc:/../.." + outside + "/sentinel",
	}
	for _, source := range sources {
		r := c.run("cp", source, "-")
		assert.Check(t, r.code != 0, "docker cp %s -: %s", source, r)
		assert.Check(t, !strings.Contains(r.stdout, "host"), source)
	}
	r = c.run("cp", "-L", "cp-esc:/links/rel-file", "-")
	assert.Check(t, !strings.Contains(r.stdout, "host"), "docker cp -L read the host's file: %s", r)

	// Without -L a link is copied as a link. The docker CLI itself rejects
	// a link whose target climbs out of the destination directory.
	dst := filepath.Join(t.TempDir(), "link")
	c.must("cp", "cp-esc:/links/abs", dst)
	target, err := os.Readlink(dst)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(target, outside))
	r = c.run("cp", "cp-esc:/links/climb", filepath.Join(t.TempDir(), "climb"))
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr, "invalid symlink"))

	// With -L the link's target, resolved in the container, is copied.
	c.must("exec", "cp-esc", "ln", "-s", "../../../etc/passwd", "/links/passwd")
	followed := filepath.Join(t.TempDir(), "passwd")
	c.must("cp", "-L", "cp-esc:/links/passwd", followed)
	data, err := os.ReadFile(followed)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(data), "nobody:x:65534:65534"))
	assertUnchanged(t, outside)
}

var timestampedLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$`)

func testDockerLogs(c streamsCLI) {
	t := c.t
	// The container prints one line to each stream, waits until the test
	// creates /tmp/go, then prints one more to each.
	c.must("run", "-d", "--name", "logs-box", "busybox", "sh", "-c",
		"echo first; echo err1 >&2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second; echo err2 >&2")

	follow := exec.Command("docker", c.args([]string{"logs", "-f", "logs-box"})...)
	follow.Env = append(os.Environ(), "DOCKER_HOST=")
	stdout := &lockedBuffer{}
	stderr := &lockedBuffer{}
	follow.Stdout, follow.Stderr = stdout, stderr
	assert.NilError(t, follow.Start())
	var followErr error
	followDone := make(chan struct{})
	go func() {
		followErr = follow.Wait()
		close(followDone)
	}()
	t.Cleanup(func() {
		follow.Process.Kill()
		<-followDone
	})
	waitFor(t, "docker logs -f to print the first lines", 15*time.Second, func() bool {
		return stdout.String() == "first\n" && stderr.String() == "err1\n"
	})
	select {
	case <-followDone:
		t.Fatalf("docker logs -f exited while the container runs: %v", followErr)
	default:
	}

	// The second lines come at least 3s after the first ones, so that
	// --since and --until have seconds between them to cut at.
	ts := c.must("logs", "-t", "logs-box")
	m := timestampedLine.FindStringSubmatch(strings.TrimSpace(ts))
	assert.Assert(t, m != nil, "docker logs -t: %q", ts)
	first, err := time.Parse(time.RFC3339Nano, m[1])
	assert.NilError(t, err)
	time.Sleep(time.Until(first.Add(3 * time.Second)))
	c.must("exec", "logs-box", "touch", "/tmp/go")

	select {
	case <-followDone:
		assert.Check(t, followErr)
	case <-time.After(30 * time.Second):
		t.Fatal("docker logs -f still runs 30s after the container was told to exit")
	}
	assert.Check(t, is.Equal(stdout.String(), "first\nsecond\n"))
	assert.Check(t, is.Equal(stderr.String(), "err1\nerr2\n"))
	assert.Check(t, is.Equal(c.status("logs-box"), "exited"))

	// Streams stay apart.
	r := c.run("logs", "logs-box")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "first\nsecond\n"))
	assert.Check(t, is.Equal(r.stderr, "err1\nerr2\n"))

	// -f on an exited container prints the log and returns.
	r = c.run("logs", "-f", "logs-box")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Equal(r.stdout, "first\nsecond\n"))

	// Timestamps: RFC 3339 with nine fractional digits, then the line.
	r = c.run("logs", "-t", "logs-box")
	times := map[string]time.Time{}
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout+r.stderr, "\n"), "\n") {
		m := timestampedLine.FindStringSubmatch(line)
		if !assert.Check(t, m != nil, "docker logs -t line: %q", line) {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		assert.Check(t, err)
		times[m[2]] = ts
	}
	assert.Check(t, is.Len(times, 4), "docker logs -t: %s", r)
	assert.Check(t, times["second"].Sub(times["first"]) >= 3*time.Second, "times: %v", times)

	// --tail counts lines over both streams.
	r = c.run("logs", "--tail", "2", "logs-box")
	assert.Check(t, is.Equal(r.stdout, "second\n"))
	assert.Check(t, is.Equal(r.stderr, "err2\n"))
	r = c.run("logs", "--tail", "0", "logs-box")
	assert.Check(t, is.Equal(r.stdout+r.stderr, ""))
	r = c.run("logs", "--tail", "10", "logs-box")
	assert.Check(t, is.Equal(r.stdout, "first\nsecond\n"))

	// --since and --until, cut between the first and the second lines.
	// mid is 1.5s from each line, which leaves room for the CLI's rounding
	// of times and for the time between computing relative and its use.
	mid := times["first"].Add(1500 * time.Millisecond)
	relative := fmt.Sprintf("%dms", time.Since(mid).Milliseconds())
	cuts := []string{
		mid.Format(time.RFC3339Nano),
		mid.UTC().Format(time.RFC3339),
		fmt.Sprintf("%d.%09d", mid.Unix(), mid.Nanosecond()),
		fmt.Sprintf("%d", mid.Unix()),
		relative,
	}
	for _, cut := range cuts {
		r := c.run("logs", "--since", cut, "logs-box")
		assert.Check(t, is.Equal(r.stdout, "second\n"), "--since %s", cut)
		assert.Check(t, is.Equal(r.stderr, "err2\n"), "--since %s", cut)
		r = c.run("logs", "--until", cut, "logs-box")
		assert.Check(t, is.Equal(r.stdout, "first\n"), "--until %s", cut)
		assert.Check(t, is.Equal(r.stderr, "err1\n"), "--until %s", cut)
	}
	r = c.run("logs", "--since", "1h", "--until", cuts[0], "-t", "logs-box")
	assert.Check(t, is.Equal(r.code, 0), r.String())
	assert.Check(t, is.Contains(r.stdout, " first\n"))
	r = c.run("logs", "--since", "not-a-time", "logs-box")
	assert.Check(t, r.code != 0, r.String())

	// The log file is line-delimited JSON with log, stream and time.
	path := strings.TrimSpace(c.must("inspect", "-f", "{{.LogPath}}", "logs-box"))
	assert.Assert(t, filepath.IsAbs(path), "LogPath %q", path)
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	assert.Check(t, is.Len(lines, 4), string(data))
	got := map[string]string{}
	for _, line := range lines {
		var entry map[string]any
		if !assert.Check(t, json.Unmarshal([]byte(line), &entry), line) {
			continue
		}
		assert.Check(t, is.Len(entry, 3), line)
		text, _ := entry["log"].(string)
		stream, _ := entry["stream"].(string)
		when, _ := entry["time"].(string)
		got[text] = stream
		_, err := time.Parse(time.RFC3339Nano, when)
		assert.Check(t, err, line)
	}
	assert.Check(t, is.DeepEqual(got, map[string]string{
		"first\n": "stdout", "err1\n": "stderr", "second\n": "stdout", "err2\n": "stderr",
	}))
}

// lockedBuffer is a bytes.Buffer that a command writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
