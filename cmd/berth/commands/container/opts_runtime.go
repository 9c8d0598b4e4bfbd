package container

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/go-units"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// resourceOptions are the limit flags that run, create and update share,
// besides --memory, --cpus and --pids-limit.
type resourceOptions struct {
	memorySwap        string
	memoryReservation string
	cpuPeriod         int64
	cpuQuota          int64
	cpusetCpus        string
	cpusetMems        string
}

// runtimeOptions are the health check, limit, namespace and security flags
// of run and create.
type runtimeOptions struct {
	resources resourceOptions

	healthCmd           string
	healthInterval      time.Duration
	healthTimeout       time.Duration
	healthStartPeriod   time.Duration
	healthStartInterval time.Duration
	healthRetries       int
	noHealthcheck       bool

	cpuShares      int64
	shmSize        string
	oomKillDisable bool
	ulimits        []string

	groupAdd    []string
	securityOpt []string
	devices     []string
	sysctls     []string
	ipc         string
	pid         string
	uts         string
}

func addResourceFlags(flags *pflag.FlagSet, opts *resourceOptions) {
	flags.StringVar(&opts.memorySwap, "memory-swap", "",
		"Memory plus swap limit, in bytes or with a unit suffix; -1 for unlimited swap")
	flags.StringVar(&opts.memoryReservation, "memory-reservation", "", "Memory soft limit, in bytes or with a unit suffix")
	flags.Int64Var(&opts.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period, in microseconds")
	flags.Int64Var(&opts.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota, in microseconds")
	flags.StringVar(&opts.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&opts.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
}

func addRuntimeFlags(flags *pflag.FlagSet, opts *runtimeOptions) {
	addResourceFlags(flags, &opts.resources)

	flags.StringVar(&opts.healthCmd, "health-cmd", "", "Command to run to check health")
	flags.DurationVar(&opts.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 30s)")
	flags.DurationVar(&opts.healthTimeout, "health-timeout", 0,
		"Maximum time to allow one check to run (ms|s|m|h) (default 30s)")
	flags.DurationVar(&opts.healthStartPeriod, "health-start-period", 0,
		"Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	flags.DurationVar(&opts.healthStartInterval, "health-start-interval", 0,
		"Time between running the check during the start period (ms|s|m|h) (default 5s)")
	flags.IntVar(&opts.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	flags.BoolVar(&opts.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")

	flags.Int64VarP(&opts.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.StringVar(&opts.shmSize, "shm-size", "", "Size of /dev/shm, in bytes or with a unit suffix (default 64m)")
	flags.BoolVar(&opts.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer (cgroup v1 only)")
	flags.StringArrayVar(&opts.ulimits, "ulimit", nil, "Ulimit options (name=soft[:hard]), only lower than the daemon's")

	flags.StringArrayVar(&opts.groupAdd, "group-add", nil, "Add additional groups to join")
	flags.StringArrayVar(&opts.securityOpt, "security-opt", nil, "Security Options")
	flags.StringArrayVar(&opts.devices, "device", nil, "Add a host device to the container (host[:container[:rwm]])")
	flags.StringArrayVar(&opts.sysctls, "sysctl", nil, "Sysctl options (name=value)")
	flags.StringVar(&opts.ipc, "ipc", "", "IPC mode to use (private, shareable, host, none, container:NAME)")
	flags.StringVar(&opts.pid, "pid", "", "PID namespace to use (host, container:NAME)")
	flags.StringVar(&opts.uts, "uts", "", "UTS namespace to use (host)")
}

// parseResourceOptions adds the values of opts to resources.
func parseResourceOptions(opts *resourceOptions, resources *containertypes.Resources) error {
	if opts.memorySwap == "-1" {
		resources.MemorySwap = -1
	} else if opts.memorySwap != "" {
		swap, err := units.RAMInBytes(opts.memorySwap)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--memory-swap\" flag: %w", opts.memorySwap, err)
		}
		resources.MemorySwap = swap
	}
	if opts.memoryReservation != "" {
		reservation, err := units.RAMInBytes(opts.memoryReservation)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--memory-reservation\" flag: %w", opts.memoryReservation, err)
		}
		resources.MemoryReservation = reservation
	}
	resources.CPUPeriod = opts.cpuPeriod
	resources.CPUQuota = opts.cpuQuota
	resources.CpusetCpus = opts.cpusetCpus
	resources.CpusetMems = opts.cpusetMems
	return nil
}

// applyRuntimeOptions sets the health check in config and the limits,
// namespaces and security settings in hostConfig.
func applyRuntimeOptions(flags *pflag.FlagSet, opts *runtimeOptions, config *containertypes.Config, hostConfig *containertypes.HostConfig) error {
	healthcheck, err := parseHealthcheck(flags, opts)
	if err != nil {
		return err
	}
	config.Healthcheck = healthcheck

	if err := parseResourceOptions(&opts.resources, &hostConfig.Resources); err != nil {
		return err
	}
	hostConfig.CPUShares = opts.cpuShares
	if opts.shmSize != "" {
		size, err := units.RAMInBytes(opts.shmSize)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--shm-size\" flag: %w", opts.shmSize, err)
		}
		hostConfig.ShmSize = size
	}
	if flags.Changed("oom-kill-disable") {
		disable := opts.oomKillDisable
		hostConfig.OomKillDisable = &disable
	}
	for _, value := range opts.ulimits {
		ulimit, err := units.ParseUlimit(value)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"--ulimit\" flag: %w", value, err)
		}
		hostConfig.Ulimits = append(hostConfig.Ulimits, &containertypes.Ulimit{
			Name: ulimit.Name, Soft: ulimit.Soft, Hard: ulimit.Hard,
		})
	}
	for _, value := range opts.devices {
		device, err := parseDevice(value)
		if err != nil {
			return err
		}
		hostConfig.Devices = append(hostConfig.Devices, device)
	}
	for _, value := range opts.sysctls {
		name, setting, ok := strings.Cut(value, "=")
		if !ok || name == "" {
			return fmt.Errorf("invalid argument %q for \"--sysctl\" flag: use name=value", value)
		}
		if hostConfig.Sysctls == nil {
			hostConfig.Sysctls = map[string]string{}
		}
		hostConfig.Sysctls[name] = setting
	}

	hostConfig.GroupAdd = opts.groupAdd
	securityOpt, err := readSeccompProfiles(opts.securityOpt)
	if err != nil {
		return err
	}
	hostConfig.SecurityOpt = securityOpt
	hostConfig.IpcMode = containertypes.IpcMode(opts.ipc)
	hostConfig.PidMode = containertypes.PidMode(opts.pid)
	hostConfig.UTSMode = containertypes.UTSMode(opts.uts)
	if opts.uts == "host" && config.Hostname != "" {
		return fmt.Errorf("conflicting options: hostname and the UTS mode")
	}
	return nil
}

