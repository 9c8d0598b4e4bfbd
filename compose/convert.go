package compose

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// CreateRequest is the body of one container create request.
type CreateRequest struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// ContainerName returns the name of container number of service: the
// service's container_name, or PROJECT-SERVICE-NUMBER.
func ContainerName(project *types.Project, service types.ServiceConfig, number int) string {
	if service.ContainerName != "" {
		return service.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project.Name, service.Name, number)
}

// OneoffName returns the name of a container of "compose run".
func OneoffName(project *types.Project, service types.ServiceConfig, suffix string) string {
	return fmt.Sprintf("%s-%s-run-%s", project.Name, service.Name, suffix)
}

// ImageName returns the image a service's containers run: its image, or
// PROJECT-SERVICE for a service that is only built.
func ImageName(project *types.Project, service types.ServiceConfig) string {
	if service.Image != "" {
		return service.Image
	}
	return project.Name + "-" + service.Name
}

// ProjectLabels returns the labels every container of the project carries.
func ProjectLabels(project *types.Project) map[string]string {
	return map[string]string{
		ProjectLabel:     project.Name,
		WorkingDirLabel:  project.WorkingDir,
		ConfigFilesLabel: strings.Join(project.ComposeFiles, ","),
		VersionLabel:     Version,
	}
}

// dependsOnLabel encodes depends_on as Docker Compose does:
// SERVICE:CONDITION:RESTART entries joined by commas, sorted by service.
func dependsOnLabel(service types.ServiceConfig) string {
	var entries []string
	for name, dep := range service.DependsOn {
		entries = append(entries, fmt.Sprintf("%s:%s:%t", name, dep.Condition, dep.Restart))
	}
	sort.Strings(entries)
	return strings.Join(entries, ",")
}

// ContainerRequest converts container number of service into a create
// request. hash is the service's ServiceHash. oneoff marks a container of
// "compose run", which gets no published ports unless the caller adds
// them.
func ContainerRequest(project *types.Project, service types.ServiceConfig, name string, number int, hash string, oneoff bool) (*CreateRequest, error) {
	labels := ProjectLabels(project)
	for k, v := range service.Labels {
		labels[k] = v
	}
	for k, v := range service.CustomLabels {
		labels[k] = v
	}
	labels[ServiceLabel] = service.Name
	labels[NumberLabel] = strconv.Itoa(number)
	labels[ConfigHashLabel] = hash
	labels[OneoffLabel] = "False"
	if oneoff {
		labels[OneoffLabel] = "True"
	}
	labels[DependenciesLabel] = dependsOnLabel(service)
	labels[ImageLabel] = ImageName(project, service)

	config := &container.Config{
		Hostname:     service.Hostname,
		Domainname:   service.DomainName,
		User:         service.User,
		Tty:          service.Tty,
		OpenStdin:    service.StdinOpen,
		Env:          environment(service),
		Cmd:          []string(service.Command),
		Image:        ImageName(project, service),
		WorkingDir:   service.WorkingDir,
		Entrypoint:   []string(service.Entrypoint),
		Labels:       labels,
		StopSignal:   service.StopSignal,
		ExposedPorts: network.PortSet{},
	}
	if service.StopGracePeriod != nil {
		seconds := int(time.Duration(*service.StopGracePeriod).Seconds())
		config.StopTimeout = &seconds
	}
	if service.HealthCheck != nil {
		config.Healthcheck = healthConfig(service.HealthCheck)
	}
	for _, p := range service.Expose {
		port, err := network.ParsePort(p)
		if err != nil {
			return nil, fmt.Errorf("service %s: invalid expose %q: %w", service.Name, p, err)
		}
		config.ExposedPorts[port] = struct{}{}
	}

	hostConfig, err := hostConfig(project, service, config)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service.Name, err)
	}
	if oneoff {
		hostConfig.PortBindings = nil
		hostConfig.RestartPolicy = container.RestartPolicy{}
	}

	return &CreateRequest{
		Name:             name,
		Config:           config,
		HostConfig:       hostConfig,
		NetworkingConfig: networkingConfig(project, service),
	}, nil
}

