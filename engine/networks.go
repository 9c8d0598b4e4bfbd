package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	mobynet "github.com/moby/moby/api/types/network"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/network/portmap"
)

// networkRef is a network that a name, ID or ID prefix resolved to.
type networkRef struct {
	ID   string
	Name string
	// Predefined is "bridge", "host" or "none" for those networks, "" for a
	// user-defined one.
	Predefined string
}

// resolveNetwork finds a network by full ID, then name, then unique ID
// prefix, in the order Docker Engine uses. "default" is "bridge".
func (e *Engine) resolveNetwork(ref string) (networkRef, error) {
	if ref == "" {
		return networkRef{}, fmt.Errorf("network name or ID is empty: %w", errdefs.ErrInvalidArgument)
	}
	if ref == "default" {
		ref = network.BridgeNetwork
	}
	var all []networkRef
	for _, name := range []string{network.BridgeNetwork, network.HostNetwork, network.NoneNetwork} {
		all = append(all, networkRef{ID: e.network.PredefinedID(name), Name: name, Predefined: name})
	}
	for _, n := range e.network.Networks() {
		all = append(all, networkRef{ID: n.ID, Name: n.Name})
	}

	for _, n := range all {
		if n.ID == ref {
			return n, nil
		}
	}
	for _, n := range all {
		if n.Name == ref {
			return n, nil
		}
	}
	var found []networkRef
	for _, n := range all {
		if strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return networkRef{}, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
	default:
		return networkRef{}, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix): %w",
			ref, len(found), errdefs.ErrInvalidArgument)
	}
}

// primaryNetwork is the network name or ID in HostConfig.NetworkMode, with
// "" and "default" meaning "bridge".
func primaryNetwork(c *ctr.Container) string {
	mode := string(c.HostConfig.NetworkMode)
	if mode == "" || mode == "default" {
		return network.BridgeNetwork
	}
	return mode
}

// setupNetworks resolves the container's network mode and the endpoint
// settings of the create request into c.Networks.
func (e *Engine) setupNetworks(c *ctr.Container, nc *mobynet.NetworkingConfig) error {
	mode := primaryNetwork(c)
	if target, ok := strings.CutPrefix(mode, "container:"); ok {
		return e.setupSharedNetwork(c, target, nc)
	}
	var endpoints map[string]*mobynet.EndpointSettings
	if nc != nil {
		endpoints = nc.EndpointsConfig
	}

	primary, err := e.resolveNetwork(mode)
	if err != nil {
		return err
	}
	c.Networks = map[string]*ctr.NetworkAttachment{}
	if primary.Predefined == network.HostNetwork || primary.Predefined == network.NoneNetwork {
		c.Networks[primary.Name] = &ctr.NetworkAttachment{NetworkID: primary.ID}
		if len(endpoints) > 1 {
			return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w",
				errdefs.ErrInvalidArgument)
		}
		return nil
	}

	// Docker's CLI keys the settings of the default network "default".
	primaryKeys := []string{string(c.HostConfig.NetworkMode), mode, primary.Name, "default"}
	var settings *mobynet.EndpointSettings
	for _, key := range primaryKeys {
		if s := endpoints[key]; s != nil && settings == nil {
			settings = s
		}
	}
	if err := e.addAttachment(c, primary, settings); err != nil {
		return err
	}
	for ref, s := range endpoints {
		if slices.Contains(primaryKeys, ref) {
			continue
		}
		n, err := e.resolveNetwork(ref)
		if err != nil {
			return err
		}
		if err := e.addAttachment(c, n, s); err != nil {
			return err
		}
	}
	return nil
}

