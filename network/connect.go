package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network/ipam"
)

// ConnectRequest is the request for a container's endpoint on a
// user-defined network.
type ConnectRequest struct {
	ContainerID string
	NetworkID   string
	// DNSNames are the names the embedded DNS server answers with the
	// endpoint's address: usually the container name, the aliases, the
	// short ID and the hostname.
	DNSNames []string
	Aliases  []string   // user-given aliases, shown by inspect
	IPv4     netip.Addr // a static address; the zero Addr allocates one
	MAC      string     // a MAC address; "" derives one from the address
	Ports    []PortBinding
	// Links are legacy links, "TARGET:ALIAS": for this container only, the
	// embedded DNS server answers ALIAS with the address of the endpoint
	// named TARGET on the same network, as Docker Engine does for --link
	// on user-defined networks.
	Links []string
	// DNSServers are the nameservers (host:port) the embedded DNS server
	// forwards other names to, instead of those of the host's resolv.conf.
	DNSServers []string
	// JoinNamespace joins the namespace at <NetNSDir>/<ContainerID> even
	// when the container has no endpoint, for a running container that was
	// disconnected from every network.
	JoinNamespace bool
}

// Connect gives a container an endpoint on a user-defined network: a veth
// pair between the network's bridge and the container's namespace, named
// eth0, eth1 and so on. The namespace at <NetNSDir>/<ContainerID> is joined
// when the container already has an endpoint or req.JoinNamespace is set,
// and created otherwise. The container gets a default route through the
// network's gateway unless the network is internal or the namespace already
// has one. The first endpoint on a user-defined network starts the
// container's embedded DNS server (see dns.go).
func (m *Manager) Connect(ctx context.Context, req ConnectRequest) (_ *Endpoint, err error) {
	id := req.ContainerID
	if err := validateContainerID(id); err != nil {
		return nil, err
	}
	bindings, err := normalizePorts(req.Ports)
	if err != nil {
		return nil, fmt.Errorf("connect container %s: %w", id, err)
	}
	ctx = log.With(ctx, log.KeyContainer, id)

	m.mu.Lock()
	defer m.mu.Unlock()

	if m.closed {
		return nil, fmt.Errorf("connect container %s: network manager is closed: %w", id, errdefs.ErrUnavailable)
	}
	n, ok := m.user[req.NetworkID]
	if !ok || n.addresses == nil {
		return nil, fmt.Errorf("network %s not found: %w", req.NetworkID, errdefs.ErrNotFound)
	}
	if _, ok := n.Endpoints[id]; ok {
		return nil, fmt.Errorf("container %s is already connected to network %s: %w", id, n.Name, errdefs.ErrAlreadyExists)
	}
	if _, err := n.firewall.EnsureForwardAccept(ctx); err != nil {
		return nil, fmt.Errorf("connect container %s: %w", id, err)
	}

	var undo []func()
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()

	addr := req.IPv4
	if addr.IsValid() {
		if err := n.addresses.Reserve(addr); err != nil {
			if errdefs.IsAlreadyExists(err) {
				return nil, fmt.Errorf("Address already in use: %s on network %s: %w", addr, n.Name, errdefs.ErrConflict)
			}
			return nil, fmt.Errorf("invalid address %s for network %s: %w", addr, n.Name, err)
		}
	} else {
		addr, err = n.addresses.Allocate()
		if err != nil {
			return nil, fmt.Errorf("connect container %s to network %s: %w", id, n.Name, err)
		}
	}
	undo = append(undo, func() { n.addresses.Release(addr) })

	reservations, err := reservePorts(bindings)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { closeAll(reservations) })

	mac := req.MAC
	if mac == "" {
		mac = macFromIP(addr).String()
	} else if _, err := net.ParseMAC(mac); err != nil {
		return nil, fmt.Errorf("invalid MAC address %q: %w", mac, errdefs.ErrInvalidArgument)
	}
	ep := &Endpoint{
		ContainerID: id,
		NetworkID:   n.ID,
		NetNSPath:   filepath.Join(m.cfg.NetNSDir, id),
		IfName:      m.nextIfName(id),
		MAC:         mac,
		Bridge:      n.Bridge,
		Address:     netip.PrefixFrom(addr, n.Subnet.Bits()),
		Gateway:     n.Gateway,
		Ports:       bindings,
		DNSNames:    slices.Clone(req.DNSNames),
		Aliases:     slices.Clone(req.Aliases),
		Links:       slices.Clone(req.Links),
		DNSServers:  slices.Clone(req.DNSServers),
	}

	if req.JoinNamespace {
		if _, err := os.Stat(ep.NetNSPath); err != nil {
			return nil, fmt.Errorf("connect container %s: network namespace: %w", id, err)
		}
	}
	if !req.JoinNamespace && !m.hasEndpoint(id) {
		if err := removeNetNS(ep.NetNSPath); err != nil {
			return nil, fmt.Errorf("connect container %s: remove stale namespace: %w", id, err)
		}
		if err := createNetNS(ep.NetNSPath); err != nil {
			return nil, fmt.Errorf("connect container %s: %w", id, err)
		}
		undo = append(undo, func() {
			if err := removeNetNS(ep.NetNSPath); err != nil {
				log.FromContext(ctx).Warn("remove network namespace after failed connect", log.Err(err))
			}
		})
	}

	ep.HostIfName, err = m.addVeth(ctx, ep, id+"/"+n.ID, n.MTU, !n.Internal)
	if err != nil {
		return nil, fmt.Errorf("connect container %s to network %s: %w", id, n.Name, err)
	}
	undo = append(undo, func() {
		if err := deleteLink(ep.HostIfName); err != nil {
			log.FromContext(ctx).Warn("delete veth after failed connect", log.Err(err))
		}
	})

	if err := n.firewall.AddPorts(ctx, id, portMappings(ep)); err != nil {
		return nil, fmt.Errorf("connect container %s: %w", id, err)
	}
	undo = append(undo, func() {
		if err := n.firewall.RemovePorts(ctx, id); err != nil {
			log.FromContext(ctx).Warn("remove port rules after failed connect", log.Err(err))
		}
	})

	n.Endpoints[id] = ep
	n.reservations[id] = reservations
	undo = append(undo, func() {
		delete(n.Endpoints, id)
		delete(n.reservations, id)
	})
	if err := m.saveUserNetworksLocked(); err != nil {
		return nil, fmt.Errorf("connect container %s: %w", id, err)
	}
	if err := m.startDNSLocked(ctx, id, ep.NetNSPath, req.DNSServers); err != nil {
		// Containers keep their network without name resolution rather
		// than fail to start.
		log.FromContext(ctx).Warn("start embedded DNS server", log.Err(err))
	}

	log.FromContext(ctx).Debug("connected container", "network", n.Name, "address", ep.Address,
		"interface", ep.IfName, "veth", ep.HostIfName)
	return ep.clone(), nil
}

