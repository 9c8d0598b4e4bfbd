// Package spec generates the OCI runtime spec (config.json) of a container
// with Docker's defaults: capabilities, masked and read-only paths, kernel
// file system mounts, device rules, namespaces and the default seccomp
// profile.
package spec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Network namespace choices for Options.NetNSPath besides a namespace path.
const (
	// NetNSHost (the empty string) runs the container in the host's network
	// namespace.
	NetNSHost = ""
	// NetNSNone gives the container a new network namespace that contains
	// only the loopback interface, like docker run --network none.
	NetNSNone = "none"
)

// Options describe one container process and its sandbox.
type Options struct {
	// ID is the container id. It names the cgroup when CgroupsPath is empty.
	ID string
	// Rootfs is the root file system directory. The user database is read
	// from its /etc/passwd and /etc/group.
	Rootfs         string
	ReadonlyRootfs bool

	// Args is the command and its arguments. runc looks Args[0] up in the
	// container's PATH.
	Args []string
	// Env holds KEY=value entries. PATH, HOSTNAME and, with Terminal,
	// TERM=xterm are added unless Env sets them.
	Env []string
	// Cwd is the working directory inside the container, "/" when empty.
	Cwd string
	// User is "", "name", "uid", "name:group" or "uid:gid", as in Docker.
	User string
	// GroupAdd are additional group names or ids for the process.
	GroupAdd []string
	// Terminal allocates a pseudo terminal for the process.
	Terminal bool
	// ConsoleSize is the initial terminal size as [height, width]. Zero
	// leaves runc's default.
	ConsoleSize [2]uint

	// Hostname is the container's host name in its UTS namespace.
	Hostname string
	// NetNSPath is a network namespace to join (such as a bind mount under
	// <exec-root>/netns), NetNSHost or NetNSNone.
	NetNSPath string
	// HostsPath, ResolvConfPath and HostnamePath are host files bind-mounted
	// at /etc/hosts, /etc/resolv.conf and /etc/hostname when set.
	HostsPath, ResolvConfPath, HostnamePath string
	// Mounts are extra mounts (volumes, binds, tmpfs) added after the
	// defaults. A mount on a default destination replaces the default.
	Mounts []specs.Mount
	// ShmSize is the size of /dev/shm in bytes, 64 MiB when 0.
	ShmSize int64

	// Memory is the memory limit in bytes, none when 0.
	Memory int64
	// MemorySwap is the memory plus swap limit in bytes, set when positive,
	// and -1 for unlimited swap. Docker's API layer turns 0 into twice
	// Memory, so callers that want Docker's behaviour do that before
	// calling Generate.
	MemorySwap int64
	// MemoryReservation is the soft memory limit in bytes, none when 0.
	MemoryReservation int64
	// OomKillDisable turns the OOM killer off for the cgroup. Only cgroup v1
	// has this setting.
	OomKillDisable bool
	// NanoCPUs is the CPU quota in billionths of a CPU.
	NanoCPUs int64
	// CPUShares is the relative CPU weight, none when 0.
	CPUShares int64
	// CPUPeriod and CPUQuota are the CFS period and quota in microseconds,
	// used when NanoCPUs is 0. Zero leaves them unset.
	CPUPeriod, CPUQuota int64
	// CpusetCpus and CpusetMems are the CPUs and memory nodes the container
	// may use, in the kernel's list format ("0-2,4"). Empty means all.
	CpusetCpus, CpusetMems string
	// PidsLimit limits the number of processes. nil leaves it unset, and a
	// value <= 0 means unlimited.
	PidsLimit *int64
	// CgroupsPath overrides the cgroup, "berth/<ID>" by default. runc
	// resolves a relative path below the cgroup of the process that runs
	// it.
	CgroupsPath string
	// OOMScoreAdj is the process's oom_score_adj. Lowering it below the
	// current value needs CAP_SYS_RESOURCE.
	OOMScoreAdj int
	// Rlimits are process resource limits. Without CAP_SYS_RESOURCE a hard
	// limit above this process's own is an error, because runc cannot
	// raise it.
	Rlimits []specs.POSIXRlimit
	// Sysctls are namespaced kernel parameters, applied after the defaults.
	Sysctls map[string]string

	// Privileged grants every available capability and host device, and
	// turns off seccomp, masked and read-only paths.
	Privileged bool
	// CapAdd and CapDrop adjust the default capabilities. Names may omit
	// the CAP_ prefix and "ALL" means every capability.
	CapAdd, CapDrop []string
	// NoNewPrivileges sets no_new_privs on the process (Docker's
	// --security-opt no-new-privileges), off by default like Docker.
	NoNewPrivileges bool
	// SeccompUnconfined turns off the default seccomp profile.
	SeccompUnconfined bool
	// SeccompProfile is a seccomp profile in Docker's JSON format that
	// replaces the default profile when set.
	SeccompProfile string

	// Devices are host devices to create in the container.
	Devices []DeviceMapping
	// IPCNamespace and PIDNamespace are NamespacePrivate (the empty
	// string), NamespaceHost or the path of a namespace to join.
	IPCNamespace, PIDNamespace string
	// NoShm leaves out /dev/shm, as --ipc none does.
	NoShm bool
	// UTSHost runs the container in the host's UTS namespace. Hostname is
	// then ignored.
	UTSHost bool
}