// setupSharedNetwork checks the options of a container in network mode
// container:TARGET, which joins the network namespace of TARGET and has no networks of its
// own. The options that Docker Engine rejects in this mode are rejected.
func (e *Engine) setupSharedNetwork(c *ctr.Container, target string, nc *mobynet.NetworkingConfig) error {
	// TARGET is looked up at start, because it only needs to exist and run
	// then. A not-found error here would make Docker's CLI try to pull the
	// image.
	if target == "" {
		return fmt.Errorf("invalid network mode container: missing container name or ID: %w", errdefs.ErrInvalidArgument)
	}
	hc := c.HostConfig
	switch {
	case c.Config.Hostname != "" && c.Config.Hostname != c.ID[:12]:
		return fmt.Errorf("conflicting options: hostname and the network mode: %w", errdefs.ErrInvalidArgument)
	case len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0:
		return fmt.Errorf("conflicting options: dns and the network mode: %w", errdefs.ErrInvalidArgument)
	case len(hc.ExtraHosts) > 0:
		return fmt.Errorf("conflicting options: custom host-to-IP mapping and the network mode: %w", errdefs.ErrInvalidArgument)
	case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
		return fmt.Errorf("conflicting options: port publishing and the container type network mode: %w", errdefs.ErrInvalidArgument)
	case len(hc.Links) > 0:
		return fmt.Errorf("conflicting options: container type network can't be used with links: %w", errdefs.ErrInvalidArgument)
	case nc != nil && len(nc.EndpointsConfig) > 0:
		return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w",
			errdefs.ErrInvalidArgument)
	}
	c.Networks = map[string]*ctr.NetworkAttachment{}
	return nil
}

// sharedNetNS returns the hostname and the network namespace of the running
// container that a container in network mode container:TARGET joins.
func (e *Engine) sharedNetNS(target string) (hostname, nsPath string, err error) {
	t, err := e.get(target)
	if err != nil {
		return "", "", err
	}
	t.Lock()
	defer t.Unlock()
	if !t.State.IsRunning() || t.State.Pid <= 0 {
		return "", "", fmt.Errorf("cannot join network namespace of a non running container: %s: %w",
			t.ID, errdefs.ErrConflict)
	}
	return t.Config.Hostname, fmt.Sprintf("/proc/%d/ns/net", t.State.Pid), nil
}

// addAttachment checks the endpoint settings for network n and records
// them in c.Networks.
func (e *Engine) addAttachment(c *ctr.Container, n networkRef, s *mobynet.EndpointSettings) error {
	if n.Predefined == network.HostNetwork || n.Predefined == network.NoneNetwork {
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w",
			errdefs.ErrPermissionDenied)
	}
	if _, ok := c.Networks[n.Name]; ok {
		return fmt.Errorf("endpoint with name %s already exists in network %s: %w", c.Name, n.Name, errdefs.ErrConflict)
	}
	att := &ctr.NetworkAttachment{NetworkID: n.ID}
	if s != nil {
		att.Aliases = slices.Clone(s.Aliases)
		att.Links = slices.Clone(s.Links)
		if s.IPAMConfig != nil {
			att.IPv4Address = s.IPAMConfig.IPv4Address
		}
		if len(s.MacAddress) > 0 {
			att.MacAddress = net.HardwareAddr(s.MacAddress).String()
		}
	}
	if n.Predefined == network.BridgeNetwork {
		if len(att.Aliases) > 0 {
			return fmt.Errorf("network-scoped alias is supported only for containers in user defined networks: %w",
				errdefs.ErrInvalidArgument)
		}
		if att.IPv4Address.IsValid() {
			return fmt.Errorf("user specified IP address is supported on user defined networks only: %w",
				errdefs.ErrInvalidArgument)
		}
	} else if att.IPv4Address.IsValid() {
		info, ok := e.network.UserNetwork(n.ID)
		if ok && !info.Subnet.Contains(att.IPv4Address) {
			return fmt.Errorf("no configured subnet or ip-range contain the IP address %s: %w",
				att.IPv4Address, errdefs.ErrInvalidArgument)
		}
	}
	if c.Networks == nil {
		c.Networks = map[string]*ctr.NetworkAttachment{}
	}
	c.Networks[n.Name] = att
	return nil
}

// attachments returns c.Networks, deriving it from the network mode for a
// record that predates it. The caller holds c's lock.
func (e *Engine) attachments(c *ctr.Container) map[string]*ctr.NetworkAttachment {
	if c.Networks == nil {
		mode := primaryNetwork(c)
		c.Networks = map[string]*ctr.NetworkAttachment{}
		if !strings.HasPrefix(mode, "container:") {
			c.Networks[mode] = &ctr.NetworkAttachment{NetworkID: e.network.PredefinedID(mode)}
		}
	}
	return c.Networks
}

