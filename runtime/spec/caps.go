package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// capabilityNames lists the Linux capabilities by number, as in
// linux/capability.h up to CAP_CHECKPOINT_RESTORE (Linux 5.9).
var capabilityNames = [...]string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

const allCapabilities = "ALL"

// availableCapabilities returns the names of the capabilities whose bits are
// set in bounding, in capability number order.
func availableCapabilities(bounding uint64) []string {
	var names []string
	for i, name := range capabilityNames {
		if bounding&(1<<uint(i)) != 0 {
			names = append(names, name)
		}
	}
	return names
}

// normalizeCapabilities upper-cases names and adds the CAP_ prefix, as Docker
// accepts "net_admin" for CAP_NET_ADMIN. "ALL" is kept as is. A name that is
// unknown, or known but outside the process's bounding set, is an
// invalid-argument error.
func normalizeCapabilities(names []string, available []string) ([]string, error) {
	var out []string
	for _, name := range names {
		name = strings.ToUpper(name)
		if name == allCapabilities {
			out = append(out, name)
			continue
		}
		if !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		if !slices.Contains(capabilityNames[:], name) {
			return nil, fmt.Errorf("unknown capability: %q: %w", name, errdefs.ErrInvalidArgument)
		}
		if !slices.Contains(available, name) {
			return nil, fmt.Errorf("capability not supported by your kernel or not available in the current environment: %q: %w",
				name, errdefs.ErrInvalidArgument)
		}
		out = append(out, name)
	}
	return out, nil
}

// capabilities computes the capability set of the container process the way
// Docker does: privileged containers get every available capability,
// otherwise CapDrop is removed from the defaults and CapAdd appended, with
// "ALL" in either list meaning every available capability. Default
// capabilities outside the process's bounding set are left out, because runc
// cannot grant them.
func capabilities(opts Options, available []string) ([]string, error) {
	if opts.Privileged {
		return available, nil
	}
	if len(opts.CapAdd) == 0 && len(opts.CapDrop) == 0 {
		return intersect(defaultCapabilities(), available), nil
	}

	drop, err := normalizeCapabilities(opts.CapDrop, available)
	if err != nil {
		return nil, err
	}
	add, err := normalizeCapabilities(opts.CapAdd, available)
	if err != nil {
		return nil, err
	}

	var caps []string
	switch {
	case slices.Contains(add, allCapabilities):
		for _, c := range available {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, allCapabilities):
		caps = add
	default:
		for _, c := range intersect(defaultCapabilities(), available) {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range add {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	return caps, nil
}

// intersect returns the names of list that are also in available, in the
// order of list.
func intersect(list, available []string) []string {
	var out []string
	for _, name := range list {
		if slices.Contains(available, name) {
			out = append(out, name)
		}
	}
	return out
}