// readSeccompProfiles replaces seccomp=FILE in --security-opt values with
// seccomp=CONTENT, because the daemon takes the profile itself, as Docker's
// does.
func readSeccompProfiles(values []string) ([]string, error) {
	var out []string
	for _, value := range values {
		key, file, ok := strings.Cut(value, "=")
		if !ok || key != "seccomp" || file == "unconfined" || file == "builtin" {
			out = append(out, value)
			continue
		}
		profile, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", file, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, profile); err != nil {
			return nil, fmt.Errorf("invalid seccomp profile %s: %w", file, err)
		}
		out = append(out, "seccomp="+compact.String())
	}
	return out, nil
}

// parseHealthcheck builds the health check of the --health-* flags, nil
// when none is given so that the image's applies.
func parseHealthcheck(flags *pflag.FlagSet, opts *runtimeOptions) (*containertypes.HealthConfig, error) {
	changed := false
	for _, name := range []string{"health-cmd", "health-interval", "health-timeout", "health-start-period",
		"health-start-interval", "health-retries"} {
		changed = changed || flags.Changed(name)
	}
	if opts.noHealthcheck {
		if changed {
			return nil, fmt.Errorf("--no-healthcheck conflicts with --health-* options")
		}
		return &containertypes.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !changed {
		return nil, nil
	}
	for name, value := range map[string]time.Duration{
		"--health-interval":       opts.healthInterval,
		"--health-timeout":        opts.healthTimeout,
		"--health-start-period":   opts.healthStartPeriod,
		"--health-start-interval": opts.healthStartInterval,
	} {
		if value < 0 {
			return nil, fmt.Errorf("%s cannot be negative", name)
		}
	}
	if opts.healthRetries < 0 {
		return nil, fmt.Errorf("--health-retries cannot be negative")
	}

	healthcheck := &containertypes.HealthConfig{
		Interval:      opts.healthInterval,
		Timeout:       opts.healthTimeout,
		StartPeriod:   opts.healthStartPeriod,
		StartInterval: opts.healthStartInterval,
		Retries:       opts.healthRetries,
	}
	if opts.healthCmd != "" {
		healthcheck.Test = []string{"CMD-SHELL", opts.healthCmd}
	}
	return healthcheck, nil
}

// parseDevice parses a --device value: host[:container[:permissions]], or
// host:permissions.
func parseDevice(value string) (containertypes.DeviceMapping, error) {
	parts := strings.Split(value, ":")
	device := containertypes.DeviceMapping{PathOnHost: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if isDevicePermissions(parts[1]) {
			device.CgroupPermissions = parts[1]
		} else {
			device.PathInContainer = parts[1]
		}
	case 3:
		if !isDevicePermissions(parts[2]) {
			return device, fmt.Errorf("invalid device specification %q: permissions must be a combination of r, w and m", value)
		}
		device.PathInContainer = parts[1]
		device.CgroupPermissions = parts[2]
	default:
		return device, fmt.Errorf("invalid device specification %q: use host[:container[:rwm]]", value)
	}
	if device.PathOnHost == "" || !strings.HasPrefix(device.PathOnHost, "/") {
		return device, fmt.Errorf("invalid device specification %q: the host path must be absolute", value)
	}
	if device.PathInContainer == "" {
		device.PathInContainer = device.PathOnHost
	}
	if !strings.HasPrefix(device.PathInContainer, "/") {
		return device, fmt.Errorf("invalid device specification %q: the container path must be absolute", value)
	}
	return device, nil
}

func isDevicePermissions(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == "" && len(s) <= 3
}
