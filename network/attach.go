package network

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network/portmap"
)

// Attach creates the container's endpoint: a network namespace at
// <NetNSDir>/<ContainerID>, a veth pair between it and the bridge, an address
// with a default route via the gateway, and the published ports. The returned
// Endpoint lists the ports as applied (see Endpoint.Ports).
//
// A host port that is already in use fails with Docker's message, e.g. "Bind
// for 0.0.0.0:8000 failed: port is already allocated", wrapping
// errdefs.ErrConflict. A container that already has an endpoint fails with
// errdefs.ErrAlreadyExists. On any error Attach undoes all it did.
func (m *Manager) Attach(ctx context.Context, req AttachRequest) (_ *Endpoint, err error) {
	id := req.ContainerID
	if err := validateContainerID(id); err != nil {
		return nil, err
	}
	bindings, err := normalizePorts(req.Ports)
	if err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}
	ctx = log.With(ctx, log.KeyContainer, id)

	m.mu.Lock()
	defer m.mu.Unlock()

	if m.closed {
		return nil, fmt.Errorf("attach container %s: network manager is closed: %w", id, errdefs.ErrUnavailable)
	}
	if _, ok := m.endpoints[id]; ok {
		return nil, fmt.Errorf("attach container %s: already attached to bridge %s: %w",
			id, m.cfg.Bridge, errdefs.ErrAlreadyExists)
	}
	// Docker may have recreated its forward chain since the last check.
	if _, err := m.firewall.EnsureForwardAccept(ctx); err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
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

	addr, err := m.addresses.Allocate()
	if err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}
	undo = append(undo, func() { m.addresses.Release(addr) })

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
		NetNSPath:   filepath.Join(m.cfg.NetNSDir, id),
		IfName:      m.nextIfName(id),
		MAC:         mac,
		Bridge:      m.cfg.Bridge,
		Address:     netip.PrefixFrom(addr, m.gateway.Bits()),
		Gateway:     m.gateway.Addr(),
		Ports:       bindings,
	}

	if !req.JoinNamespace && !m.hasEndpoint(id) {
		// A namespace left by an Attach that crashed before saving its endpoint.
		if err := removeNetNS(ep.NetNSPath); err != nil {
			return nil, fmt.Errorf("attach container %s: remove stale namespace: %w", id, err)
		}
		if err := createNetNS(ep.NetNSPath); err != nil {
			return nil, fmt.Errorf("attach container %s: %w", id, err)
		}
		undo = append(undo, func() {
			if err := removeNetNS(ep.NetNSPath); err != nil {
				log.FromContext(ctx).Warn("remove network namespace after failed attach", log.Err(err))
			}
		})
	}

	ep.HostIfName, err = m.connect(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}
	undo = append(undo, func() {
		if err := deleteLink(ep.HostIfName); err != nil {
			log.FromContext(ctx).Warn("delete veth after failed attach", log.Err(err))
		}
	})

	if err := m.firewall.AddPorts(ctx, id, portMappings(ep)); err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}
	undo = append(undo, func() {
		if err := m.firewall.RemovePorts(ctx, id); err != nil {
			log.FromContext(ctx).Warn("remove port rules after failed attach", log.Err(err))
		}
	})

	m.endpoints[id] = ep
	m.reservations[id] = reservations
	undo = append(undo, func() {
		delete(m.endpoints, id)
		delete(m.reservations, id)
	})
	if err := m.saveLocked(); err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}

	log.FromContext(ctx).Debug("attached container", "address", ep.Address, "veth", ep.HostIfName,
		"ports", len(ep.Ports))
	return ep.clone(), nil
}

