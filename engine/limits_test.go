package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestCheckResourcesRejects(t *testing.T) {
	cpus := runtime.NumCPU()
	tests := []struct {
		name    string
		hc      container.HostConfig
		message string
	}{
		{name: "too many cpus", hc: container.HostConfig{Resources: container.Resources{NanoCPUs: int64(cpus+1) * 1e9}},
			message: fmt.Sprintf("Range of CPUs is from 0.01 to %d.00", cpus)},
		{name: "cpus and period", hc: container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUPeriod: 50000}},
			message: "Nano CPUs and CPU Period cannot both be set"},
		{name: "cpus and quota", hc: container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 50000}},
			message: "Nano CPUs and CPU Quota cannot both be set"},
		{name: "short period", hc: container.HostConfig{Resources: container.Resources{CPUPeriod: 10}},
			message: "CPU cfs period can not be less than 1ms"},
		{name: "short quota", hc: container.HostConfig{Resources: container.Resources{CPUQuota: 10}},
			message: "CPU cfs quota can not be less than 1ms"},
		{name: "swap without memory", hc: container.HostConfig{Resources: container.Resources{MemorySwap: 1 << 30}},
			message: "You should always set the Memory limit when using Memoryswap limit"},
		{name: "reservation above limit", hc: container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemoryReservation: 128 << 20}},
			message: "Minimum memory limit can not be less than memory reservation limit"},
		{name: "missing cpu", hc: container.HostConfig{Resources: container.Resources{CpusetCpus: fmt.Sprintf("0-%d", cpus)}},
			message: "Requested CPUs are not available"},
		{name: "bad cpuset", hc: container.HostConfig{Resources: container.Resources{CpusetCpus: "1-0"}},
			message: "Invalid value 1-0 for cpuset cpus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkResources(&tc.hc)
			assert.Check(t, is.ErrorContains(err, tc.message))
			assert.Check(t, errdefs.IsInvalidArgument(err))
		})
	}
}

func TestCheckRuntimeOptionsSwapDefault(t *testing.T) {
	hc := container.HostConfig{Resources: container.Resources{Memory: 64 << 20}}
	assert.NilError(t, checkRuntimeOptions(&hc))
	assert.Check(t, is.Equal(hc.MemorySwap, int64(128<<20)))

	hc = container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1}}
	assert.NilError(t, checkRuntimeOptions(&hc))
	assert.Check(t, is.Equal(hc.MemorySwap, int64(-1)))
}

func TestCheckRuntimeOptionsModes(t *testing.T) {
	tests := []struct {
		hc      container.HostConfig
		message string
	}{
		{hc: container.HostConfig{IpcMode: "bogus"}, message: "invalid IPC mode: bogus"},
		{hc: container.HostConfig{IpcMode: "container:"}, message: "invalid IPC mode: container:"},
		{hc: container.HostConfig{PidMode: "private"}, message: "invalid PID mode: private"},
		{hc: container.HostConfig{UTSMode: "container:x"}, message: "invalid UTS mode: container:x"},
		{hc: container.HostConfig{Sysctls: map[string]string{"kernel.hostname": "x"}}, message: `sysctl "kernel.hostname" is not allowed`},
		{hc: container.HostConfig{Resources: container.Resources{Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}}},
			message: "soft limit 10 is above hard limit 5"},
		{hc: container.HostConfig{SecurityOpt: []string{"seccomp=/path/profile.json"}}, message: "expected the JSON content"},
		{hc: container.HostConfig{SecurityOpt: []string{"no-new-privileges=maybe"}}, message: "takes true or false"},
		{hc: container.HostConfig{SecurityOpt: []string{"bogus"}}, message: `invalid --security-opt "bogus"`},
	}
	for _, tc := range tests {
		err := checkRuntimeOptions(&tc.hc)
		assert.Check(t, is.ErrorContains(err, tc.message))
		assert.Check(t, errdefs.IsInvalidArgument(err), "%v", err)
	}

	for _, hc := range []container.HostConfig{
		{IpcMode: "shareable", PidMode: "host", UTSMode: "host"},
		{IpcMode: "container:db", PidMode: "container:db"},
		{SecurityOpt: []string{"no-new-privileges:true", "seccomp=unconfined", "apparmor=unconfined", "label=disable"}},
		{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}},
	} {
		assert.Check(t, checkRuntimeOptions(&hc), "%+v", hc)
	}
}

func TestRestartDelayBackOff(t *testing.T) {
	var tk task
	var delays []time.Duration
	for range 4 {
		delays = append(delays, nextRestartDelay(&tk, time.Second))
	}
	assert.Check(t, is.DeepEqual(delays, []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
	}))

	// Ten seconds of running start the back-off over.
	assert.Check(t, is.Equal(nextRestartDelay(&tk, 10*time.Second), 100*time.Millisecond))

	tk.restartDelay = 50 * time.Second
	assert.Check(t, is.Equal(nextRestartDelay(&tk, time.Second), time.Minute))
}