// Generate returns the OCI spec for opts, reading the machine's capability
// bounding set, rlimits, sysctls and device nodes where the spec depends on
// them. Invalid options return an error wrapping errdefs.ErrInvalidArgument.
func Generate(opts Options) (*specs.Spec, error) {
	h, err := probeHost()
	if err != nil {
		return nil, err
	}
	return generate(opts, h)
}

func generate(opts Options, h host) (*specs.Spec, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}

	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: opts.Rootfs, Readonly: opts.ReadonlyRootfs},
		Hostname: opts.Hostname,
		Mounts:   defaultMounts(),
		Linux: &specs.Linux{
			MaskedPaths:   append(defaultMaskedPaths(), h.extraMaskedPaths...),
			ReadonlyPaths: defaultReadonlyPaths(),
			Namespaces:    namespaces(opts.NetNSPath),
			Devices:       []specs.LinuxDevice{},
			Resources:     &specs.LinuxResources{Devices: defaultDeviceRules()},
			CgroupsPath:   opts.CgroupsPath,
		},
	}
	if s.Linux.CgroupsPath == "" {
		s.Linux.CgroupsPath = "berth/" + opts.ID
	}

	if err := setProcess(s, opts, h); err != nil {
		return nil, err
	}
	setResources(s.Linux.Resources, opts)
	setSysctls(s.Linux, opts, h)
	setMounts(s, opts)
	setNamespaceModes(s, opts)
	if err := setDevices(s.Linux, opts.Devices); err != nil {
		return nil, err
	}

	if opts.Privileged {
		if err := setPrivileged(s, h); err != nil {
			return nil, err
		}
		return s, nil
	}
	if opts.SeccompProfile != "" && !opts.SeccompUnconfined {
		profile, err := seccomp.LoadProfile(opts.SeccompProfile, s)
		if err != nil {
			return nil, fmt.Errorf("invalid seccomp profile: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		s.Linux.Seccomp = profile
		return s, nil
	}
	if !opts.SeccompUnconfined {
		profile, err := h.seccomp(s)
		if err != nil {
			return nil, fmt.Errorf("convert default seccomp profile: %w", err)
		}
		s.Linux.Seccomp = profile
	}
	return s, nil
}

func validate(opts Options) error {
	switch {
	case opts.ID == "":
		return fmt.Errorf("generate spec: missing container id: %w", errdefs.ErrInvalidArgument)
	case opts.Rootfs == "":
		return fmt.Errorf("generate spec for %s: missing rootfs: %w", opts.ID, errdefs.ErrInvalidArgument)
	case len(opts.Args) == 0 || opts.Args[0] == "":
		return fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// namespaces returns Docker's namespace set for the network choice.
// NOTE: Docker also requests a time namespace on kernels >= 5.6, but Debian
// 12's runc 1.1.5 does not support time namespaces, so none is requested.
func namespaces(netNSPath string) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	switch netNSPath {
	case NetNSHost:
	case NetNSNone:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	default:
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netNSPath})
	}
	return append(ns,
		specs.LinuxNamespace{Type: specs.UTSNamespace},
		specs.LinuxNamespace{Type: specs.PIDNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace},
	)
}