// validateContainerID rejects IDs that cannot be a file name in NetNSDir.
func validateContainerID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("invalid container ID %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// normalizePorts checks the bindings and returns them with Proto lowercase
// and defaulted to "tcp", and HostIP defaulted to 0.0.0.0.
func normalizePorts(ports []PortBinding) ([]PortBinding, error) {
	out := make([]PortBinding, 0, len(ports))
	for _, p := range ports {
		p.Proto = strings.ToLower(p.Proto)
		switch p.Proto {
		case "":
			p.Proto = portmap.TCP
		case portmap.TCP, portmap.UDP:
		case "sctp":
			return nil, fmt.Errorf("publish port %d/sctp: SCTP is not supported: %w",
				p.ContainerPort, errdefs.ErrNotImplemented)
		default:
			return nil, fmt.Errorf("publish port %d/%s: invalid protocol: use tcp or udp: %w",
				p.ContainerPort, p.Proto, errdefs.ErrInvalidArgument)
		}
		if p.ContainerPort == 0 {
			return nil, fmt.Errorf("publish port: invalid container port 0: %w", errdefs.ErrInvalidArgument)
		}

		p.HostIP = p.HostIP.Unmap()
		switch {
		case !p.HostIP.IsValid():
			p.HostIP = netip.IPv4Unspecified()
		case !p.HostIP.Is4():
			return nil, fmt.Errorf("publish port %d/%s on %s: IPv6 host addresses are not supported: %w",
				p.ContainerPort, p.Proto, p.HostIP, errdefs.ErrNotImplemented)
		}
		out = append(out, p)
	}
	return out, nil
}

// reservePorts reserves the host port of each binding and fills in the ports
// the kernel chose for HostPort 0 and those taken from a range.
func reservePorts(bindings []PortBinding) ([]*portmap.Reservation, error) {
	var reservations []*portmap.Reservation
	for i, b := range bindings {
		r, err := reserveBinding(b)
		if err != nil {
			closeAll(reservations)
			return nil, err
		}
		reservations = append(reservations, r)
		bindings[i].HostPort = r.AddrPort().Port()
		bindings[i].HostPortEnd = 0
	}
	return reservations, nil
}

// reserveBinding reserves the host port of b, or the first free port of its
// range. Trying each port while reserving it means two containers started
// at once never pick the same one. A full range fails with the error of its
// first port, which names it.
func reserveBinding(b PortBinding) (*portmap.Reservation, error) {
	r, err := portmap.Reserve(b.Proto, netip.AddrPortFrom(b.HostIP, b.HostPort))
	if err == nil || b.HostPortEnd <= b.HostPort {
		return r, err
	}
	var bindErr *portmap.BindError
	for p := uint32(b.HostPort) + 1; p <= uint32(b.HostPortEnd) && errors.As(err, &bindErr); p++ {
		var next error
		if r, next = portmap.Reserve(b.Proto, netip.AddrPortFrom(b.HostIP, uint16(p))); next == nil {
			return r, nil
		}
		if !errors.As(next, &bindErr) {
			return nil, next
		}
	}
	return nil, err
}

func closeAll(reservations []*portmap.Reservation) {
	for _, r := range reservations {
		r.Close()
	}
}

// macFromIP returns the MAC address Docker derives from an IPv4 address:
// 02:42 followed by the four address bytes.
func macFromIP(addr netip.Addr) net.HardwareAddr {
	b := addr.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// connect creates the veth pair for a default bridge endpoint and returns
// the host end's name.
func (m *Manager) connect(ctx context.Context, ep *Endpoint) (hostIfName string, err error) {
	return m.addVeth(ctx, ep, ep.ContainerID, 0, true)
}

// addVeth creates a veth pair with the host end on ep.Bridge and the other
// end configured as ep.IfName in ep.NetNSPath, and returns the host end's
// name. vethKey selects the host end's name (see stableVethName). An mtu of
// 0 takes the bridge's. With defaultRoute, the container gets a default
// route through ep.Gateway unless its namespace already has one.
func (m *Manager) addVeth(ctx context.Context, ep *Endpoint, vethKey string, mtu int, defaultRoute bool) (hostIfName string, err error) {
	bridge, err := netlink.LinkByName(ep.Bridge)
	if err != nil {
		return "", fmt.Errorf("look up bridge %s: %w", ep.Bridge, err)
	}
	ns, err := netns.GetFromPath(ep.NetNSPath)
	if err != nil {
		return "", fmt.Errorf("open network namespace %s: %w", ep.NetNSPath, err)
	}
	defer ns.Close()

	hostIfName, err = m.vethName(ctx, vethKey, bridge.Attrs().Index)
	if err != nil {
		return "", err
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return "", err
	}
	if mtu == 0 {
		mtu = bridge.Attrs().MTU
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostIfName
	attrs.MasterIndex = bridge.Attrs().Index
	attrs.MTU = mtu
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         ep.IfName,
		PeerHardwareAddr: mac,
		PeerNamespace:    netlink.NsFd(int(ns)),
		PeerMTU:          uint32(mtu),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return "", fmt.Errorf("create veth %s: %w", hostIfName, err)
	}
	defer func() {
		if err != nil {
			deleteLink(hostIfName)
		}
	}()

	host, err := netlink.LinkByName(hostIfName)
	if err != nil {
		return "", fmt.Errorf("look up veth %s: %w", hostIfName, err)
	}
	// Hairpin mode lets the bridge send a frame back out of the port it came
	// in on, for a container that reaches itself through a published port.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return "", fmt.Errorf("enable hairpin mode on %s: %w", hostIfName, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return "", fmt.Errorf("set %s up: %w", hostIfName, err)
	}

	if err := configureContainerSide(ns, ep, defaultRoute); err != nil {
		return "", err
	}
	return hostIfName, nil
}

// configureContainerSide sets the address, the links up and, with
// defaultRoute and none there yet, the default route inside the namespace.
func configureContainerSide(ns netns.NsHandle, ep *Endpoint, defaultRoute bool) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink in namespace %s: %w", ep.NetNSPath, err)
	}
	defer h.Close()

	link, err := h.LinkByName(ep.IfName)
	if err != nil {
		return fmt.Errorf("look up %s in namespace %s: %w", ep.IfName, ep.NetNSPath, err)
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: prefixIPNet(ep.Address)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", ep.Address, ep.IfName, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", ep.IfName, err)
	}

	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo in namespace %s: %w", ep.NetNSPath, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}

	if !defaultRoute || hasDefaultRoute(h) {
		return nil
	}
	route := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Gw:        ep.Gateway.AsSlice(),
		Scope:     netlink.SCOPE_UNIVERSE,
	}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %s: %w", ep.Gateway, err)
	}
	return nil
}

