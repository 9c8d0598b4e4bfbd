package container

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// createOptions are the flags shared by run and create.
type createOptions struct {
	name string
	pull string // when to pull the image: missing, always or never

	autoRemove bool
	stdin      bool
	tty        bool

	publish    []string
	publishAll bool
	expose     []string

	env      []string
	envFiles []string

	labels     []string
	labelFiles []string

	workdir    string
	entrypoint string
	user       string
	hostname   string

	restart     string
	stopSignal  string
	stopTimeout int

	network    string
	aliases    []string
	ipv4       string
	macAddress string
	addHosts   []string
	dns        []string
	dnsSearch  []string
	dnsOptions []string
	links      []string

	memory    string
	cpus      string
	pidsLimit int64

	init       bool
	privileged bool
	readOnly   bool
	capAdd     []string
	capDrop    []string

	volumes []string
	mounts  mountOptions

	runtime runtimeOptions
}

// containerConfig is the request body of POST /containers/create.
type containerConfig struct {
	Config           *containertypes.Config
	HostConfig       *containertypes.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// addCreateFlags binds the shared run and create flags to opts.
func addCreateFlags(flags *pflag.FlagSet, opts *createOptions) {
	flags.StringVar(&opts.name, "name", "", "Assign a name to the container")
	flags.StringVar(&opts.pull, "pull", pullMissing, `Pull image before running ("always", "missing", "never")`)
	flags.BoolVar(&opts.autoRemove, "rm", false, "Automatically remove the container when it exits")
	flags.BoolVarP(&opts.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&opts.tty, "tty", "t", false, "Allocate a pseudo-TTY")

	flags.StringArrayVarP(&opts.publish, "publish", "p", nil,
		"Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto], ranges allowed)")
	flags.BoolVarP(&opts.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	flags.StringArrayVar(&opts.expose, "expose", nil, "Expose a port or a range of ports")

	flags.StringArrayVarP(&opts.env, "env", "e", nil, "Set environment variables (KEY=VALUE, or KEY to copy it from the client)")
	flags.StringArrayVar(&opts.envFiles, "env-file", nil, "Read in a file of environment variables")
	flags.StringArrayVarP(&opts.labels, "label", "l", nil, "Set meta data on a container (KEY=VALUE)")
	flags.StringArrayVar(&opts.labelFiles, "label-file", nil, "Read in a line delimited file of labels")

	flags.StringVarP(&opts.workdir, "workdir", "w", "", "Working directory inside the container")
	flags.StringVar(&opts.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	flags.StringVarP(&opts.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	flags.StringVarP(&opts.hostname, "hostname", "h", "", "Container host name")

	flags.StringVar(&opts.restart, "restart", "no",
		"Restart policy to apply when a container exits (no, always, on-failure[:max-retries], unless-stopped)")
	flags.StringVar(&opts.stopSignal, "stop-signal", "", "Signal to stop the container")
	flags.IntVar(&opts.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")

	flags.StringVar(&opts.network, "network", "", "Connect a container to a network (bridge, host, none or a network name)")
	flags.StringArrayVar(&opts.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	flags.StringVar(&opts.ipv4, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	flags.StringVar(&opts.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	flags.StringArrayVar(&opts.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	flags.StringArrayVar(&opts.dns, "dns", nil, "Set custom DNS servers")
	flags.StringArrayVar(&opts.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	flags.StringArrayVar(&opts.dnsOptions, "dns-option", nil, "Set DNS options")
	flags.StringArrayVar(&opts.links, "link", nil, "Add link to another container (name[:alias])")

	flags.StringVarP(&opts.memory, "memory", "m", "", "Memory limit, in bytes or with a unit suffix (b, k, m, g)")
	flags.StringVar(&opts.cpus, "cpus", "", "Number of CPUs, may be fractional (1.5)")
	flags.Int64Var(&opts.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")

	flags.BoolVar(&opts.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	flags.BoolVar(&opts.privileged, "privileged", false, "Give extended privileges to this container")
	flags.BoolVar(&opts.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	flags.StringArrayVar(&opts.capAdd, "cap-add", nil, "Add Linux capabilities")
	flags.StringArrayVar(&opts.capDrop, "cap-drop", nil, "Drop Linux capabilities")

	flags.StringArrayVarP(&opts.volumes, "volume", "v", nil, "Bind mount a volume (host-path:container-path[:options])")
	addMountFlags(flags, &opts.mounts)

	addRuntimeFlags(flags, &opts.runtime)

	// -h is --hostname, so cobra must not add its own -h for help.
	flags.Bool("help", false, "Print usage")
}

// parse turns opts, the image and the command into the create request.
// flags records which optional flags were given.
func parse(flags *pflag.FlagSet, opts *createOptions, image string, command []string) (*containerConfig, error) {
	exposed, bindings, err := parsePorts(opts.publish, opts.expose)
	if err != nil {
		return nil, err
	}

	env, err := readKVStrings(opts.envFiles, opts.env, true)
	if err != nil {
		return nil, err
	}
	for _, value := range env {
		if err := validateEnv(value); err != nil {
			return nil, err
		}
	}

	labelList, err := readKVStrings(opts.labelFiles, opts.labels, false)
	if err != nil {
		return nil, err
	}

	restart, err := parseRestartPolicy(opts.restart)
	if err != nil {
		return nil, err
	}
	if opts.autoRemove && restart.Name != "" && restart.Name != containertypes.RestartPolicyDisabled {
		return nil, fmt.Errorf("conflicting options: cannot specify both --restart and --rm")
	}

	resources, err := parseResources(flags, opts)
	if err != nil {
		return nil, err
	}

	binds, anonymous, err := parseVolumes(opts.volumes)
	if err != nil {
		return nil, err
	}

	config := &containertypes.Config{
		Hostname:     opts.hostname,
		User:         opts.user,
		ExposedPorts: exposed,
		Tty:          opts.tty,
		OpenStdin:    opts.stdin,
		Env:          env,
		Image:        image,
		Volumes:      anonymous,
		WorkingDir:   opts.workdir,
		Labels:       labelsToMap(labelList),
		StopSignal:   opts.stopSignal,
	}
	if len(command) > 0 {
		config.Cmd = command
	}
	if flags.Changed("entrypoint") {
		// An empty --entrypoint clears the image's entrypoint.
		config.Entrypoint = []string{opts.entrypoint}
	}
	if flags.Changed("stop-timeout") {
		timeout := opts.stopTimeout
		config.StopTimeout = &timeout
	}

	networking, err := parseNetworking(opts)
	if err != nil {
		return nil, err
	}
	dnsServers, err := parseDNSServers(opts.dns)
	if err != nil {
		return nil, err
	}

	hostConfig := &containertypes.HostConfig{
		Binds:           binds,
		DNS:             dnsServers,
		DNSSearch:       opts.dnsSearch,
		DNSOptions:      opts.dnsOptions,
		Links:           opts.links,
		NetworkMode:     containertypes.NetworkMode(opts.network),
		PortBindings:    bindings,
		RestartPolicy:   restart,
		AutoRemove:      opts.autoRemove,
		CapAdd:          opts.capAdd,
		CapDrop:         opts.capDrop,
		ExtraHosts:      opts.addHosts,
		Privileged:      opts.privileged,
		PublishAllPorts: opts.publishAll,
		ReadonlyRootfs:  opts.readOnly,
		Resources:       resources,
	}
	if err := applyMountOptions(&opts.mounts, hostConfig); err != nil {
		return nil, err
	}
	if flags.Changed("init") {
		enabled := opts.init
		hostConfig.Init = &enabled
	}
	if err := applyRuntimeOptions(flags, &opts.runtime, config, hostConfig); err != nil {
		return nil, err
	}

	return &containerConfig{
		Config:           config,
		HostConfig:       hostConfig,
		NetworkingConfig: networking,
	}, nil
}

// parseNetworking puts --network-alias, --ip and --mac-address into the
// endpoint settings of the --network network, "default" when unset, as
// Docker's CLI does.
func parseNetworking(opts *createOptions) (*network.NetworkingConfig, error) {
	config := &network.NetworkingConfig{}
	if len(opts.aliases) == 0 && opts.ipv4 == "" && opts.macAddress == "" {
		return config, nil
	}
	settings := &network.EndpointSettings{Aliases: opts.aliases}
	if opts.ipv4 != "" {
		addr, err := netip.ParseAddr(opts.ipv4)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("invalid IPv4 address: %s", opts.ipv4)
		}
		settings.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: addr}
	}
	if opts.macAddress != "" {
		mac, err := net.ParseMAC(opts.macAddress)
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", opts.macAddress)
		}
		settings.MacAddress = network.HardwareAddr(mac)
	}
	name := opts.network
	if name == "" {
		name = "default"
	}
	config.EndpointsConfig = map[string]*network.EndpointSettings{name: settings}
	return config, nil
}

func parseDNSServers(values []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, v := range values {
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%s is not an ip address", v)
		}
		out = append(out, addr)
	}
	return out, nil
}

// parseResources converts --memory, --cpus and --pids-limit.
func parseResources(flags *pflag.FlagSet, opts *createOptions) (containertypes.Resources, error) {
	var resources containertypes.Resources

	if opts.memory != "" {
		memory, err := units.RAMInBytes(opts.memory)
		if err != nil {
			return resources, fmt.Errorf("invalid argument %q for \"-m, --memory\" flag: %w", opts.memory, err)
		}
		resources.Memory = memory
	}

	if opts.cpus != "" {
		nanoCPUs, err := parseCPUs(opts.cpus)
		if err != nil {
			return resources, fmt.Errorf("invalid argument %q for \"--cpus\" flag: %w", opts.cpus, err)
		}
		resources.NanoCPUs = nanoCPUs
	}

	if flags.Changed("pids-limit") {
		limit := opts.pidsLimit
		resources.PidsLimit = &limit
	}
	return resources, nil
}

// parseVolumes splits -v values into bind mounts (values with a host path)
// and anonymous volumes (a container path alone).
func parseVolumes(values []string) (binds []string, anonymous map[string]struct{}, _ error) {
	for _, value := range values {
		if value == "" {
			return nil, nil, fmt.Errorf("invalid volume specification: empty value")
		}
		if !strings.Contains(value, ":") {
			if anonymous == nil {
				anonymous = make(map[string]struct{})
			}
			anonymous[value] = struct{}{}
			continue
		}

		parts := strings.Split(value, ":")
		if len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, nil, fmt.Errorf("invalid volume specification: %q", value)
		}
		// A host path starting with "." is relative to the client's
		// working directory, which the daemon does not know, so it is
		// made absolute here, as Docker's CLI does.
		if strings.HasPrefix(parts[0], ".") {
			abs, err := filepath.Abs(parts[0])
			if err != nil {
				return nil, nil, fmt.Errorf("invalid volume specification: %q: %w", value, err)
			}
			parts[0] = abs
			value = strings.Join(parts, ":")
		}
		binds = append(binds, value)
	}
	return binds, anonymous, nil
}