func environment(service types.ServiceConfig) []string {
	var env []string
	for k, v := range service.Environment {
		if v == nil {
			continue
		}
		env = append(env, k+"="+*v)
	}
	sort.Strings(env)
	return env
}

func healthConfig(h *types.HealthCheckConfig) *container.HealthConfig {
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	hc := &container.HealthConfig{Test: []string(h.Test)}
	if h.Interval != nil {
		hc.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		hc.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		hc.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		hc.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc
}

func hostConfig(project *types.Project, service types.ServiceConfig, config *container.Config) (*container.HostConfig, error) {
	restart, err := restartPolicy(service)
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(networkMode(project, service)),
		RestartPolicy:  restart,
		PortBindings:   network.PortMap{},
		CapAdd:         service.CapAdd,
		CapDrop:        service.CapDrop,
		DNS:            dnsAddrs(service.DNS),
		DNSSearch:      service.DNSSearch,
		DNSOptions:     service.DNSOpts,
		ExtraHosts:     service.ExtraHosts.AsList(":"),
		Init:           service.Init,
		Privileged:     service.Privileged,
		ReadonlyRootfs: service.ReadOnly,
		SecurityOpt:    service.SecurityOpt,
		Sysctls:        service.Sysctls,
		IpcMode:        container.IpcMode(service.Ipc),
		PidMode:        container.PidMode(service.Pid),
		GroupAdd:       service.GroupAdd,
		VolumesFrom:    volumesFrom(project, service.VolumesFrom),
		ShmSize:        int64(service.ShmSize),
	}
	hc.Memory = int64(service.MemLimit)
	if len(service.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range service.Tmpfs {
			target, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[target] = opts
		}
	}
	if service.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: service.Logging.Driver, Config: service.Logging.Options}
	}

	for _, p := range service.Ports {
		protocol := p.Protocol
		if protocol == "" {
			protocol = "tcp"
		}
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.Target, protocol))
		if err != nil {
			return nil, fmt.Errorf("invalid port %d: %w", p.Target, err)
		}
		binding := network.PortBinding{HostPort: p.Published}
		if p.HostIP != "" {
			addr, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return nil, fmt.Errorf("invalid host_ip %q: %w", p.HostIP, err)
			}
			binding.HostIP = addr
		}
		config.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = append(hc.PortBindings[port], binding)
	}

	for _, v := range service.Volumes {
		m, err := mountFor(project, v)
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	return hc, nil
}

// volumesFrom converts volumes_from entries to container references. A
// service name, or "service:NAME", refers to the service's first container,
// and "container:NAME" refers to any container.
func volumesFrom(project *types.Project, entries []string) []string {
	var out []string
	for _, entry := range entries {
		if name, ok := strings.CutPrefix(entry, "container:"); ok {
			out = append(out, name)
			continue
		}
		name, mode, _ := strings.Cut(strings.TrimPrefix(entry, "service:"), ":")
		ref := name
		if service, ok := project.Services[name]; ok {
			ref = ContainerName(project, service, 1)
		}
		if mode != "" {
			ref += ":" + mode
		}
		out = append(out, ref)
	}
	return out
}