// stableVethName is the host-side veth name tried first for an endpoint:
// "veth" and 7 hex digits of the SHA-256 of key, the container ID on the
// default bridge and "<container ID>/<network ID>" on other networks.
func stableVethName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "veth" + hex.EncodeToString(sum[:])[:7]
}

// deleteStaleVeth deletes the veth a crashed Attach of containerID left on
// the bridge, if there is one that no endpoint uses. The caller holds m.mu.
func (m *Manager) deleteStaleVeth(ctx context.Context, containerID string) error {
	name := stableVethName(containerID)
	if m.hostIfNameInUse(name) {
		return nil
	}
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	bridge, err := netlink.LinkByName(m.cfg.Bridge)
	if err != nil || link.Attrs().MasterIndex != bridge.Attrs().Index {
		return nil
	}
	log.FromContext(ctx).Info("deleting veth left by an interrupted attach", "veth", name)
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete stale veth %s: %w", name, err)
	}
	return nil
}

// vethName returns "veth" and 7 hex digits of the container ID's SHA-256, so
// that a pair left by a crashed Attach is found again. A leftover on our
// bridge that no endpoint uses is deleted. A name taken by any other link
// falls back to random digits.
func (m *Manager) vethName(ctx context.Context, key string, bridgeIndex int) (string, error) {
	name := stableVethName(key)

	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		return name, nil
	case err != nil:
		return "", fmt.Errorf("look up link %s: %w", name, err)
	}

	if link.Attrs().MasterIndex == bridgeIndex && !m.hostIfNameInUse(name) {
		log.FromContext(ctx).Info("deleting veth left by an earlier attach", "veth", name)
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return "", fmt.Errorf("delete stale veth %s: %w", name, err)
		}
		return name, nil
	}

	for range 5 {
		b := make([]byte, 4)
		rand.Read(b)
		name = "veth" + hex.EncodeToString(b)[:7]
		if _, err := netlink.LinkByName(name); errors.As(err, &notFound) {
			return name, nil
		}
	}
	return "", fmt.Errorf("choose veth name for endpoint %s: all candidates are taken: %w",
		key, errdefs.ErrConflict)
}

