package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Namespace choices for Options.IPCNamespace and PIDNamespace besides a
// namespace path.
const (
	// NamespacePrivate (the empty string) gives the container its own
	// namespace.
	NamespacePrivate = ""
	// NamespaceHost runs the container in the host's namespace.
	NamespaceHost = "host"
)

// DeviceMapping is a host device made available in the container, as in
// docker run --device.
type DeviceMapping struct {
	PathOnHost      string
	PathInContainer string // PathOnHost when empty
	// CgroupPermissions is a combination of r, w and m, "rwm" when empty.
	CgroupPermissions string
}

// setNamespaceModes applies the IPC, PID and UTS choices of opts to the
// namespaces that namespaces() set up.
func setNamespaceModes(s *specs.Spec, opts Options) {
	setNamespace(s.Linux, specs.IPCNamespace, opts.IPCNamespace)
	setNamespace(s.Linux, specs.PIDNamespace, opts.PIDNamespace)
	if opts.UTSHost {
		setNamespace(s.Linux, specs.UTSNamespace, NamespaceHost)
		// runc rejects a host name without a UTS namespace of its own.
		s.Hostname = ""
	}

	switch {
	case opts.NoShm:
		s.Mounts = slices.DeleteFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev/shm" })
	case opts.IPCNamespace == NamespaceHost:
		// With the host's IPC namespace the container shares the host's
		// POSIX shared memory too, as in Docker.
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" && m.Type == "tmpfs" {
				s.Mounts[i] = specs.Mount{
					Destination: "/dev/shm",
					Type:        "bind",
					Source:      "/dev/shm",
					Options:     []string{"rbind", "rprivate"},
				}
			}
		}
	}
}

// setNamespace removes the namespace of type kind for NamespaceHost, or
// makes it join the namespace at path.
func setNamespace(l *specs.Linux, kind specs.LinuxNamespaceType, mode string) {
	for i, ns := range l.Namespaces {
		if ns.Type != kind {
			continue
		}
		switch mode {
		case NamespacePrivate:
		case NamespaceHost:
			l.Namespaces = slices.Delete(l.Namespaces, i, i+1)
		default:
			l.Namespaces[i].Path = mode
		}
		return
	}
}

// setDevices creates the device nodes of mappings in the container and
// allows them in the device cgroup.
func setDevices(l *specs.Linux, mappings []DeviceMapping) error {
	for _, m := range mappings {
		permissions := m.CgroupPermissions
		if permissions == "" {
			permissions = "rwm"
		}
		if strings.Trim(permissions, "rwm") != "" {
			return fmt.Errorf("invalid device permissions %q for %s: use a combination of r, w and m: %w",
				permissions, m.PathOnHost, errdefs.ErrInvalidArgument)
		}
		device, ok, err := deviceFromPath(m.PathOnHost)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("error gathering device information while adding custom device %q: not a device node: %w",
				m.PathOnHost, errdefs.ErrInvalidArgument)
		}
		if m.PathInContainer != "" {
			device.Path = m.PathInContainer
		}
		major, minor := device.Major, device.Minor
		l.Devices = append(l.Devices, device)
		l.Resources.Devices = append(l.Resources.Devices, specs.LinuxDeviceCgroup{
			Allow:  true,
			Type:   device.Type,
			Major:  &major,
			Minor:  &minor,
			Access: permissions,
		})
	}
	return nil
}

// ipcSysctls are the IPC namespace's sysctls that Docker allows with
// --sysctl. Names under fs.mqueue. belong to that namespace too.
var ipcSysctls = []string{
	"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}

// ValidateSysctl checks that name is a namespaced sysctl that Docker allows
// with --sysctl, and that the container has its own namespace for it:
// IPC sysctls need a private IPC namespace and net.* ones a private network
// namespace.
func ValidateSysctl(name string, hostIPC, hostNetwork bool) error {
	switch {
	case slices.Contains(ipcSysctls, name) || strings.HasPrefix(name, "fs.mqueue."):
		if hostIPC {
			return fmt.Errorf("sysctl %q is not allowed with the host's IPC namespace (--ipc host): %w",
				name, errdefs.ErrInvalidArgument)
		}
	case strings.HasPrefix(name, "net."):
		if hostNetwork {
			return fmt.Errorf("sysctl %q is not allowed in host network namespace: %w", name, errdefs.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("sysctl %q is not allowed: only the namespaced kernel.msg*, kernel.sem, kernel.shm*, "+
			"fs.mqueue.* and net.* sysctls can be set: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}
