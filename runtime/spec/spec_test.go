package spec

import (
	"encoding/json"
	"io/fs"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// fakeHost is a machine with every capability, both network sysctls, one CPU
// with thermal_throttle, an RLIMIT_NOFILE of 1024:4096 for every resource and
// one device node, so the golden files do not depend on the test machine.
func fakeHost() host {
	fileMode := fs.FileMode(0o666)
	zero := uint32(0)
	return host{
		capBounding:      1<<len(capabilityNames) - 1,
		sysctlExists:     func(string) bool { return true },
		extraMaskedPaths: []string{"/sys/devices/system/cpu/cpu0/thermal_throttle"},
		rlimit: func(int) (unix.Rlimit, error) {
			return unix.Rlimit{Cur: 1024, Max: 4096}, nil
		},
		seccomp: func(*specs.Spec) (*specs.LinuxSeccomp, error) {
			return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}, nil
		},
		devices: func() ([]specs.LinuxDevice, error) {
			return []specs.LinuxDevice{{
				Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11,
				FileMode: &fileMode, UID: &zero, GID: &zero,
			}}, nil
		},
	}
}

func TestGenerateGolden(t *testing.T) {
	pids := int64(100)
	tests := []struct {
		name string
		opts Options
	}{
		{
			name: "default",
			opts: Options{
				ID:             "c1",
				Rootfs:         "testdata/rootfs",
				Args:           []string{"sh", "-c", "echo hi"},
				Env:            []string{"FOO=bar"},
				Hostname:       "c1",
				NetNSPath:      "/run/berth/netns/c1",
				HostsPath:      "/var/lib/berth/containers/c1/hosts",
				ResolvConfPath: "/var/lib/berth/containers/c1/resolv.conf",
				HostnamePath:   "/var/lib/berth/containers/c1/hostname",
			},
		},
		{
			name: "tty-user-limits",
			opts: Options{
				ID:             "c2",
				Rootfs:         "testdata/rootfs",
				ReadonlyRootfs: true,
				Args:           []string{"top"},
				Env:            []string{"PATH=/bin", "TERM=vt100", "A=1"},
				Cwd:            "/home/app",
				User:           "app",
				GroupAdd:       []string{"audio", "7"},
				Terminal:       true,
				ConsoleSize:    [2]uint{24, 80},
				Hostname:       "box",
				NetNSPath:      NetNSNone,
				HostsPath:      "/var/lib/berth/containers/c2/hosts",
				Mounts: []specs.Mount{
					{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rprivate"}},
				},
				ShmSize:     1 << 20,
				Memory:      64 << 20,
				MemorySwap:  128 << 20,
				NanoCPUs:    1_500_000_000,
				CPUShares:   512,
				PidsLimit:   &pids,
				CgroupsPath: "custom/c2",
				OOMScoreAdj: 500,
				Rlimits: []specs.POSIXRlimit{
					{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096},
					{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
				},
				Sysctls:         map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"},
				CapAdd:          []string{"net_admin", "CAP_SYS_PTRACE"},
				CapDrop:         []string{"MKNOD"},
				NoNewPrivileges: true,
			},
		},
		{
			name: "privileged",
			opts: Options{
				ID:         "c3",
				Rootfs:     "testdata/rootfs",
				Args:       []string{"sh"},
				User:       "1000:50",
				Privileged: true,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := generate(tc.opts, fakeHost())
			assert.NilError(t, err)

			data, err := json.MarshalIndent(s, "", "  ")
			assert.NilError(t, err)
			golden.Assert(t, string(data)+"\n", tc.name+".golden")
		})
	}
}

func TestGenerateInvalid(t *testing.T) {
	base := Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}}
	tests := []struct {
		name    string
		modify  func(*Options)
		message string
	}{
		{name: "no id", modify: func(o *Options) { o.ID = "" }, message: "missing container id"},
		{name: "no rootfs", modify: func(o *Options) { o.Rootfs = "" }, message: "missing rootfs"},
		{name: "no command", modify: func(o *Options) { o.Args = nil }, message: "no command specified"},
		{name: "unknown capability", modify: func(o *Options) { o.CapAdd = []string{"FLY"} }, message: `unknown capability: "CAP_FLY"`},
		{name: "unknown user", modify: func(o *Options) { o.User = "nobody" }, message: "unable to find user nobody"},
		{name: "unknown group", modify: func(o *Options) { o.User = "app:nogroup" }, message: "unable to find group nogroup"},
		{name: "unknown rlimit", modify: func(o *Options) {
			o.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}}
		}, message: `unknown rlimit type "RLIMIT_FOO"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := base
			tc.modify(&opts)

			_, err := generate(opts, fakeHost())
			assert.Check(t, is.ErrorContains(err, tc.message))
			assert.Check(t, errdefs.IsInvalidArgument(err), "error %v is not an invalid argument", err)
		})
	}
}

func TestGenerateCapabilityOutsideBoundingSet(t *testing.T) {
	h := fakeHost()
	h.capBounding &^= 1 << 24 // CAP_SYS_RESOURCE

	s, err := generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, Privileged: true}, h)
	assert.NilError(t, err)
	assert.Check(t, !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_RESOURCE"))
	assert.Check(t, slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN"))

	_, err = generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, CapAdd: []string{"SYS_RESOURCE"}}, h)
	assert.Check(t, is.ErrorContains(err, "not available in the current environment"))
}

func TestGenerateCapabilitiesAll(t *testing.T) {
	tests := []struct {
		name     string
		add      []string
		drop     []string
		expected []string
	}{
		{name: "drop all add one", add: []string{"KILL"}, drop: []string{"ALL"}, expected: []string{"CAP_KILL"}},
		{name: "add all drop one", add: []string{"ALL"}, drop: []string{"CAP_CHOWN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, CapAdd: tc.add, CapDrop: tc.drop}
			s, err := generate(opts, fakeHost())
			assert.NilError(t, err)

			caps := s.Process.Capabilities.Bounding
			if tc.expected != nil {
				assert.Check(t, is.DeepEqual(caps, tc.expected))
				return
			}
			assert.Check(t, is.Len(caps, len(capabilityNames)-1))
			assert.Check(t, !slices.Contains(caps, "CAP_CHOWN"))
		})
	}
}

func TestGenerateEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		expected []string
	}{
		{
			name:     "defaults",
			opts:     Options{Hostname: "h"},
			expected: []string{"PATH=" + defaultPath, "HOSTNAME=h"},
		},
		{
			name:     "terminal",
			opts:     Options{Terminal: true},
			expected: []string{"PATH=" + defaultPath, "HOSTNAME=", "TERM=xterm"},
		},
		{
			name:     "override in place",
			opts:     Options{Hostname: "h", Env: []string{"A=1", "PATH=/x", "HOSTNAME=y", "B"}},
			expected: []string{"PATH=/x", "HOSTNAME=y", "A=1", "B"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.DeepEqual(environment(tc.opts), tc.expected))
		})
	}
}

func TestGenerateHostNetwork(t *testing.T) {
	s, err := generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}}, fakeHost())
	assert.NilError(t, err)

	for _, ns := range s.Linux.Namespaces {
		assert.Check(t, ns.Type != specs.NetworkNamespace, "host network must not create a network namespace")
	}
	assert.Check(t, is.Nil(s.Linux.Sysctl), "network sysctls apply to private namespaces only")
	assert.Check(t, is.Equal(s.Linux.CgroupsPath, "berth/c"))
}

func TestGenerateRealHostSeccomp(t *testing.T) {
	s, err := Generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}})
	assert.NilError(t, err)
	assert.Assert(t, s.Linux.Seccomp != nil)
	assert.Check(t, is.Equal(s.Linux.Seccomp.DefaultAction, specs.ActErrno))
	assert.Check(t, len(s.Linux.Seccomp.Syscalls) > 0)

	s, err = Generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, Privileged: true})
	assert.NilError(t, err)
	assert.Check(t, is.Nil(s.Linux.Seccomp))

	s, err = Generate(Options{ID: "c", Rootfs: "testdata/rootfs", Args: []string{"sh"}, SeccompUnconfined: true})
	assert.NilError(t, err)
	assert.Check(t, is.Nil(s.Linux.Seccomp))
}