func (m *Manager) hostIfNameInUse(name string) bool {
	for _, ep := range m.endpoints {
		if ep.HostIfName == name {
			return true
		}
	}
	for _, n := range m.user {
		for _, ep := range n.Endpoints {
			if ep.HostIfName == name {
				return true
			}
		}
	}
	return false
}

// deleteLink deletes a link by name. A missing link is not an error.
func deleteLink(name string) error {
	if name == "" {
		return nil
	}
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// Detach removes the container's endpoints on every network, with their
// port rules, reservations, veth pairs and addresses, stops its DNS server
// and unmounts its namespace. Detaching a container without an endpoint
// removes a namespace left at its path and returns nil.
// When a step fails, the endpoint stays recorded so that Detach can be
// retried, and the error lists every failed step.
func (m *Manager) Detach(ctx context.Context, containerID string) error {
	if err := validateContainerID(containerID); err != nil {
		return err
	}
	ctx = log.With(ctx, log.KeyContainer, containerID)

	m.mu.Lock()
	defer m.mu.Unlock()

	if m.closed {
		return fmt.Errorf("detach container %s: network manager is closed: %w", containerID, errdefs.ErrUnavailable)
	}
	if errs := m.detachUserLocked(ctx, containerID); len(errs) > 0 {
		return joinErrors("detach container "+containerID, errs)
	}
	ep, ok := m.endpoints[containerID]
	if !ok {
		// A crash during Attach can leave the namespace and the veth pair
		// without a recorded endpoint.
		if err := removeNetNS(filepath.Join(m.cfg.NetNSDir, containerID)); err != nil {
			return err
		}
		return m.deleteStaleVeth(ctx, containerID)
	}

	var errs []error
	if err := m.firewall.RemovePorts(ctx, containerID); err != nil {
		errs = append(errs, err)
	}
	closeAll(m.reservations[containerID])
	delete(m.reservations, containerID)
	if err := removeNetNS(ep.NetNSPath); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return joinErrors("detach container "+containerID, errs)
	}
	// NOTE: deleting a veth waits for the kernel's network synchronisation
	// (about 30 ms measured on the 2-core build machine), so it runs in the
	// background. The kernel also destroys the pair with the namespace, and
	// deleting the host end here covers a namespace that another mount
	// namespace keeps alive. A restart of the same container that finds the
	// link still there deletes it itself (vethName).
	go func(name string) {
		if err := deleteLink(name); err != nil {
			log.FromContext(ctx).Debug("delete host end of veth", "veth", name, log.Err(err))
		}
	}(ep.HostIfName)

	delete(m.endpoints, containerID)
	if err := m.saveLocked(); err != nil {
		return fmt.Errorf("detach container %s: %w", containerID, err)
	}

	// Deleting conntrack entries dumps the whole table (about 10 ms on the
	// 2-core build machine), so it runs in the background. The address is
	// released only afterwards, so no new container can receive traffic
	// that an old entry still maps to it.
	m.releaseLater(ctx, m.addresses, ep.Address.Addr())

	log.FromContext(ctx).Debug("detached container", "address", ep.Address)
	return nil
}

// forgetConnections deletes the conntrack entries of a removed container's
// address. Otherwise a UDP flow to a published port could keep its DNAT to
// the old address, and a later container with the same address could get
// replies meant for the old one. Failure is logged only, because the entries
// also expire on their own.
func forgetConnections(ctx context.Context, addr netip.Addr) {
	var filters []netlink.CustomConntrackFilter
	for _, typ := range []netlink.ConntrackFilterType{netlink.ConntrackReplyAnyIP, netlink.ConntrackOrigSrcIP} {
		f := &netlink.ConntrackFilter{}
		if err := f.AddIP(typ, addr.AsSlice()); err != nil {
			log.FromContext(ctx).Debug("build conntrack filter", log.Err(err))
			return
		}
		filters = append(filters, f)
	}

	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		log.FromContext(ctx).Debug("delete conntrack entries", "address", addr, log.Err(err))
		return
	}
	log.FromContext(ctx).Debug("deleted conntrack entries", "address", addr, "entries", n)
}

func joinErrors(op string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", op, errors.Join(errs...))
}