// orderedNetworks returns the attachment names in the order they are
// connected: "bridge" first, because the default bridge creates the
// namespace, then the network of the network mode, then the others by name.
func orderedNetworks(c *ctr.Container) []string {
	primary := primaryNetwork(c)
	names := slices.Sorted(maps.Keys(c.Networks))
	slices.SortStableFunc(names, func(a, b string) int {
		rank := func(name string) int {
			switch name {
			case network.BridgeNetwork:
				return 0
			case primary:
				return 1
			}
			return 2
		}
		return rank(a) - rank(b)
	})
	return names
}

// dnsNames returns the names the embedded DNS server resolves to the
// container's address: its name, aliases, short ID and hostname, as Docker
// Engine does.
func dnsNames(c *ctr.Container, aliases []string) []string {
	names := []string{c.Name}
	names = append(names, aliases...)
	names = append(names, c.ID[:12])
	if c.Config.Hostname != "" {
		names = append(names, c.Config.Hostname)
	}
	var out []string
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// connect gives the container its networks, returning the namespace path
// for the runtime ("" to share the host's namespace, "none" for a
// namespace with loopback only). On error the caller detaches what was
// connected (see disconnect).
func (e *Engine) connect(ctx context.Context, c *ctr.Container) (string, error) {
	c.Lock()
	mode := primaryNetwork(c)
	attachments := e.attachments(c)
	order := orderedNetworks(c)
	c.Unlock()

	switch mode {
	case network.HostNetwork:
		return "", nil
	case network.NoneNetwork:
		return "none", nil
	}
	if target, ok := strings.CutPrefix(mode, "container:"); ok {
		hostname, nsPath, err := e.sharedNetNS(target)
		if err != nil {
			return "", err
		}
		// The container takes the hostname of the one whose network it
		// shares, as in Docker.
		c.Lock()
		c.Config.Hostname = hostname
		c.Unlock()
		return nsPath, nil
	}
	primary, err := e.resolveNetwork(mode)
	if err != nil {
		return "", err
	}

	bindings, err := portBindings(c.Config, c.HostConfig)
	if err != nil {
		return "", err
	}
	nsPath := ""
	for _, name := range order {
		att := attachments[name]
		ports := []network.PortBinding(nil)
		if name == primary.Name {
			ports = bindings
		}
		ep, err := e.connectEndpoint(ctx, c, name, att, ports, false)
		if err != nil {
			return "", err
		}
		nsPath = ep.NetNSPath
		if name == primary.Name {
			e.setPrimaryEndpoint(c, ep)
		}
	}
	if nsPath == "" {
		// Every network was disconnected: a namespace with loopback only.
		return "none", nil
	}
	return nsPath, nil
}

// connectEndpoint creates the endpoint of one attachment and records it in
// att. join makes it join the namespace of a running container.
func (e *Engine) connectEndpoint(ctx context.Context, c *ctr.Container, name string, att *ctr.NetworkAttachment,
	ports []network.PortBinding, join bool) (*network.Endpoint, error) {
	n, err := e.resolveNetwork(att.NetworkID)
	if err != nil {
		// The network was removed while the container was stopped.
		return nil, fmt.Errorf("network %s not found: %w", name, errdefs.ErrNotFound)
	}

	var ep *network.Endpoint
	if n.Predefined == network.BridgeNetwork {
		ep, err = e.network.Attach(ctx, network.AttachRequest{
			ContainerID: c.ID, Ports: ports, MAC: att.MacAddress, JoinNamespace: join,
		})
	} else {
		c.Lock()
		names := dnsNames(c, att.Aliases)
		links := endpointLinks(c, n.Name, att.Links)
		var servers []string
		for _, addr := range c.HostConfig.DNS {
			servers = append(servers, net.JoinHostPort(addr.String(), "53"))
		}
		c.Unlock()
		ep, err = e.network.Connect(ctx, network.ConnectRequest{
			ContainerID: c.ID, NetworkID: n.ID, DNSNames: names, Aliases: att.Aliases, Links: links,
			IPv4: att.IPv4Address, MAC: att.MacAddress, Ports: ports, JoinNamespace: join,
			DNSServers: servers,
		})
	}
	if err != nil {
		var bindErr *portmap.BindError
		if errors.As(err, &bindErr) {
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w",
				c.Name, c.ID, err)
		}
		return nil, err
	}

	c.Lock()
	att.EndpointID = newID()
	att.IPAddress = ep.Address
	att.Gateway = ep.Gateway
	att.MAC = ep.MAC
	att.DNSNames = ep.DNSNames
	c.Unlock()
	return ep, nil
}

