package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/runtime/spec"
)

// addHostConfigOptions copies the HostConfig settings that specOptions does
// not carry into opts: /dev/shm size, sysctls, extra groups, ulimits, the
// remaining limits, devices, namespace modes and security options.
func (e *Engine) addHostConfigOptions(c *ctr.Container, opts *spec.Options) error {
	hc := c.HostConfig
	opts.ShmSize = hc.ShmSize
	opts.Sysctls = hc.Sysctls
	opts.GroupAdd = hc.GroupAdd
	opts.MemoryReservation = hc.MemoryReservation
	if !swapAccounting() {
		// Like Docker, run without the swap limit where the kernel cannot
		// account swap, because runc fails on the missing cgroup file.
		opts.MemorySwap = 0
	}
	// Docker ignores --oom-kill-disable on cgroup v2, which has no such
	// setting.
	opts.OomKillDisable = hc.OomKillDisable != nil && *hc.OomKillDisable && cgroupVersion() == "1"
	opts.CPUPeriod = hc.CPUPeriod
	opts.CPUQuota = hc.CPUQuota
	opts.CpusetCpus = hc.CpusetCpus
	opts.CpusetMems = hc.CpusetMems
	for _, u := range hc.Ulimits {
		opts.Rlimits = append(opts.Rlimits, specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Hard: uint64(u.Hard),
			Soft: uint64(u.Soft),
		})
	}
	for _, d := range hc.Devices {
		opts.Devices = append(opts.Devices, spec.DeviceMapping{
			PathOnHost:        d.PathOnHost,
			PathInContainer:   d.PathInContainer,
			CgroupPermissions: d.CgroupPermissions,
		})
	}
	for _, opt := range hc.SecurityOpt {
		if err := addSecurityOpt(opts, opt); err != nil {
			return err
		}
	}

	var err error
	opts.IPCNamespace, err = e.namespaceMode("ipc", string(hc.IpcMode))
	if err != nil {
		return err
	}
	opts.NoShm = hc.IpcMode == "none"
	opts.PIDNamespace, err = e.namespaceMode("pid", string(hc.PidMode))
	if err != nil {
		return err
	}
	opts.UTSHost = hc.UTSMode == "host"
	return nil
}

// swapAccounting reports whether the kernel accounts swap per cgroup, so
// that a swap limit can be set.
// NOTE: only cgroup v1 is checked; on cgroup v2 swap accounting is assumed.
func swapAccounting() bool {
	if cgroupVersion() == "2" {
		return true
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// namespaceMode turns an --ipc or --pid value into a spec namespace choice:
// "host", private, or the namespace of the running container that
// "container:NAME" names.
// NOTE: --ipc container:NAME joins the IPC namespace but not the other
// container's /dev/shm, which Docker shares as well; "shareable" is private.
func (e *Engine) namespaceMode(kind, mode string) (string, error) {
	ref, isContainer := strings.CutPrefix(mode, "container:")
	switch {
	case mode == "host":
		return spec.NamespaceHost, nil
	case !isContainer:
		return spec.NamespacePrivate, nil
	}
	other, err := e.get(ref)
	if err != nil {
		return "", fmt.Errorf("cannot join the %s namespace of container %s: %w", kind, ref, err)
	}
	other.Lock()
	pid, running := other.State.Pid, other.State.Status == ctr.Running
	other.Unlock()
	if !running || pid <= 0 {
		return "", fmt.Errorf("cannot join the %s namespace of container %s: it is not running: %w",
			kind, ref, errdefs.ErrConflict)
	}
	return fmt.Sprintf("/proc/%d/ns/%s", pid, kind), nil
}

// checkRuntimeOptions rejects at create the limits, namespace modes and
// security settings that no start could apply, and gives an unset swap
// limit Docker's default of twice the memory limit.
func checkRuntimeOptions(hc *container.HostConfig) error {
	if hc.Memory > 0 && hc.MemorySwap == 0 {
		hc.MemorySwap = 2 * hc.Memory
	}
	if err := checkResources(hc); err != nil {
		return err
	}

	switch mode := string(hc.IpcMode); {
	case mode == "", mode == "private", mode == "shareable", mode == "host", mode == "none":
	case strings.HasPrefix(mode, "container:") && len(mode) > len("container:"):
	default:
		return fmt.Errorf("invalid IPC mode: %s: %w", mode, errdefs.ErrInvalidArgument)
	}
	switch mode := string(hc.PidMode); {
	case mode == "", mode == "host":
	case strings.HasPrefix(mode, "container:") && len(mode) > len("container:"):
	default:
		return fmt.Errorf("invalid PID mode: %s: %w", mode, errdefs.ErrInvalidArgument)
	}
	switch hc.UTSMode {
	case "", "host":
	default:
		return fmt.Errorf("invalid UTS mode: %s: %w", hc.UTSMode, errdefs.ErrInvalidArgument)
	}

	for name := range hc.Sysctls {
		if err := spec.ValidateSysctl(name, hc.IpcMode == "host", hc.NetworkMode == "host"); err != nil {
			return err
		}
	}
	for _, u := range hc.Ulimits {
		if u.Soft > u.Hard {
			return fmt.Errorf("invalid ulimit %s: soft limit %d is above hard limit %d: %w",
				u.Name, u.Soft, u.Hard, errdefs.ErrInvalidArgument)
		}
	}
	for _, d := range hc.Devices {
		if d.PathOnHost == "" {
			return fmt.Errorf("invalid device mapping: missing host path: %w", errdefs.ErrInvalidArgument)
		}
	}
	var scratch spec.Options
	for _, opt := range hc.SecurityOpt {
		if err := addSecurityOpt(&scratch, opt); err != nil {
			return err
		}
	}
	return nil
}

// addSecurityOpt applies one --security-opt value. AppArmor and SELinux
// label options are accepted and have no effect, because berth applies
// neither.
func addSecurityOpt(opts *spec.Options, opt string) error {
	key, value, hasValue := strings.Cut(opt, "=")
	if !hasValue {
		key, value, hasValue = strings.Cut(opt, ":")
	}
	switch key {
	case "no-new-privileges":
		enabled := true
		if hasValue {
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("invalid --security-opt %q: no-new-privileges takes true or false: %w", opt, errdefs.ErrInvalidArgument)
			}
			enabled = b
		}
		opts.NoNewPrivileges = enabled
	case "seccomp":
		switch value {
		case "unconfined":
			opts.SeccompUnconfined = true
		case "", "builtin":
		default:
			// The docker CLI reads seccomp=PROFILE.json and sends the
			// file's JSON content.
			if !strings.HasPrefix(strings.TrimSpace(value), "{") {
				return fmt.Errorf("invalid --security-opt seccomp=%s: expected the JSON content of a seccomp profile "+
					"(the docker CLI reads the file for you) or unconfined: %w", value, errdefs.ErrInvalidArgument)
			}
			opts.SeccompProfile = value
		}
	case "apparmor", "label":
	default:
		return fmt.Errorf("invalid --security-opt %q: use no-new-privileges, seccomp=PROFILE|unconfined, apparmor=... or label=...: %w",
			opt, errdefs.ErrInvalidArgument)
	}
	return nil
}
