package container

import (
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseHealthFlags(t *testing.T) {
	cfg := mustParseArgs(t, "--health-cmd", "curl -f localhost", "--health-interval", "2s",
		"--health-timeout", "1s", "--health-retries", "4", "--health-start-period", "10s",
		"--health-start-interval", "500ms", "busybox")
	assert.Check(t, is.DeepEqual(cfg.Config.Healthcheck, &containertypes.HealthConfig{
		Test:          []string{"CMD-SHELL", "curl -f localhost"},
		Interval:      2 * time.Second,
		Timeout:       time.Second,
		StartPeriod:   10 * time.Second,
		StartInterval: 500 * time.Millisecond,
		Retries:       4,
	}))

	cfg = mustParseArgs(t, "--no-healthcheck", "busybox")
	assert.Check(t, is.DeepEqual(cfg.Config.Healthcheck.Test, []string{"NONE"}))

	cfg = mustParseArgs(t, "busybox")
	assert.Check(t, is.Nil(cfg.Config.Healthcheck))
}

func TestParseHealthFlagsInvalid(t *testing.T) {
	_, err := parseArgs(t, "--no-healthcheck", "--health-cmd", "true", "busybox")
	assert.Check(t, is.ErrorContains(err, "--no-healthcheck conflicts with --health-* options"))
	_, err = parseArgs(t, "--health-interval", "-1s", "busybox")
	assert.Check(t, is.ErrorContains(err, "--health-interval cannot be negative"))
	_, err = parseArgs(t, "--health-retries", "-1", "busybox")
	assert.Check(t, is.ErrorContains(err, "--health-retries cannot be negative"))
}

func TestParseLimitFlags(t *testing.T) {
	cfg := mustParseArgs(t, "--memory", "64m", "--memory-swap", "-1", "--memory-reservation", "32m",
		"--cpu-shares", "512", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0-1",
		"--cpuset-mems", "0", "--shm-size", "1g", "--oom-kill-disable", "--ulimit", "nofile=100:200",
		"busybox")
	hc := cfg.HostConfig
	assert.Check(t, is.Equal(hc.Memory, int64(64<<20)))
	assert.Check(t, is.Equal(hc.MemorySwap, int64(-1)))
	assert.Check(t, is.Equal(hc.MemoryReservation, int64(32<<20)))
	assert.Check(t, is.Equal(hc.CPUShares, int64(512)))
	assert.Check(t, is.Equal(hc.CPUPeriod, int64(50000)))
	assert.Check(t, is.Equal(hc.CPUQuota, int64(25000)))
	assert.Check(t, is.Equal(hc.CpusetCpus, "0-1"))
	assert.Check(t, is.Equal(hc.CpusetMems, "0"))
	assert.Check(t, is.Equal(hc.ShmSize, int64(1<<30)))
	assert.Assert(t, hc.OomKillDisable != nil)
	assert.Check(t, *hc.OomKillDisable)
	assert.Check(t, is.DeepEqual(hc.Ulimits, []*containertypes.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}}))

	_, err := parseArgs(t, "--ulimit", "nofile", "busybox")
	assert.Check(t, is.ErrorContains(err, `invalid argument "nofile" for "--ulimit" flag`))
}

func TestParseSecurityFlags(t *testing.T) {
	cfg := mustParseArgs(t, "--group-add", "audio", "--security-opt", "no-new-privileges",
		"--sysctl", "net.ipv4.ip_forward=1", "--ipc", "host", "--pid", "container:db", "--uts", "host",
		"--device", "/dev/fuse", "--device", "/dev/null:/dev/n:r", "--device", "/dev/zero:rw", "busybox")
	hc := cfg.HostConfig
	assert.Check(t, is.DeepEqual(hc.GroupAdd, []string{"audio"}))
	assert.Check(t, is.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges"}))
	assert.Check(t, is.DeepEqual(hc.Sysctls, map[string]string{"net.ipv4.ip_forward": "1"}))
	assert.Check(t, is.Equal(hc.IpcMode, containertypes.IpcMode("host")))
	assert.Check(t, is.Equal(hc.PidMode, containertypes.PidMode("container:db")))
	assert.Check(t, is.Equal(hc.UTSMode, containertypes.UTSMode("host")))
	assert.Check(t, is.DeepEqual(hc.Devices, []containertypes.DeviceMapping{
		{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		{PathOnHost: "/dev/null", PathInContainer: "/dev/n", CgroupPermissions: "r"},
		{PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "rw"},
	}))
}

func TestParseSecurityFlagsInvalid(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		message string
	}{
		{args: []string{"--device", "dev/null"}, message: "the host path must be absolute"},
		{args: []string{"--device", "/dev/null:/dev/n:rwx"}, message: "permissions must be a combination of r, w and m"},
		{args: []string{"--sysctl", "novalue"}, message: `invalid argument "novalue" for "--sysctl" flag`},
		{args: []string{"--uts", "host", "--hostname", "box"}, message: "conflicting options: hostname and the UTS mode"},
	} {
		_, err := parseArgs(t, append(tc.args, "busybox")...)
		assert.Check(t, is.ErrorContains(err, tc.message), "%v", tc.args)
	}
}

func TestParseSeccompProfileFile(t *testing.T) {
	profile := writeFile(t, "profile.json", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n")
	cfg := mustParseArgs(t, "--security-opt", "seccomp="+profile, "--security-opt", "seccomp=unconfined", "busybox")
	assert.Check(t, is.DeepEqual(cfg.HostConfig.SecurityOpt, []string{
		`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "seccomp=unconfined",
	}))

	_, err := parseArgs(t, "--security-opt", "seccomp=/no/such/profile.json", "busybox")
	assert.Check(t, is.ErrorContains(err, "opening seccomp profile (/no/such/profile.json) failed"))
}
