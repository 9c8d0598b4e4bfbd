package integration

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestLimitsAndSecurity(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	runOut := func(t *testing.T, args ...string) string {
		t.Helper()
		return strings.TrimSpace(d.dockerMust(t, append([]string{"run", "--rm"}, args...)...))
	}

	t.Run("shm size", func(t *testing.T) {
		out := runOut(t, "--shm-size", "32m", "busybox", "grep", " /dev/shm ", "/proc/mounts")
		assert.Check(t, is.Contains(out, "size=32768k"))
	})

	t.Run("sysctl", func(t *testing.T) {
		out := runOut(t, "--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward")
		assert.Check(t, is.Equal(out, "1"))
	})

	t.Run("user and group add", func(t *testing.T) {
		assert.Check(t, is.Equal(runOut(t, "--user", "1000:1000", "busybox", "id", "-u"), "1000"))
		assert.Check(t, is.Equal(runOut(t, "--user", "1000:1000", "busybox", "id", "-g"), "1000"))
		groups := strings.Fields(runOut(t, "--group-add", "123", "busybox", "id", "-G"))
		assert.Check(t, is.Contains(groups, "123"))
	})

	t.Run("capabilities", func(t *testing.T) {
		out := runOut(t, "--cap-drop", "ALL", "--cap-add", "CAP_NET_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "0000000000001000"))
		// Docker's default set: chown, dac_override, fowner, fsetid, kill,
		// setgid, setuid, setpcap, net_bind_service, net_raw, sys_chroot,
		// mknod, audit_write and setfcap.
		out = runOut(t, "busybox", "grep", "CapEff", "/proc/self/status")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "00000000a80425fb"))
	})

	t.Run("security options", func(t *testing.T) {
		out := runOut(t, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "1"))
		out = runOut(t, "busybox", "grep", "^Seccomp:", "/proc/self/status")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "2"))
		out = runOut(t, "--security-opt", "seccomp=unconfined", "busybox", "grep", "^Seccomp:", "/proc/self/status")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "0"))
		out = runOut(t, "--security-opt", "apparmor=unconfined", "--security-opt", "label=disable", "busybox", "true")
		assert.Check(t, is.Equal(out, ""))
		_, errOut, err := d.docker("run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "invalid --security-opt"))
	})

	t.Run("ulimit lowers", func(t *testing.T) {
		out := runOut(t, "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
		assert.Check(t, is.Equal(out, "100\n200"))
	})

	t.Run("memory limit oom kill", func(t *testing.T) {
		// tail keeps the whole of the never-ending line from /dev/zero in
		// memory, so it grows until the cgroup's OOM killer ends it.
		_, _, err := d.docker("run", "--name", "oom", "--memory", "16m", "--memory-swap", "16m",
			"busybox", "tail", "/dev/zero")
		assert.Check(t, err != nil)
		waitFor(t, "the container to exit", 30*time.Second, func() bool {
			return d.field("oom", "{{.State.Status}}") == "exited"
		})
		assert.Check(t, is.Equal(d.field("oom", "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137"))
		assert.Check(t, is.Equal(d.field("oom", "{{.HostConfig.Memory}}"), "16777216"))
	})
}
