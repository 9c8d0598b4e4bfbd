package spec

import (
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func baseOptions() Options {
	return Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, Hostname: "box", NetNSPath: NetNSNone}
}

func namespaceTypes(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		out = append(out, ns.Type)
	}
	return out
}

func mountOf(s *specs.Spec, destination string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == destination {
			return m, true
		}
	}
	return specs.Mount{}, false
}

func TestNamespaceModesHost(t *testing.T) {
	opts := baseOptions()
	opts.IPCNamespace = NamespaceHost
	opts.PIDNamespace = NamespaceHost
	opts.UTSHost = true
	s, err := generate(opts, fakeHost())
	assert.NilError(t, err)

	types := namespaceTypes(s)
	assert.Check(t, !slices.Contains(types, specs.IPCNamespace))
	assert.Check(t, !slices.Contains(types, specs.PIDNamespace))
	assert.Check(t, !slices.Contains(types, specs.UTSNamespace))
	assert.Check(t, slices.Contains(types, specs.MountNamespace))
	assert.Check(t, is.Equal(s.Hostname, ""))

	shm, ok := mountOf(s, "/dev/shm")
	assert.Assert(t, ok)
	assert.Check(t, is.Equal(shm.Type, "bind"))
	assert.Check(t, is.Equal(shm.Source, "/dev/shm"))
}

func TestNamespaceModesJoinPath(t *testing.T) {
	opts := baseOptions()
	opts.IPCNamespace = "/proc/42/ns/ipc"
	opts.PIDNamespace = "/proc/42/ns/pid"
	s, err := generate(opts, fakeHost())
	assert.NilError(t, err)

	paths := map[specs.LinuxNamespaceType]string{}
	for _, ns := range s.Linux.Namespaces {
		paths[ns.Type] = ns.Path
	}
	assert.Check(t, is.Equal(paths[specs.IPCNamespace], "/proc/42/ns/ipc"))
	assert.Check(t, is.Equal(paths[specs.PIDNamespace], "/proc/42/ns/pid"))
	assert.Check(t, is.Equal(s.Hostname, "box"))
}

func TestNamespaceModesNoShm(t *testing.T) {
	opts := baseOptions()
	opts.NoShm = true
	s, err := generate(opts, fakeHost())
	assert.NilError(t, err)
	_, ok := mountOf(s, "/dev/shm")
	assert.Check(t, !ok)
}

func TestDevicesMapped(t *testing.T) {
	opts := baseOptions()
	opts.Devices = []DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "r"}}
	s, err := generate(opts, fakeHost())
	assert.NilError(t, err)

	assert.Assert(t, is.Len(s.Linux.Devices, 1))
	device := s.Linux.Devices[0]
	assert.Check(t, is.Equal(device.Path, "/dev/mynull"))
	assert.Check(t, is.Equal(device.Type, "c"))
	assert.Check(t, is.Equal(device.Major, int64(1)))
	assert.Check(t, is.Equal(device.Minor, int64(3)))

	rule := s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1]
	assert.Check(t, rule.Allow)
	assert.Check(t, is.Equal(rule.Access, "r"))
	assert.Check(t, is.Equal(*rule.Major, int64(1)))
	assert.Check(t, is.Equal(*rule.Minor, int64(3)))
}

func TestDevicesInvalid(t *testing.T) {
	for _, mapping := range []DeviceMapping{
		{PathOnHost: "/dev/null", CgroupPermissions: "rwx"},
		{PathOnHost: "testdata"},
		{PathOnHost: "/dev/does-not-exist"},
	} {
		opts := baseOptions()
		opts.Devices = []DeviceMapping{mapping}
		_, err := generate(opts, fakeHost())
		assert.Check(t, errdefs.IsInvalidArgument(err), "%+v: %v", mapping, err)
	}
}