// setPrimaryEndpoint records the endpoint of the network mode's network
// and its published ports in c.Network.
func (e *Engine) setPrimaryEndpoint(c *ctr.Container, ep *network.Endpoint) {
	ports := mobynet.PortMap{}
	for p := range c.Config.ExposedPorts {
		ports[p] = nil
	}
	for _, b := range ep.Ports {
		port, ok := mobynet.PortFrom(b.ContainerPort, mobynet.IPProtocol(b.Proto))
		if !ok {
			continue
		}
		hostIP := b.HostIP
		if !hostIP.IsValid() {
			hostIP = netip.IPv4Unspecified()
		}
		ports[port] = append(ports[port], mobynet.PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(b.HostPort))})
	}
	c.Lock()
	c.Network = &ctr.Endpoint{
		Bridge:     ep.Bridge,
		IPAddress:  ep.Address,
		Gateway:    ep.Gateway,
		MacAddress: ep.MAC,
		Ports:      ports,
	}
	c.Unlock()
}

// disconnect removes all endpoints of a container that stopped. The caller
// holds c's lock.
func (e *Engine) disconnect(ctx context.Context, c *ctr.Container) {
	if err := e.network.Detach(ctx, c.ID); err != nil {
		log.FromContext(ctx).Warn("detach container from network", log.KeyContainer, c.ID, log.Err(err))
	}
	if c.Network != nil {
		c.Network.Ports = nil
		c.Network.IPAddress = netip.Prefix{}
	}
	for _, att := range c.Networks {
		clearEndpoint(att)
	}
}

func clearEndpoint(att *ctr.NetworkAttachment) {
	att.EndpointID = ""
	att.IPAddress = netip.Prefix{}
	att.Gateway = netip.Addr{}
	att.MAC = ""
	att.DNSNames = nil
}

// endpointLinks returns the legacy links of the container's endpoint on the
// user-defined network named network, as "TARGET:ALIAS": those of its
// endpoint settings and, on the network of its network mode, those of
// --link. Docker Engine resolves both through the embedded DNS server.
func endpointLinks(c *ctr.Container, network string, links []string) []string {
	out := slices.Clone(links)
	if string(c.HostConfig.NetworkMode) == network {
		out = append(out, c.HostConfig.Links...)
	}
	for i, link := range out {
		target, alias, ok := strings.Cut(link, ":")
		if !ok {
			alias = target
		}
		// The API form of a link is "/TARGET:/CONTAINER/ALIAS".
		if j := strings.LastIndex(alias, "/"); j >= 0 {
			alias = alias[j+1:]
		}
		out[i] = strings.TrimPrefix(target, "/") + ":" + alias
	}
	return out
}

// endpointSettings returns the inspect view of one attachment. Addresses
// are set only while the container runs.
func endpointSettings(c *ctr.Container, name string, att *ctr.NetworkAttachment) *mobynet.EndpointSettings {
	s := &mobynet.EndpointSettings{NetworkID: att.NetworkID, Aliases: slices.Clone(att.Aliases), Links: slices.Clone(att.Links)}
	if att.IPv4Address.IsValid() {
		s.IPAMConfig = &mobynet.EndpointIPAMConfig{IPv4Address: att.IPv4Address}
	}
	if att.MacAddress != "" {
		if mac, err := net.ParseMAC(att.MacAddress); err == nil {
			s.MacAddress = mobynet.HardwareAddr(mac)
		}
	}
	if name != network.BridgeNetwork && name != network.HostNetwork && name != network.NoneNetwork {
		s.DNSNames = dnsNames(c, att.Aliases)
	}
	if !c.State.IsRunning() || !att.IPAddress.IsValid() {
		return s
	}
	s.EndpointID = att.EndpointID
	s.IPAddress = att.IPAddress.Addr()
	s.IPPrefixLen = att.IPAddress.Bits()
	s.Gateway = att.Gateway
	if mac, err := net.ParseMAC(att.MAC); err == nil {
		s.MacAddress = mobynet.HardwareAddr(mac)
	}
	return s
}