func setProcess(s *specs.Spec, opts Options, h host) error {
	usr, err := resolveUser(opts.Rootfs, opts.User, opts.GroupAdd)
	if err != nil {
		return err
	}
	caps, err := capabilities(opts, availableCapabilities(h.capBounding))
	if err != nil {
		return err
	}
	rlimits, err := capRlimits(opts.Rlimits, h)
	if err != nil {
		return err
	}

	cwd := opts.Cwd
	if cwd == "" {
		cwd = "/"
	}
	oomScoreAdj := opts.OOMScoreAdj

	s.Process = &specs.Process{
		Terminal: opts.Terminal,
		User:     usr,
		Args:     opts.Args,
		Env:      environment(opts),
		Cwd:      cwd,
		Capabilities: &specs.LinuxCapabilities{
			Bounding:  caps,
			Effective: caps,
			Permitted: caps,
		},
		Rlimits:         rlimits,
		NoNewPrivileges: opts.NoNewPrivileges,
		OOMScoreAdj:     &oomScoreAdj,
	}
	if opts.Terminal && (opts.ConsoleSize[0] > 0 || opts.ConsoleSize[1] > 0) {
		s.Process.ConsoleSize = &specs.Box{Height: opts.ConsoleSize[0], Width: opts.ConsoleSize[1]}
	}
	return nil
}

// environment builds the process environment the way Docker does: PATH,
// HOSTNAME and TERM first, each replaced in place by an Env entry with the
// same key, then the other Env entries in order.
func environment(opts Options) []string {
	env := []string{"PATH=" + defaultPath, "HOSTNAME=" + opts.Hostname}
	if opts.Terminal {
		env = append(env, "TERM=xterm")
	}

	for _, entry := range opts.Env {
		key, _, _ := strings.Cut(entry, "=")
		replaced := false
		for i, existing := range env {
			if existingKey, _, _ := strings.Cut(existing, "="); existingKey == key {
				env[i] = entry
				replaced = true
				break
			}
		}
		if !replaced {
			env = append(env, entry)
		}
	}
	return env
}

// capRlimits checks the requested limits. A hard limit above this process's
// own is an error without CAP_SYS_RESOURCE, because runc cannot raise it.
func capRlimits(requested []specs.POSIXRlimit, h host) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	for _, rl := range requested {
		resource, ok := rlimitResources[rl.Type]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit type %q: %w", rl.Type, errdefs.ErrInvalidArgument)
		}
		if rl.Soft > rl.Hard {
			return nil, fmt.Errorf("invalid %s: soft limit %d is above hard limit %d: %w",
				rl.Type, rl.Soft, rl.Hard, errdefs.ErrInvalidArgument)
		}
		current, err := h.rlimit(resource)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", rl.Type, err)
		}
		if rl.Hard > current.Max && !h.canRaiseRlimits {
			return nil, fmt.Errorf("invalid %s: hard limit %d is above the daemon's hard limit %d, "+
				"and raising it needs CAP_SYS_RESOURCE; request at most %d: %w",
				rl.Type, rl.Hard, current.Max, current.Max, errdefs.ErrInvalidArgument)
		}
		out = append(out, rl)
	}
	return out, nil
}