func TestResourcesCPUAndMemory(t *testing.T) {
	r := Resources(Options{
		CPUPeriod: 50_000, CPUQuota: 25_000, CpusetCpus: "0-1", CpusetMems: "0",
		Memory: 64 << 20, MemorySwap: -1, MemoryReservation: 32 << 20, OomKillDisable: true,
	})
	assert.Assert(t, r.CPU != nil)
	assert.Check(t, is.Equal(*r.CPU.Period, uint64(50_000)))
	assert.Check(t, is.Equal(*r.CPU.Quota, int64(25_000)))
	assert.Check(t, is.Equal(r.CPU.Cpus, "0-1"))
	assert.Check(t, is.Equal(r.CPU.Mems, "0"))
	assert.Assert(t, r.Memory != nil)
	assert.Check(t, is.Equal(*r.Memory.Swap, int64(-1)))
	assert.Check(t, is.Equal(*r.Memory.Reservation, int64(32<<20)))
	assert.Check(t, *r.Memory.DisableOOMKiller)

	// --cpus takes precedence over a period and quota.
	r = Resources(Options{NanoCPUs: 500_000_000, CPUPeriod: 50_000, CPUQuota: 1000})
	assert.Check(t, is.Equal(*r.CPU.Period, uint64(100_000)))
	assert.Check(t, is.Equal(*r.CPU.Quota, int64(50_000)))

	assert.Check(t, is.Nil(Resources(Options{}).CPU))
}

func TestRlimitAboveHardLimit(t *testing.T) {
	opts := baseOptions()
	opts.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 8192, Soft: 1024}}
	_, err := generate(opts, fakeHost())
	assert.Check(t, is.ErrorContains(err, "hard limit 8192 is above the daemon's hard limit 4096"))
	assert.Check(t, errdefs.IsInvalidArgument(err))

	h := fakeHost()
	h.canRaiseRlimits = true
	s, err := generate(opts, h)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(s.Process.Rlimits, opts.Rlimits))

	opts.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 100, Soft: 200}}
	_, err = generate(opts, fakeHost())
	assert.Check(t, is.ErrorContains(err, "soft limit 200 is above hard limit 100"))
}

func TestSeccompCustomProfile(t *testing.T) {
	opts := baseOptions()
	opts.SeccompProfile = `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`
	s, err := generate(opts, fakeHost())
	assert.NilError(t, err)
	assert.Assert(t, s.Linux.Seccomp != nil)
	assert.Check(t, is.Equal(s.Linux.Seccomp.DefaultAction, specs.ActAllow))
	assert.Assert(t, is.Len(s.Linux.Seccomp.Syscalls, 1))
	assert.Check(t, is.DeepEqual(s.Linux.Seccomp.Syscalls[0].Names, []string{"mkdir"}))

	opts.SeccompProfile = `{not json`
	_, err = generate(opts, fakeHost())
	assert.Check(t, errdefs.IsInvalidArgument(err))
}

func TestValidateSysctl(t *testing.T) {
	tests := []struct {
		name                 string
		hostIPC, hostNetwork bool
		message              string
	}{
		{name: "net.ipv4.ip_forward"},
		{name: "kernel.shmmax"},
		{name: "fs.mqueue.msg_max"},
		{name: "kernel.hostname", message: "is not allowed: only the namespaced"},
		{name: "vm.swappiness", message: "is not allowed: only the namespaced"},
		{name: "net.ipv4.ip_forward", hostNetwork: true, message: "not allowed in host network namespace"},
		{name: "kernel.sem", hostIPC: true, message: "not allowed with the host's IPC namespace"},
	}
	for _, tc := range tests {
		err := ValidateSysctl(tc.name, tc.hostIPC, tc.hostNetwork)
		if tc.message == "" {
			assert.Check(t, err, tc.name)
			continue
		}
		assert.Check(t, is.ErrorContains(err, tc.message), tc.name)
		assert.Check(t, errdefs.IsInvalidArgument(err), tc.name)
	}
}