// NetworkConnect connects a container to a network. A running container
// gets its endpoint at once, a stopped one when it starts.
func (e *Engine) NetworkConnect(ctx context.Context, ref string, req mobynet.ConnectRequest) error {
	n, err := e.resolveNetwork(ref)
	if err != nil {
		return err
	}
	c, err := e.get(req.Container)
	if err != nil {
		return err
	}
	c.Lock()
	mode := primaryNetwork(c)
	e.attachments(c)
	c.Unlock()
	if mode == network.HostNetwork || mode == network.NoneNetwork || strings.HasPrefix(mode, "container:") {
		return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w",
			errdefs.ErrPermissionDenied)
	}

	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	c.Lock()
	err = e.addAttachment(c, n, req.EndpointConfig)
	att := c.Networks[n.Name]
	running := c.State.IsRunning()
	c.Unlock()
	if err != nil {
		return err
	}

	if running {
		if _, err := e.connectEndpoint(ctx, c, n.Name, att, nil, true); err != nil {
			c.Lock()
			delete(c.Networks, n.Name)
			c.Unlock()
			return err
		}
		c.Lock()
		err = e.writeEtcFiles(c)
		c.Unlock()
		if err != nil {
			log.FromContext(ctx).Warn("update /etc/hosts after connect", log.KeyContainer, c.ID, log.Err(err))
		}
	}
	c.Lock()
	err = e.containers.Save(c)
	c.Unlock()
	if err != nil {
		return err
	}
	e.events.Publish(events.NetworkEventType, events.ActionConnect, n.ID,
		map[string]string{"container": c.ID, "name": n.Name, "type": "bridge"})
	return nil
}

// NetworkDisconnect disconnects a container from a network. force is
// accepted for Docker's API and changes nothing here.
func (e *Engine) NetworkDisconnect(ctx context.Context, ref string, req mobynet.DisconnectRequest) error {
	n, err := e.resolveNetwork(ref)
	if err != nil {
		return err
	}
	c, err := e.get(req.Container)
	if err != nil {
		return err
	}
	if n.Predefined == network.HostNetwork || n.Predefined == network.NoneNetwork {
		return fmt.Errorf("container cannot be disconnected from host network or connected to host network: %w",
			errdefs.ErrPermissionDenied)
	}

	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	c.Lock()
	att, ok := e.attachments(c)[n.Name]
	running := c.State.IsRunning()
	c.Unlock()
	if !ok {
		return fmt.Errorf("container %s is not connected to network %s: %w", c.ID, n.Name, errdefs.ErrPermissionDenied)
	}
	if running && att.IPAddress.IsValid() {
		if err := e.network.Disconnect(ctx, c.ID, n.ID); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}

	c.Lock()
	delete(c.Networks, n.Name)
	if n.Name == primaryNetwork(c) && c.Network != nil {
		c.Network.IPAddress = netip.Prefix{}
		c.Network.Ports = nil
	}
	err = e.containers.Save(c)
	c.Unlock()
	if err != nil {
		return err
	}
	e.events.Publish(events.NetworkEventType, events.ActionDisconnect, n.ID,
		map[string]string{"container": c.ID, "name": n.Name, "type": "bridge"})
	return nil
}