// hasEndpoint reports whether the container has an endpoint on any network.
// The caller holds m.mu.
func (m *Manager) hasEndpoint(containerID string) bool {
	if _, ok := m.endpoints[containerID]; ok {
		return true
	}
	for _, n := range m.user {
		if _, ok := n.Endpoints[containerID]; ok {
			return true
		}
	}
	return false
}

// nextIfName returns the first of eth0, eth1, ... that none of the
// container's endpoints uses. The caller holds m.mu.
func (m *Manager) nextIfName(containerID string) string {
	used := map[string]bool{}
	if ep, ok := m.endpoints[containerID]; ok {
		used[ep.IfName] = true
	}
	for _, n := range m.user {
		if ep, ok := n.Endpoints[containerID]; ok {
			used[ep.IfName] = true
		}
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !used[name] {
			return name
		}
	}
}

// Disconnect removes the container's endpoint on one network, the default
// bridge when networkID is the ID of "bridge". The namespace stays, because
// the container keeps running in it. When the removed endpoint carried the
// default route, another endpoint on a network with a route out takes it.
func (m *Manager) Disconnect(ctx context.Context, containerID, networkID string) error {
	ctx = log.With(ctx, log.KeyContainer, containerID)
	m.mu.Lock()
	defer m.mu.Unlock()

	var ep *Endpoint
	if networkID == m.predefined[BridgeNetwork] {
		var ok bool
		ep, ok = m.endpoints[containerID]
		if !ok {
			return fmt.Errorf("container %s is not connected to network %s: %w", containerID, BridgeNetwork, errdefs.ErrNotFound)
		}
		if err := m.firewall.RemovePorts(ctx, containerID); err != nil {
			return err
		}
		closeAll(m.reservations[containerID])
		delete(m.reservations, containerID)
		delete(m.endpoints, containerID)
		if err := m.saveLocked(); err != nil {
			return err
		}
		m.releaseLater(ctx, m.addresses, ep.Address.Addr())
	} else {
		n, ok := m.user[networkID]
		if !ok {
			return fmt.Errorf("network %s not found: %w", networkID, errdefs.ErrNotFound)
		}
		ep, ok = n.Endpoints[containerID]
		if !ok {
			return fmt.Errorf("container %s is not connected to network %s: %w", containerID, n.Name, errdefs.ErrNotFound)
		}
		if err := m.removeUserEndpointLocked(ctx, n, ep); err != nil {
			return err
		}
	}

	if err := deleteLink(ep.HostIfName); err != nil {
		log.FromContext(ctx).Warn("delete veth of disconnected endpoint", "veth", ep.HostIfName, log.Err(err))
	}
	m.restoreDefaultRoute(ctx, containerID, ep.NetNSPath)
	if !m.hasUserEndpoint(containerID) {
		m.stopDNSLocked(containerID)
	}
	log.FromContext(ctx).Debug("disconnected container", "network", networkID, "address", ep.Address)
	return nil
}