func setResources(r *specs.LinuxResources, opts Options) {
	var memory specs.LinuxMemory
	if opts.Memory > 0 {
		limit := opts.Memory
		memory.Limit = &limit
	}
	if opts.MemorySwap > 0 || opts.MemorySwap == -1 {
		swap := opts.MemorySwap
		memory.Swap = &swap
	}
	if opts.MemoryReservation > 0 {
		reservation := opts.MemoryReservation
		memory.Reservation = &reservation
	}
	if opts.OomKillDisable {
		disable := true
		memory.DisableOOMKiller = &disable
	}
	if memory != (specs.LinuxMemory{}) {
		r.Memory = &memory
	}

	var cpu specs.LinuxCPU
	if opts.CPUShares > 0 {
		shares := uint64(opts.CPUShares)
		cpu.Shares = &shares
	}
	if opts.NanoCPUs > 0 {
		// Docker uses a 100 ms CFS period and gives the container the
		// requested share of it as quota.
		period := uint64(100_000)
		quota := opts.NanoCPUs * int64(period) / 1e9
		cpu.Period = &period
		cpu.Quota = &quota
	}
	if opts.NanoCPUs == 0 && opts.CPUPeriod > 0 {
		period := uint64(opts.CPUPeriod)
		cpu.Period = &period
	}
	if opts.NanoCPUs == 0 && opts.CPUQuota != 0 {
		quota := opts.CPUQuota
		cpu.Quota = &quota
	}
	cpu.Cpus = opts.CpusetCpus
	cpu.Mems = opts.CpusetMems
	if cpu != (specs.LinuxCPU{}) {
		r.CPU = &cpu
	}

	if opts.PidsLimit != nil {
		limit := *opts.PidsLimit
		if limit <= 0 {
			// runc needs -1 to mean unlimited.
			limit = -1
		}
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
}

// setSysctls adds Docker's defaults for a private network namespace (ICMP
// echo sockets and ports below 1024 without capabilities) where the kernel has
// them, then opts.Sysctls.
func setSysctls(l *specs.Linux, opts Options, h host) {
	sysctls := map[string]string{}
	if opts.NetNSPath != NetNSHost {
		if h.sysctlExists("net.ipv4.ping_group_range") {
			sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if h.sysctlExists("net.ipv4.ip_unprivileged_port_start") {
			sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	maps.Copy(sysctls, opts.Sysctls)
	if len(sysctls) > 0 {
		l.Sysctl = sysctls
	}
}

// setMounts sizes /dev/shm, adds the /etc bind mounts and opts.Mounts, and
// makes the non-kernel mounts read-only with a read-only rootfs, as Docker
// does.
func setMounts(s *specs.Spec, opts Options) {
	shmSize := opts.ShmSize
	if shmSize <= 0 {
		shmSize = defaultShmSize
	}

	var extra []specs.Mount
	for _, file := range []struct{ source, destination string }{
		{opts.ResolvConfPath, "/etc/resolv.conf"},
		{opts.HostnamePath, "/etc/hostname"},
		{opts.HostsPath, "/etc/hosts"},
	} {
		if file.source == "" {
			continue
		}
		options := []string{"rbind", "rprivate"}
		if opts.ReadonlyRootfs {
			options = append(options, "ro")
		}
		extra = append(extra, specs.Mount{
			Destination: file.destination,
			Type:        "bind",
			Source:      file.source,
			Options:     options,
		})
	}
	extra = append(extra, opts.Mounts...)

	replaced := map[string]bool{}
	for _, m := range extra {
		replaced[m.Destination] = true
	}

	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if replaced[m.Destination] || (replaced["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		if m.Destination == "/dev/shm" {
			m.Options = append(m.Options, "size="+strconv.FormatInt(shmSize, 10))
		}
		if opts.ReadonlyRootfs && !keepsWritable(m.Destination) && !slices.Contains(m.Options, "ro") {
			m.Options = append(m.Options, "ro")
		}
		mounts = append(mounts, m)
	}
	s.Mounts = append(mounts, extra...)
}

// keepsWritable reports whether a default mount stays writable with a
// read-only rootfs.
func keepsWritable(destination string) bool {
	switch destination {
	case "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue":
		return true
	}
	return false
}

// setPrivileged gives the container every host device, a writable /sys and
// cgroup file system and no masked or read-only paths.
func setPrivileged(s *specs.Spec, h host) error {
	devices, err := h.devices()
	if err != nil {
		return err
	}
	s.Linux.Devices = devices
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	s.Linux.MaskedPaths = nil
	s.Linux.ReadonlyPaths = nil

	for i, m := range s.Mounts {
		if m.Destination == "/sys" || m.Type == "cgroup" {
			s.Mounts[i].Options = removeOption(m.Options, "ro")
		}
	}
	return nil
}

func removeOption(options []string, option string) []string {
	var out []string
	for _, o := range options {
		if o != option {
			out = append(out, o)
		}
	}
	return out
}

// Resources returns the cgroup limits of opts, the ones runc update applies
// to a running container.
func Resources(opts Options) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	setResources(r, opts)
	return r
}
