package integration

import (
	"os"
	"path/filepath"
	"strconv"
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
		// The init, a Go program, raises its own soft limit at start but
		// starts the command with the requested one.
		out = runOut(t, "--init", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
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

	// cgroupFile reads a cgroup v1 file, or its v2 counterpart, inside a
	// container.
	cgroupFile := func(t *testing.T, name, v1, v2 string) string {
		t.Helper()
		return strings.TrimSpace(d.must("exec", name, "sh", "-c",
			"cat /sys/fs/cgroup/"+v2+" 2>/dev/null || cat /sys/fs/cgroup/"+v1))
	}

	t.Run("cpu limits", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "cpu", "--cpu-period", "50000", "--cpu-quota", "25000",
			"--cpu-shares", "512", "--cpuset-cpus", "0", "busybox", "sleep", "300")
		assert.Check(t, is.Equal(cgroupFile(t, "cpu", "cpu/cpu.cfs_period_us", "cpu.max"), "50000"))
		assert.Check(t, is.Equal(cgroupFile(t, "cpu", "cpu/cpu.cfs_quota_us", "cpu.max"), "25000"))
		assert.Check(t, is.Equal(cgroupFile(t, "cpu", "cpu/cpu.shares", "cpu.weight"), "512"))
		assert.Check(t, is.Equal(cgroupFile(t, "cpu", "cpuset/cpuset.cpus", "cpuset.cpus"), "0"))
		assert.Check(t, is.Equal(d.field("cpu", "{{.HostConfig.CPUPeriod}} {{.HostConfig.CPUQuota}} {{.HostConfig.CpusetCpus}}"),
			"50000 25000 0"))

		d.dockerMust(t, "update", "--cpu-quota", "40000", "cpu")
		assert.Check(t, is.Equal(cgroupFile(t, "cpu", "cpu/cpu.cfs_quota_us", "cpu.max"), "40000"))
		assert.Check(t, is.Equal(d.field("cpu", "{{.HostConfig.CPUQuota}}"), "40000"))

		_, errOut, err := d.docker("run", "--rm", "--cpus", "1", "--cpu-period", "50000", "busybox", "true")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "Nano CPUs and CPU Period cannot both be set"))
		d.dockerMust(t, "rm", "-f", "cpu")
	})

	t.Run("memory limits and update", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "mem", "--memory", "64m", "--memory-reservation", "32m",
			"busybox", "sleep", "300")
		assert.Check(t, is.Equal(d.field("mem", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}"),
			"67108864 134217728 33554432"))
		assert.Check(t, is.Equal(cgroupFile(t, "mem", "memory/memory.limit_in_bytes", "memory.max"), "67108864"))
		assert.Check(t, is.Equal(cgroupFile(t, "mem", "memory/memory.soft_limit_in_bytes", "memory.low"), "33554432"))

		d.dockerMust(t, "update", "--memory", "96m", "--memory-swap", "200m", "mem")
		assert.Check(t, is.Equal(cgroupFile(t, "mem", "memory/memory.limit_in_bytes", "memory.max"), "100663296"))
		assert.Check(t, is.Equal(d.field("mem", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"), "100663296 209715200"))
		stats := d.dockerMust(t, "stats", "--no-stream", "--format", "{{.MemUsage}}", "mem")
		assert.Check(t, is.Contains(stats, "/ 96MiB"))

		_, errOut, err := d.docker("update", "--memory", "300m", "mem")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "update the memoryswap at the same time"))
		d.dockerMust(t, "rm", "-f", "mem")
	})

	t.Run("oom kill disable", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "nooom", "--memory", "64m", "--oom-kill-disable", "busybox", "sleep", "300")
		assert.Check(t, is.Equal(d.field("nooom", "{{.HostConfig.OomKillDisable}}"), "true"))
		control := d.must("exec", "nooom", "cat", "/sys/fs/cgroup/memory/memory.oom_control")
		assert.Check(t, is.Contains(control, "oom_kill_disable 1"))
		d.dockerMust(t, "rm", "-f", "nooom")
	})

	t.Run("pids limit", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "pids", "--pids-limit", "5", "busybox", "sleep", "300")
		assert.Check(t, is.Equal(cgroupFile(t, "pids", "pids/pids.max", "pids.max"), "5"))
		// Forks beyond the limit fail.
		r, err := d.run("exec", "pids", "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait")
		assert.NilError(t, err)
		assert.Check(t, is.Contains(r.stderr, "can't fork"))
		d.dockerMust(t, "update", "--pids-limit", "50", "pids")
		assert.Check(t, is.Equal(cgroupFile(t, "pids", "pids/pids.max", "pids.max"), "50"))
		d.dockerMust(t, "rm", "-f", "pids")
	})

	t.Run("ulimit above hard limit", func(t *testing.T) {
		_, errOut, err := d.docker("run", "--rm", "--ulimit", "nofile=1024:999999999", "busybox", "true")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "is above the daemon's hard limit"))
	})

	t.Run("sysctl not namespaced", func(t *testing.T) {
		r, err := d.run("create", "--sysctl", "kernel.hostname=x", "busybox")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0)
		assert.Check(t, is.Contains(r.stderr, `sysctl "kernel.hostname" is not allowed`))
		r, err = d.run("create", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox")
		assert.NilError(t, err)
		assert.Check(t, is.Contains(r.stderr, "not allowed in host network namespace"))
		out := runOut(t, "--sysctl", "kernel.shmmax=1048576", "busybox", "cat", "/proc/sys/kernel/shmmax")
		assert.Check(t, is.Equal(out, "1048576"))
	})

	t.Run("seccomp profile file", func(t *testing.T) {
		profile := writeProfile(t, `{"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`)
		_, errOut, err := d.docker("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "Operation not permitted"))
		assert.Check(t, is.Equal(runOut(t, "--security-opt", "seccomp="+profile, "busybox", "echo", "ok"), "ok"))

		r, err := d.run("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0)
		assert.Check(t, is.Contains(r.stderr, "Operation not permitted"))
	})

	t.Run("privileged", func(t *testing.T) {
		out := runOut(t, "--privileged", "busybox", "sh", "-c", "grep CapEff /proc/self/status; ls /dev | grep -c .")
		fields := strings.Fields(out)
		assert.Assert(t, is.Len(fields, 3), out)
		assert.Check(t, fields[1] != "00000000a80425fb", "privileged keeps the default capabilities")
		devices, err := strconv.Atoi(fields[2])
		assert.NilError(t, err)
		assert.Check(t, devices > 20, "only %d entries in /dev", devices)
	})

	t.Run("device mapping", func(t *testing.T) {
		out := runOut(t, "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
			"ls -l /dev/mynull; echo hi > /dev/mynull && echo written")
		assert.Check(t, is.Contains(out, "1,   3"))
		assert.Check(t, is.Contains(out, "written"))
	})

	t.Run("namespace modes", func(t *testing.T) {
		hostname, err := os.Hostname()
		assert.NilError(t, err)
		assert.Check(t, is.Equal(runOut(t, "--uts", "host", "busybox", "hostname"), hostname))
		assert.Check(t, is.Equal(runOut(t, "--hostname", "box1", "busybox", "hostname"), "box1"))

		// In the host's PID namespace, PID 1 is the host's init.
		assert.Check(t, runOut(t, "--pid", "host", "busybox", "cat", "/proc/1/comm") != "cat")

		d.dockerMust(t, "run", "-d", "--name", "ipcowner", "--ipc", "shareable", "busybox", "sleep", "300")
		owner := strings.TrimSpace(d.must("exec", "ipcowner", "readlink", "/proc/self/ns/ipc"))
		joined := runOut(t, "--ipc", "container:ipcowner", "busybox", "readlink", "/proc/self/ns/ipc")
		assert.Check(t, is.Equal(joined, owner))
		private := runOut(t, "busybox", "readlink", "/proc/self/ns/ipc")
		assert.Check(t, private != owner)

		pidJoined := runOut(t, "--pid", "container:ipcowner", "busybox", "ps", "-o", "comm")
		assert.Check(t, is.Contains(pidJoined, "sleep"))
		d.dockerMust(t, "rm", "-f", "ipcowner")

		hostIPC, err := os.Readlink("/proc/self/ns/ipc")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(runOut(t, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"), hostIPC))
	})

	t.Run("limits through berth CLI", func(t *testing.T) {
		d.must("run", "-d", "--name", "berthlimits", "--memory", "32m", "--memory-swap", "64m",
			"--cpu-shares", "256", "--pids-limit", "20", "--shm-size", "8m", "--ulimit", "nofile=50:60",
			"--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--user", "1000",
			"busybox", "sleep", "300")
		assert.Check(t, is.Equal(cgroupFile(t, "berthlimits", "memory/memory.memsw.limit_in_bytes", "memory.swap.max"),
			"67108864"))
		assert.Check(t, is.Equal(cgroupFile(t, "berthlimits", "cpu/cpu.shares", "cpu.weight"), "256"))
		assert.Check(t, is.Equal(cgroupFile(t, "berthlimits", "pids/pids.max", "pids.max"), "20"))
		// The limits are read from PID 1, because runc exec before 1.1.13
		// (1.1.5 here) sometimes gives exec processes a soft RLIMIT_NOFILE
		// equal to the hard one.
		out := d.must("exec", "berthlimits", "sh", "-c",
			"awk '/open files/ {print $4}' /proc/1/limits; id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/1/status; "+
				"df -k /dev/shm | tail -1")
		fields := strings.Fields(out)
		assert.Assert(t, len(fields) >= 8, out)
		assert.Check(t, is.Equal(fields[0], "50"))
		assert.Check(t, is.Equal(fields[1], "1000"))
		assert.Check(t, is.Equal(fields[3], "0000000000000000"))
		assert.Check(t, is.Equal(fields[5], "1"))
		assert.Check(t, is.Equal(fields[7], "8192"), out)

		d.must("update", "--memory", "48m", "--memory-swap", "96m", "--cpu-quota", "20000", "--cpu-period", "100000",
			"berthlimits")
		assert.Check(t, is.Equal(cgroupFile(t, "berthlimits", "memory/memory.limit_in_bytes", "memory.max"), "50331648"))
		assert.Check(t, is.Equal(cgroupFile(t, "berthlimits", "cpu/cpu.cfs_quota_us", "cpu.max"), "20000"))
		stats := d.must("stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}}", "berthlimits")
		assert.Check(t, is.Contains(stats, "/ 48MiB"))
		d.must("rm", "-f", "berthlimits")
	})

	t.Run("env and label files", func(t *testing.T) {
		dir := t.TempDir()
		envFile := filepath.Join(dir, "env")
		labelFile := filepath.Join(dir, "labels")
		assert.NilError(t, os.WriteFile(envFile, []byte("# comment\nGREETING=hello world\n"), 0o644))
		assert.NilError(t, os.WriteFile(labelFile, []byte("tier=web\n"), 0o644))
		d.dockerMust(t, "run", "--name", "files", "--env-file", envFile, "--label-file", labelFile,
			"busybox", "sh", "-c", "echo $GREETING")
		assert.Check(t, is.Equal(d.must("logs", "files"), "hello world\n"))
		assert.Check(t, is.Equal(d.field("files", `{{index .Config.Labels "tier"}}`), "web"))
		out := d.must("run", "--rm", "--env-file", envFile, "--label-file", labelFile, "busybox", "sh", "-c", "echo $GREETING")
		assert.Check(t, is.Equal(out, "hello world\n"))
	})
}

// writeProfile stores a seccomp profile for the docker CLI to read.
func writeProfile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profile.json")
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}
