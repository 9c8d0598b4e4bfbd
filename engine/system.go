package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/api/version"
	ctr "github.com/berth-engine/berth/container"
)

// Info describes the daemon and the machine it runs on.
func (e *Engine) Info(ctx context.Context) (system.Info, error) {
	info := system.Info{
		ID:                 "berth",
		Driver:             "overlay2",
		DriverStatus:       [][2]string{{"Backing Filesystem", backingFilesystem(e.cfg.DataRoot)}},
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		DockerRootDir:      e.cfg.DataRoot,
		DefaultRuntime:     "runc",
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: e.cfg.RuncBinary}}},
		OperatingSystem:    operatingSystem(),
		OSType:             "linux",
		Architecture:       machineArch(),
		KernelVersion:      kernelVersion(),
		NCPU:               runtime.NumCPU(),
		ServerVersion:      e.cfg.Version,
		Name:               hostname(),
		IndexServerAddress: "https://index.docker.io/v1/",
		MemoryLimit:        true,
		SwapLimit:          false,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		PidsLimit:          true,
		IPv4Forwarding:     true,
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		Labels:             []string{},
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		Warnings:           []string{},
		// A Docker Engine outside a swarm reports "inactive", and docker
		// info then leaves out the swarm node details.
		Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		info.MemTotal = int64(si.Totalram) * int64(si.Unit)
	}
	for _, c := range e.containers.List() {
		c.Lock()
		if !c.Hidden {
			info.Containers++
			switch c.State.Status {
			case ctr.Running:
				info.ContainersRunning++
			case ctr.Paused:
				info.ContainersPaused++
			default:
				info.ContainersStopped++
			}
		}
		c.Unlock()
	}
	if imgs, err := e.images.List(ctx); err == nil {
		info.Images = len(imgs)
	}
	info.Plugins.Network = []string{"bridge", "host", "none"}
	info.Plugins.Log = []string{"json-file"}
	return info, nil
}

// Version reports berth's version and the API versions it serves.
func (e *Engine) Version(ctx context.Context) (system.VersionResponse, error) {
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth"},
		Version:       e.cfg.Version,
		APIVersion:    version.Max().String(),
		MinAPIVersion: version.Min().String(),
		Os:            "linux",
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kernelVersion(),
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: e.cfg.Version, Details: map[string]string{
				"ApiVersion": version.Max().String(), "MinAPIVersion": version.Min().String(),
				"Os": "linux", "Arch": runtime.GOARCH, "GoVersion": runtime.Version(),
				"KernelVersion": kernelVersion(),
			}},
		},
	}, nil
}

// Events streams daemon events to fn.
func (e *Engine) Events(ctx context.Context, since, until time.Time, filters map[string][]string, fn func(events.Message) error) error {
	past, live, cancel := e.events.Subscribe(since)
	defer cancel()

	send := func(m events.Message) (bool, error) {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false, nil
		}
		if !matchEvent(m, filters) {
			return true, nil
		}
		return true, fn(m)
	}
	for _, m := range past {
		if more, err := send(m); err != nil || !more {
			return err
		}
	}
	var deadline <-chan time.Time
	if !until.IsZero() {
		timer := time.NewTimer(time.Until(until))
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		select {
		case m := <-live:
			if more, err := send(m); err != nil || !more {
				return err
			}
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

func matchEvent(m events.Message, filters map[string][]string) bool {
	for key, values := range filters {
		ok := len(values) == 0
		for _, v := range values {
			switch key {
			case "type":
				ok = ok || string(m.Type) == v
			case "event", "action":
				ok = ok || string(m.Action) == v
			case "container", "image":
				ok = ok || strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v
			default:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// publishContainer records a container event with Docker's attributes.
func (e *Engine) publishContainer(c *ctr.Container, action events.Action) {
	e.publishContainerWith(c, action, nil)
}

// publishContainerWith publishes a container event with extra attributes
// besides the name, image and labels.
func (e *Engine) publishContainerWith(c *ctr.Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{"name": c.Name, "image": c.ImageName}
	for k, v := range c.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	if action == events.ActionDie {
		attrs["exitCode"] = itoa(c.State.ExitCode)
	}
	e.events.Publish(events.ContainerEventType, action, c.ID, attrs)
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

// backingFilesystem names the filesystem under dir as Docker's info does.
func backingFilesystem(dir string) string {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func machineArch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func operatingSystem() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
