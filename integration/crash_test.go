package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// runcContainers lists the containers in runc's state under the daemon's
// root.
func (d *daemon) runcContainers(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("runc", "--root", filepath.Join(d.execRoot, "runc"), "list", "-q").Output()
	assert.NilError(t, err)
	return strings.Fields(string(out))
}

// leftovers describes runtime state that no container should hold once
// every container is removed: runc containers, mounts under the daemon's
// roots, network namespaces and veths on its bridge.
func (d *daemon) leftovers(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, id := range d.runcContainers(t) {
		found = append(found, "runc container "+id)
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	assert.NilError(t, err)
	for _, line := range strings.Split(string(mounts), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 && strings.HasPrefix(fields[1], d.dir) {
			found = append(found, "mount "+fields[1])
		}
	}
	out, err := exec.Command("ip", "-o", "link", "show", "master", d.bridge).Output()
	assert.NilError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			found = append(found, "veth "+strings.Fields(line)[1])
		}
	}
	return found
}

func (d *daemon) pid() int {
	return d.cmd.Process.Pid
}

func TestShimKilledKillsContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	id := strings.TrimSpace(d.must("run", "-d", "--name", "orphan", "busybox", "sleep", "1000"))
	data, err := os.ReadFile(filepath.Join(d.execRoot, "containers", id, "shim.pid"))
	assert.NilError(t, err)
	shimPid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	assert.NilError(t, err)
	assert.NilError(t, syscall.Kill(shimPid, syscall.SIGKILL))

	waitFor(t, "the container to be recorded as exited", 10*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "orphan")) == "exited"
	})
	assert.Check(t, is.Len(d.runcContainers(t), 0), "the container's process outlived its shim")

	d.must("start", "orphan")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "orphan")), "running"))
	d.must("rm", "-f", "orphan")
	assert.Check(t, is.Len(d.leftovers(t), 0))
}

func TestDaemonKilledDuringStartLeavesNothing(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	// The daemon dies at different points of a start; whatever state each
	// leaves, a restarted daemon must clean it up when the container goes.
	for i, delay := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond, 90 * time.Millisecond} {
		name := fmt.Sprintf("interrupted%d", i)
		port := freePort(t)
		run := exec.Command(berthBinary, "run", "-d", "--name", name, "-p", fmt.Sprintf("%d:80", port),
			"busybox", "httpd", "-f", "-p", "80")
		run.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.socket)
		assert.NilError(t, run.Start())
		time.Sleep(delay)
		d.kill()
		run.Wait()
		d.start()

		d.run("rm", "-f", name)
		assert.Check(t, is.Len(d.leftovers(t), 0), "after a kill %s into the start", delay)

		// The host port is free again.
		r, err := d.run("run", "-d", "--name", name+"-again", "-p", fmt.Sprintf("%d:80", port), "busybox", "httpd", "-f", "-p", "80")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), r.String())
		d.must("rm", "-f", name+"-again")
	}
	assert.Check(t, is.Len(d.leftovers(t), 0))
}

func TestBuildStepCommitsNoMountPoints(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN true\n"), 0o644))
	d.must("build", "-t", "runtrue:1", dir)

	base := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Size}}", "busybox"))
	built := strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Size}}", "runtrue:1"))
	assert.Check(t, is.Equal(built, base), "RUN true added files to the image")
}

func TestPsFilterShowsOnlyRunning(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--name", "web-done", "busybox", "true")
	d.must("run", "-d", "--name", "web-live", "busybox", "sleep", "1000")

	names := strings.Fields(d.must("ps", "--filter", "name=web", "--format", "{{.Names}}"))
	assert.Check(t, is.DeepEqual(names, []string{"web-live"}))
	names = strings.Fields(d.must("ps", "--filter", "status=exited", "--format", "{{.Names}}"))
	assert.Check(t, is.DeepEqual(names, []string{"web-done"}))
}

func TestForceDeletedImageLayersFreed(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	layers := func() int {
		entries, err := os.ReadDir(filepath.Join(d.dataRoot, "layers"))
		assert.NilError(t, err)
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "sha256") || len(e.Name()) == 64 {
				n++
			}
		}
		return n
	}
	before := layers()

	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo data > /data\n"), 0o644))
	d.must("build", "-t", "doomed:1", dir)
	d.must("create", "--name", "user", "doomed:1", "true")
	d.must("rmi", "-f", "doomed:1")
	d.must("rm", "user")
	assert.Check(t, is.Equal(layers(), before))
}
