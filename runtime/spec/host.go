package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// host is what Generate reads from the machine. Tests replace it to get the
// same spec on every machine.
type host struct {
	// capBounding is the bounding capability set of this process.
	capBounding uint64
	// canRaiseRlimits is whether this process has CAP_SYS_RESOURCE in its
	// effective set, so that runc can raise hard rlimits.
	canRaiseRlimits bool
	// sysctlExists reports whether /proc/sys has the given dotted sysctl.
	sysctlExists func(name string) bool
	// extraMaskedPaths are machine-specific paths to mask, such as per-CPU
	// thermal_throttle directories.
	extraMaskedPaths []string
	// rlimit returns this process's limits for an RLIMIT_* resource number.
	rlimit func(resource int) (unix.Rlimit, error)
	// seccomp converts Docker's default seccomp profile for the spec.
	seccomp func(*specs.Spec) (*specs.LinuxSeccomp, error)
	// devices lists the host's device nodes for privileged containers.
	devices func() ([]specs.LinuxDevice, error)
}

// probeHost reads the facts Generate needs from this machine.
func probeHost() (host, error) {
	bounding, err := readCapSet("CapBnd")
	if err != nil {
		return host{}, err
	}
	effective, err := readCapSet("CapEff")
	if err != nil {
		return host{}, err
	}
	return host{
		capBounding:      bounding,
		canRaiseRlimits:  effective&(1<<unix.CAP_SYS_RESOURCE) != 0,
		sysctlExists:     sysctlExists,
		extraMaskedPaths: thermalThrottlePaths(),
		rlimit: func(resource int) (unix.Rlimit, error) {
			var l unix.Rlimit
			err := unix.Getrlimit(resource, &l)
			return l, err
		},
		seccomp: seccomp.GetDefaultProfile,
		devices: hostDevices,
	}, nil
}

// readCapSet parses a capability set line, such as CapBnd or CapEff, from
// /proc/self/status.
func readCapSet(name string) (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capability set %s: %w", name, err)
	}
	for line := range strings.Lines(string(data)) {
		value, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		set, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", name, strings.TrimSpace(value), err)
		}
		return set, nil
	}
	return 0, fmt.Errorf("read capability set: no %s line in /proc/self/status", name)
}

// sysctlExists reports whether a dotted sysctl name exists, since runc fails
// on sysctls the kernel does not have.
func sysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// thermalThrottlePaths returns the per-CPU thermal_throttle directories of
// this machine, which Docker masks because they leak host power information.
func thermalThrottlePaths() []string {
	paths, err := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
	if err != nil {
		return nil
	}
	return paths
}

// hostDevices lists the character and block devices under /dev, skipping the
// directories that each container mounts for itself, as a privileged
// container gets every host device.
func hostDevices() ([]specs.LinuxDevice, error) {
	var devices []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if path == "/dev/console" {
			return nil
		}

		device, ok, err := deviceFromPath(path)
		if err != nil {
			return err
		}
		if ok {
			devices = append(devices, device)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	return devices, nil
}

// deviceFromPath describes the device node at path. ok is false for files that
// are not device nodes, and for nodes that vanished meanwhile.
func deviceFromPath(path string) (specs.LinuxDevice, bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if err == unix.ENOENT {
			return specs.LinuxDevice{}, false, nil
		}
		return specs.LinuxDevice{}, false, fmt.Errorf("stat %s: %w", path, err)
	}

	var kind string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		kind = "c"
	case unix.S_IFBLK:
		kind = "b"
	default:
		return specs.LinuxDevice{}, false, nil
	}
	mode := fs.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid

	return specs.LinuxDevice{
		Path:     path,
		Type:     kind,
		Major:    int64(unix.Major(st.Rdev)),
		Minor:    int64(unix.Minor(st.Rdev)),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, true, nil
}

// rlimitResources maps OCI rlimit names to resource numbers.
var rlimitResources = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}