// removeUserEndpointLocked removes an endpoint's port rules, reservations
// and record, and releases its address once its conntrack entries are gone.
// The veth stays for the caller. The caller holds m.mu.
func (m *Manager) removeUserEndpointLocked(ctx context.Context, n *userNetwork, ep *Endpoint) error {
	id := ep.ContainerID
	if err := n.firewall.RemovePorts(ctx, id); err != nil {
		return err
	}
	closeAll(n.reservations[id])
	delete(n.reservations, id)
	delete(n.Endpoints, id)
	if err := m.saveUserNetworksLocked(); err != nil {
		return err
	}
	m.releaseLater(ctx, n.addresses, ep.Address.Addr())
	return nil
}

// releaseLater deletes the conntrack entries of addr in the background and
// then releases addr (see Detach). The caller holds m.mu.
func (m *Manager) releaseLater(ctx context.Context, alloc *ipam.Allocator, addr netip.Addr) {
	m.releasing.Add(1)
	go func() {
		defer m.releasing.Done()
		forgetConnections(ctx, addr)
		m.mu.Lock()
		alloc.Release(addr)
		m.mu.Unlock()
	}()
}

func (m *Manager) hasUserEndpoint(containerID string) bool {
	for _, n := range m.user {
		if _, ok := n.Endpoints[containerID]; ok {
			return true
		}
	}
	return false
}

// restoreDefaultRoute adds a default route through another endpoint of the
// container when its namespace has none left. The caller holds m.mu.
func (m *Manager) restoreDefaultRoute(ctx context.Context, containerID, nsPath string) {
	var candidates []*Endpoint
	if ep, ok := m.endpoints[containerID]; ok {
		candidates = append(candidates, ep)
	}
	for _, n := range m.sortedUserNetworks() {
		if ep, ok := n.Endpoints[containerID]; ok && !n.Internal {
			candidates = append(candidates, ep)
		}
	}
	if len(candidates) == 0 {
		return
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return
	}
	defer h.Close()
	if hasDefaultRoute(h) {
		return
	}
	ep := candidates[0]
	link, err := h.LinkByName(ep.IfName)
	if err == nil {
		err = h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: ep.Gateway.AsSlice(), Scope: netlink.SCOPE_UNIVERSE})
	}
	if err != nil {
		log.FromContext(ctx).Warn("add default route after disconnect", "interface", ep.IfName, log.Err(err))
	}
}

func hasDefaultRoute(h *netlink.Handle) bool {
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			return true
		}
	}
	return false
}

func (m *Manager) sortedUserNetworks() []*userNetwork {
	list := make([]*userNetwork, 0, len(m.user))
	for _, n := range m.user {
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b *userNetwork) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return list
}

// detachUserLocked removes every user-defined network endpoint of the
// container and stops its DNS server. The veths go with the namespace. The
// caller holds m.mu.
func (m *Manager) detachUserLocked(ctx context.Context, containerID string) []error {
	var errs []error
	for _, n := range m.user {
		ep, ok := n.Endpoints[containerID]
		if !ok {
			continue
		}
		if err := m.removeUserEndpointLocked(ctx, n, ep); err != nil {
			errs = append(errs, err)
			continue
		}
		go func(name string) {
			if err := deleteLink(name); err != nil {
				log.FromContext(ctx).Debug("delete host end of veth", "veth", name, log.Err(err))
			}
		}(ep.HostIfName)
	}
	m.stopDNSLocked(containerID)
	return errs
}

// SetDNSNames replaces the names the embedded DNS server answers for the
// container's endpoint on a user-defined network, for example after a
// rename. A missing endpoint is ignored.
func (m *Manager) SetDNSNames(containerID, networkID string, names []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	n, ok := m.user[networkID]
	if !ok {
		return nil
	}
	ep, ok := n.Endpoints[containerID]
	if !ok {
		return nil
	}
	ep.DNSNames = slices.Clone(names)
	return m.saveUserNetworksLocked()
}