// NetworkCreate creates a user-defined bridge network.
func (e *Engine) NetworkCreate(ctx context.Context, req server.NetworkCreateRequest) (mobynet.CreateResponse, error) {
	if req.Name == "" {
		return mobynet.CreateResponse{}, fmt.Errorf("invalid name: name is empty: %w", errdefs.ErrInvalidArgument)
	}
	switch req.Driver {
	case "", "bridge":
	default:
		return mobynet.CreateResponse{}, fmt.Errorf("plugin %q not found: only the bridge driver is supported: %w",
			req.Driver, errdefs.ErrNotFound)
	}
	if req.Scope != "" && req.Scope != "local" {
		return mobynet.CreateResponse{}, fmt.Errorf("invalid scope %q: only local is supported: %w",
			req.Scope, errdefs.ErrInvalidArgument)
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return mobynet.CreateResponse{}, fmt.Errorf("IPv6 networks are not supported by berth: %w", errdefs.ErrNotImplemented)
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return mobynet.CreateResponse{}, fmt.Errorf("networks without IPv4 are not supported by berth: %w", errdefs.ErrNotImplemented)
	}
	if req.ConfigOnly || req.ConfigFrom != nil || req.Ingress {
		return mobynet.CreateResponse{}, fmt.Errorf("config-only, config-from and ingress networks are not supported by berth: %w",
			errdefs.ErrNotImplemented)
	}
	if n, err := e.resolveNetwork(req.Name); err == nil && n.Name == req.Name {
		return mobynet.CreateResponse{}, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
	}

	create := network.CreateRequest{Name: req.Name, Internal: req.Internal, Labels: req.Labels, Options: req.Options}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return mobynet.CreateResponse{}, fmt.Errorf("IPAM driver %q is not supported: %w", req.IPAM.Driver, errdefs.ErrNotImplemented)
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			cfg := req.IPAM.Config[0]
			create.Subnet, create.Gateway, create.IPRange = cfg.Subnet, cfg.Gateway, cfg.IPRange
		default:
			return mobynet.CreateResponse{}, fmt.Errorf("networks with several subnets are not supported by berth: %w",
				errdefs.ErrNotImplemented)
		}
	}
	n, err := e.network.CreateNetwork(ctx, create)
	if err != nil {
		return mobynet.CreateResponse{}, err
	}
	e.events.Publish(events.NetworkEventType, events.ActionCreate, n.ID, map[string]string{"name": n.Name, "type": "bridge"})
	return mobynet.CreateResponse{ID: n.ID}, nil
}

// NetworkRemove removes a user-defined network without running containers.
func (e *Engine) NetworkRemove(ctx context.Context, ref string) error {
	n, err := e.resolveNetwork(ref)
	if err != nil {
		return err
	}
	if n.Predefined != "" {
		return fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrPermissionDenied)
	}
	if err := e.network.RemoveNetwork(ctx, n.ID); err != nil {
		return err
	}
	e.events.Publish(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": "bridge"})
	return nil
}

// NetworksPrune removes the user-defined networks without running
// containers that pass the until and label filters.
func (e *Engine) NetworksPrune(ctx context.Context, filters map[string][]string) (mobynet.PruneReport, error) {
	f, err := parsePruneFilter(filters, false, time.Now())
	if err != nil {
		return mobynet.PruneReport{}, err
	}
	report := mobynet.PruneReport{NetworksDeleted: []string{}}
	for _, n := range e.network.Networks() {
		if len(n.Endpoints) > 0 || !f.match(n.Created, n.Labels) {
			continue
		}
		if err := e.NetworkRemove(ctx, n.ID); err != nil {
			if errdefs.IsConflict(err) {
				continue
			}
			return report, err
		}
		report.NetworksDeleted = append(report.NetworksDeleted, n.Name)
	}
	return report, nil
}

// NetworkInspect returns a network by name, ID or ID prefix.
func (e *Engine) NetworkInspect(ctx context.Context, ref string) (mobynet.Inspect, error) {
	n, err := e.resolveNetwork(ref)
	if err != nil {
		return mobynet.Inspect{}, err
	}
	return e.networkInspect(n)
}

func (e *Engine) networkInspect(ref networkRef) (mobynet.Inspect, error) {
	var n *network.Network
	switch ref.Predefined {
	case network.BridgeNetwork:
		n = e.network.DefaultNetwork()
	case network.HostNetwork, network.NoneNetwork:
		// Docker's driver for "none" is called "null".
		driver := ref.Name
		if ref.Predefined == network.NoneNetwork {
			driver = "null"
		}
		return mobynet.Inspect{
			Network: mobynet.Network{
				Name: ref.Name, ID: ref.ID, Created: e.network.DefaultNetwork().Created, Scope: "local",
				Driver: driver, EnableIPv4: true, IPAM: mobynet.IPAM{Driver: "default", Config: []mobynet.IPAMConfig{}},
				ConfigFrom: mobynet.ConfigReference{}, Options: map[string]string{}, Labels: map[string]string{},
			},
			Containers: e.predefinedContainers(ref.Name),
		}, nil
	default:
		var ok bool
		n, ok = e.network.UserNetwork(ref.ID)
		if !ok {
			return mobynet.Inspect{}, fmt.Errorf("network %s not found: %w", ref.Name, errdefs.ErrNotFound)
		}
	}

	ipam := mobynet.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange}
	options := n.Options
	if options == nil {
		options = map[string]string{}
	}
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	out := mobynet.Inspect{
		Network: mobynet.Network{
			Name: ref.Name, ID: ref.ID, Created: n.Created, Scope: "local", Driver: "bridge", EnableIPv4: true,
			IPAM:     mobynet.IPAM{Driver: "default", Options: map[string]string{}, Config: []mobynet.IPAMConfig{ipam}},
			Internal: n.Internal, ConfigFrom: mobynet.ConfigReference{}, Options: options, Labels: labels,
		},
		Containers: map[string]mobynet.EndpointResource{},
	}
	for id, ep := range n.Endpoints {
		res := mobynet.EndpointResource{IPv4Address: ep.Address}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			res.MacAddress = mobynet.HardwareAddr(mac)
		}
		if c, err := e.containers.Get(id); err == nil {
			c.Lock()
			res.Name = c.Name
			if att := c.Networks[ref.Name]; att != nil {
				res.EndpointID = att.EndpointID
			}
			c.Unlock()
		}
		out.Containers[id] = res
	}
	return out, nil
}