func dnsAddrs(values []string) []netip.Addr {
	var addrs []netip.Addr
	for _, v := range values {
		if a, err := netip.ParseAddr(v); err == nil {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

func restartPolicy(service types.ServiceConfig) (container.RestartPolicy, error) {
	value := service.Restart
	if value == "" && service.Deploy != nil && service.Deploy.RestartPolicy != nil {
		switch service.Deploy.RestartPolicy.Condition {
		case "any":
			value = "always"
		case "on-failure":
			value = "on-failure"
			if n := service.Deploy.RestartPolicy.MaxAttempts; n != nil {
				value += ":" + strconv.FormatUint(*n, 10)
			}
		}
	}
	if value == "" || value == "no" {
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	}
	name, count, _ := strings.Cut(value, ":")
	policy := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return policy, fmt.Errorf("invalid restart policy %q (expected no, always, on-failure[:MAX_RETRIES] or unless-stopped)", value)
		}
		policy.MaximumRetryCount = n
	}
	switch policy.Name {
	case container.RestartPolicyAlways, container.RestartPolicyOnFailure, container.RestartPolicyUnlessStopped:
		return policy, nil
	}
	return policy, fmt.Errorf("invalid restart policy %q (expected no, always, on-failure[:MAX_RETRIES] or unless-stopped)", value)
}

// networkMode returns the network mode of the create request: the
// service's network_mode, or the first of its networks by priority and
// then by name.
func networkMode(project *types.Project, service types.ServiceConfig) string {
	if service.NetworkMode != "" {
		if target, ok := strings.CutPrefix(service.NetworkMode, "service:"); ok {
			return "container:" + ContainerName(project, project.Services[target], 1)
		}
		return service.NetworkMode
	}
	keys := serviceNetworkKeys(service)
	if len(keys) == 0 {
		return "none"
	}
	return project.Networks[keys[0]].Name
}

// serviceNetworkKeys returns the keys of a service's networks sorted by
// priority, highest first, then by key.
func serviceNetworkKeys(service types.ServiceConfig) []string {
	keys := make([]string, 0, len(service.Networks))
	for k := range service.Networks {
		keys = append(keys, k)
	}
	priority := func(k string) int {
		if c := service.Networks[k]; c != nil {
			return c.Priority
		}
		return 0
	}
	sort.Slice(keys, func(i, j int) bool {
		if pi, pj := priority(keys[i]), priority(keys[j]); pi != pj {
			return pi > pj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// networkingConfig attaches the container to every network of the service,
// with the service name and the configured aliases as DNS names.
func networkingConfig(project *types.Project, service types.ServiceConfig) *network.NetworkingConfig {
	if service.NetworkMode != "" {
		return nil
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	for _, key := range serviceNetworkKeys(service) {
		settings := &network.EndpointSettings{Aliases: []string{service.Name}}
		if c := service.Networks[key]; c != nil {
			settings.Aliases = append(settings.Aliases, c.Aliases...)
			settings.DriverOpts = c.DriverOpts
			settings.GwPriority = c.GatewayPriority
			ipam := &network.EndpointIPAMConfig{}
			if a, err := netip.ParseAddr(c.Ipv4Address); err == nil {
				ipam.IPv4Address = a
			}
			if a, err := netip.ParseAddr(c.Ipv6Address); err == nil {
				ipam.IPv6Address = a
			}
			if ipam.IPv4Address.IsValid() || ipam.IPv6Address.IsValid() {
				settings.IPAMConfig = ipam
			}
		}
		nc.EndpointsConfig[project.Networks[key].Name] = settings
	}
	return nc
}

// mountFor converts one entry of a service's volumes. A named volume
// refers to the project's volume by its full name, PROJECT_NAME unless
// the volume sets name or is external.
func mountFor(project *types.Project, v types.ServiceVolumeConfig) (mount.Mount, error) {
	m := mount.Mount{
		Type:     mount.Type(v.Type),
		Source:   v.Source,
		Target:   v.Target,
		ReadOnly: v.ReadOnly,
	}
	switch v.Type {
	case types.VolumeTypeVolume:
		if v.Source != "" {
			vol, ok := project.Volumes[v.Source]
			if !ok {
				return m, fmt.Errorf("service refers to undefined volume %s", v.Source)
			}
			m.Source = vol.Name
		}
		if v.Volume != nil {
			m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath}
		}
	case types.VolumeTypeBind:
		if v.Bind != nil {
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
			if v.Bind.CreateHostPath {
				m.BindOptions.CreateMountpoint = true
			}
		}
	case types.VolumeTypeTmpfs:
		if v.Tmpfs != nil {
			m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
		}
	default:
		return m, fmt.Errorf("unsupported volume type %q for %s", v.Type, v.Target)
	}
	return m, nil
}
