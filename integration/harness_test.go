package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/berth-engine/berth/internal/testutil"
)

// Built once in TestMain.
var (
	berthBinary string
	busyboxTar  string
	setupErr    error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		dir, err := os.MkdirTemp("", "berth-integration-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		setupErr = setup(dir)
		return m.Run()
	}()
	os.Exit(code)
}

// setup builds the binary and the busybox rootfs tarball. Failures are
// reported by each test, after its requirements are checked, so a machine
// without root skips instead of failing.
func setup(dir string) error {
	if os.Geteuid() != 0 || testing.Short() {
		return nil
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	berthBinary = filepath.Join(dir, "berth")
	// The same static binary the scripts build.
	build := exec.Command("go", "build", "-o", berthBinary, "./cmd/berth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/berth: %v\n%s", err, out)
	}
	busyboxTar = filepath.Join(dir, "busybox.tar")
	mk := exec.Command("sh", filepath.Join(root, "scripts", "busybox-rootfs.sh"), busyboxTar)
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/busybox-rootfs.sh: %v\n%s", err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// daemon is one berth daemon under test.
type daemon struct {
	t        *testing.T
	dir      string
	dataRoot string
	execRoot string
	socket   string
	bridge   string
	bip      netip.Prefix
	logFile  string
	cmd      *exec.Cmd

	extraArgs []string // more daemon flags, kept across restarts
}

// newDaemon starts a daemon with its own roots, socket and bridge, and
// registers its teardown.
func newDaemon(t *testing.T) *daemon {
	t.Helper()
	testutil.Requires(t, testutil.Root, testutil.Overlay, testutil.Runc, testutil.Busybox)
	assert.NilError(t, setupErr)

	dir, err := os.MkdirTemp("", "berth-it-")
	assert.NilError(t, err)
	suffix := randomHex(3)
	d := &daemon{
		t:        t,
		dir:      dir,
		dataRoot: filepath.Join(dir, "data"),
		execRoot: filepath.Join(dir, "exec"),
		socket:   filepath.Join(dir, "exec", "berth.sock"),
		bridge:   "bt" + suffix,
		bip:      freeSubnet(t),
		logFile:  filepath.Join(dir, "daemon.log"),
	}
	t.Cleanup(d.teardown)
	d.start()
	return d
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freeSubnet picks a /24 in 10.200.0.0/13 that no host route or address
// overlaps.
func freeSubnet(t *testing.T) netip.Prefix {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	assert.NilError(t, err)
	for i := 0; i < 200; i++ {
		b := make([]byte, 2)
		rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200 + b[0]%8, b[1], 1}), 24)
		if !strings.Contains(string(out), p.Masked().Addr().String()) {
			return p
		}
	}
	t.Fatal("no free /24 in 10.200.0.0/13")
	return netip.Prefix{}
}

func (d *daemon) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	assert.NilError(d.t, err)
	defer logf.Close()

	d.cmd = exec.Command(berthBinary, append([]string{"daemon", "--debug",
		"-H", "unix://" + d.socket,
		"--data-root", d.dataRoot,
		"--exec-root", d.execRoot,
		"--bridge", d.bridge,
		"--bip", d.bip.String()}, d.extraArgs...)...)
	// Registry traffic to anything but loopback and the test's own bridge
	// goes to a closed local port, so an image name that falls back to
	// Docker Hub fails at once instead of reaching the internet.
	d.cmd.Env = append(os.Environ(),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"NO_PROXY=localhost,127.0.0.0/8,"+d.bip.Masked().String())
	d.cmd.Stdout = logf
	d.cmd.Stderr = logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	assert.NilError(d.t, d.cmd.Start())

	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("unix", d.socket); err == nil {
			conn.Close()
			return
		}
		if d.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("daemon did not come up on %s; log:\n%s", d.socket, d.log())
}

// stop shuts the daemon down with SIGTERM and waits for it.
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("daemon ignored SIGTERM for 30s; killed it")
	}
	d.cmd = nil
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
}

func (d *daemon) log() string {
	data, _ := os.ReadFile(d.logFile)
	return string(data)
}

// teardown removes every container and user-defined network, stops the
// daemon and removes what it left on the machine: mounts, namespaces, the
// bridge and its nftables table.
func (d *daemon) teardown() {
	if d.cmd == nil {
		d.start()
	}
	out, _ := d.run("ps", "-aq")
	for _, id := range strings.Fields(out.stdout) {
		d.run("rm", "-f", id)
	}
	// User-defined networks outlive a daemon's restart, so their bridges
	// and nftables tables go only when the networks are removed.
	d.run("network", "prune", "-f")
	d.stop()
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.log())
	}

	d.killShims()
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var targets []string
	for _, line := range strings.Split(string(mounts), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 && strings.HasPrefix(fields[1], d.dir) {
			targets = append(targets, fields[1])
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		syscall.Unmount(targets[i], syscall.MNT_DETACH)
	}
	exec.Command("ip", "link", "del", d.bridge).Run()
	exec.Command("nft", "delete", "table", "inet", "berth-"+d.bridge).Run()
	exec.Command("nft", "delete", "table", "ip", "berth-"+d.bridge).Run()
	os.RemoveAll(d.dir)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs the berth CLI against the daemon and returns its output and
// exit code.
func (d *daemon) run(args ...string) (result, error) {
	return d.runInput("", args...)
}

func (d *daemon) runInput(stdin string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBinary, args...)
	cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.socket, "DOCKER_HOST=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		r.code = exitErr.ExitCode()
		err = nil
	}
	return r, err
}

// must runs the CLI and fails the test unless it exits 0.
func (d *daemon) must(args ...string) string {
	d.t.Helper()
	r, err := d.run(args...)
	assert.NilError(d.t, err)
	assert.Equal(d.t, r.code, 0, "berth %s\n%s", strings.Join(args, " "), r)
	return r.stdout
}

// importBusybox makes busybox:latest in the daemon.
func (d *daemon) importBusybox() {
	d.t.Helper()
	d.must("import", "-c", `CMD ["sh"]`, busyboxTar, "busybox:latest")
}

// waitFor polls cond until it returns true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// freePort returns a TCP port that is free on the host right now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// killShims kills the shims of this daemon that outlived it, such as after
// a test killed the daemon. Shims started ahead of time carry no container
// in their command line, so they are found by the files they hold open in
// the daemon's directories.
func (d *daemon) killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, cmdline := range procs {
		data, err := os.ReadFile(cmdline)
		if err != nil || !bytes.Contains(data, []byte("\x00shim\x00")) {
			continue
		}
		dir := filepath.Dir(cmdline)
		fds, _ := filepath.Glob(filepath.Join(dir, "fd", "*"))
		for _, fd := range fds {
			if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, d.dir) {
				if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
		}
	}
}