// predefinedContainers lists the running containers in network mode host
// or none, which Docker shows in those networks' inspect output.
func (e *Engine) predefinedContainers(mode string) map[string]mobynet.EndpointResource {
	out := map[string]mobynet.EndpointResource{}
	for _, c := range e.containers.List() {
		c.Lock()
		if !c.Hidden && c.State.IsRunning() && primaryNetwork(c) == mode {
			out[c.ID] = mobynet.EndpointResource{Name: c.Name}
		}
		c.Unlock()
	}
	return out
}

// NetworkList returns the networks that pass filters (name, id, label,
// driver, type, dangling), sorted by name as Docker's CLI shows them.
func (e *Engine) NetworkList(ctx context.Context, filters map[string][]string) ([]mobynet.Summary, error) {
	for key, values := range filters {
		switch key {
		case "name", "id", "label", "driver", "scope":
		case "type":
			for _, v := range values {
				if v != "custom" && v != "builtin" {
					return nil, fmt.Errorf("invalid filter: 'type'='%s': %w", v, errdefs.ErrInvalidArgument)
				}
			}
		case "dangling":
			for _, v := range values {
				if _, err := strconv.ParseBool(v); err != nil {
					return nil, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
				}
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", key, errdefs.ErrInvalidArgument)
		}
	}

	refs := []networkRef{}
	for _, name := range []string{network.BridgeNetwork, network.HostNetwork, network.NoneNetwork} {
		refs = append(refs, networkRef{ID: e.network.PredefinedID(name), Name: name, Predefined: name})
	}
	for _, n := range e.network.Networks() {
		refs = append(refs, networkRef{ID: n.ID, Name: n.Name})
	}

	out := []mobynet.Summary{}
	for _, ref := range refs {
		info, err := e.networkInspect(ref)
		if err != nil {
			continue
		}
		if !matchNetworkFilters(info, ref.Predefined != "", filters) {
			continue
		}
		info.Network.Peers = nil
		out = append(out, mobynet.Summary{Network: info.Network})
	}
	slices.SortFunc(out, func(a, b mobynet.Summary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func matchNetworkFilters(n mobynet.Inspect, predefined bool, filters map[string][]string) bool {
	anyOf := func(values []string, match func(string) bool) bool {
		if len(values) == 0 {
			return true
		}
		return slices.ContainsFunc(values, match)
	}
	if !anyOf(filters["name"], func(v string) bool { return strings.Contains(n.Name, v) }) {
		return false
	}
	if !anyOf(filters["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) {
		return false
	}
	if !anyOf(filters["driver"], func(v string) bool { return n.Driver == v }) {
		return false
	}
	if !anyOf(filters["scope"], func(v string) bool { return n.Scope == v }) {
		return false
	}
	if !anyOf(filters["type"], func(v string) bool { return (v == "builtin") == predefined }) {
		return false
	}
	for _, l := range filters["label"] {
		if !hasLabel(n.Labels, l) {
			return false
		}
	}
	for _, v := range filters["dangling"] {
		dangling, _ := strconv.ParseBool(v)
		// A dangling network is a user-defined one without containers.
		if dangling != (!predefined && len(n.Containers) == 0) {
			return false
		}
	}
	return true
}
