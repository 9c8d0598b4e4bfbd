// Package network connects containers to berth's default bridge network.
//
// A Manager owns one Linux bridge with the gateway address of an IPv4 subnet,
// an nftables table (see package firewall) and, per container, an endpoint: a
// network namespace bind-mounted at <NetNSDir>/<container ID>, which the OCI
// runtime joins by path, with the eth0 end of a veth pair whose other end is
// a port of the bridge. Published ports are DNAT rules, and their host ports
// are reserved by bound sockets (see package portmap).
//
// Endpoints and address allocations are saved in <StateDir>/state.json after
// every change. A new Manager reads that file and puts the rules and port
// reservations of the saved endpoints back in place, so containers keep their
// network across a daemon restart. Endpoints of containers that died meanwhile
// stay until the caller detaches them (see Endpoints).
package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network/firewall"
	"github.com/berth-engine/berth/network/ipam"
	"github.com/berth-engine/berth/network/portmap"
)

// DefaultBridge is the bridge name used when Config.Bridge is empty.
const DefaultBridge = "berth0"

// Config configures a Manager.
type Config struct {
	StateDir   string // directory for state.json, usually <data-root>/networks
	NetNSDir   string // directory of the namespace bind mounts, usually <exec-root>/netns
	Bridge     string // bridge name; "" means DefaultBridge
	BridgeCIDR string // gateway address and prefix length, e.g. "10.88.0.1/16"; "" picks a free /16 or /20
	Table      string // nftables table name (family ip); "" means "berth-" + Bridge

	// forwardTable overrides firewall.DefaultForwardTable, so that tests can
	// stand in for Docker's filter table with one of their own.
	forwardTable string
}

// PortBinding publishes ContainerPort/Proto on HostIP:HostPort.
type PortBinding struct {
	HostIP   netip.Addr // the zero Addr or 0.0.0.0 means every host address
	HostPort uint16     // 0 picks a free port
	// HostPortEnd, when above HostPort, makes HostPort..HostPortEnd a range
	// of which the first free port is taken.
	HostPortEnd   uint16
	ContainerPort uint16
	Proto         string // "tcp" (also when empty) or "udp"
}

// AttachRequest is the request for one container's endpoint on the default
// bridge.
type AttachRequest struct {
	ContainerID string
	Ports       []PortBinding
	MAC         string // a MAC address; "" derives one from the address
	// JoinNamespace joins the namespace at <NetNSDir>/<ContainerID> even
	// when the container has no endpoint (see ConnectRequest).
	JoinNamespace bool
}

// Endpoint is a container's connection to the bridge.
type Endpoint struct {
	ContainerID string
	NetNSPath   string       // bind mount of the network namespace
	IfName      string       // interface name inside the namespace, "eth0"
	HostIfName  string       // host end of the veth pair, a port of the bridge
	MAC         string       // MAC address of IfName, e.g. "02:42:0a:58:00:02"
	Bridge      string       // bridge name
	Address     netip.Prefix // container address with the subnet's prefix length
	Gateway     netip.Addr   // bridge address, the default route
	// Ports are the bindings as applied: Proto lowercase, HostIP 0.0.0.0 when
	// it was unset, and HostPort the chosen port when it was 0.
	Ports []PortBinding

	// NetworkID is the user-defined network of the endpoint, "" on the
	// default bridge.
	NetworkID string   `json:",omitempty"`
	DNSNames  []string `json:",omitempty"` // names the embedded DNS server resolves to Address
	Aliases   []string `json:",omitempty"` // user-given aliases, a subset of DNSNames
	Links     []string `json:",omitempty"` // legacy links, "TARGET:ALIAS" (see ConnectRequest)
	// DNSServers are the embedded DNS server's upstreams (see ConnectRequest).
	DNSServers []string `json:",omitempty"`
}

func (e *Endpoint) clone() *Endpoint {
	c := *e
	c.Ports = slices.Clone(e.Ports)
	c.DNSNames = slices.Clone(e.DNSNames)
	c.Aliases = slices.Clone(e.Aliases)
	c.Links = slices.Clone(e.Links)
	return &c
}

// Manager manages the default bridge network and its endpoints. It is safe
// for concurrent use.
type Manager struct {
	cfg      Config
	firewall *firewall.Firewall

	mu            sync.Mutex
	closed        bool
	gateway       netip.Prefix // bridge address with the subnet's prefix length
	bridgeCreated bool         // the bridge was created by berth, so Close may delete it
	addresses     *ipam.Allocator
	endpoints     map[string]*Endpoint
	reservations  map[string][]*portmap.Reservation
	created       time.Time // when New ran, the creation time shown for "bridge"

	user        map[string]*userNetwork // user-defined networks by ID
	predefined  map[string]string       // IDs of "bridge", "host" and "none"
	dns         map[string]*dnsServer   // embedded DNS servers by container ID
	dnsRotation uint64                  // advances the round-robin order of DNS answers

	// releasing counts addresses of detached containers whose conntrack
	// entries are still being deleted; Close waits for them.
	releasing sync.WaitGroup
}

// New sets up the bridge network and restores the endpoints saved in
// cfg.StateDir.
//
// It creates the bridge when it is missing, with cfg.BridgeCIDR as its address
// or else the saved address or else the first subnet of ipam.DefaultPools that
// no host route or address overlaps. An existing bridge keeps its address, and
// a cfg.BridgeCIDR that differs from it is an error. New enables IPv4
// forwarding and route_localnet on the bridge, rebuilds the nftables table and
// reserves the host ports of saved endpoints again. A port that another
// process took while no Manager ran is logged and left unreserved.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create network state directory: %w", err)
	}
	if err := os.MkdirAll(cfg.NetNSDir, 0o755); err != nil {
		return nil, fmt.Errorf("create network namespace directory: %w", err)
	}

	st, err := loadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if st.Bridge != "" && st.Bridge != cfg.Bridge {
		if len(st.Endpoints) > 0 {
			return nil, fmt.Errorf("network state in %s is for bridge %s with %d endpoints, not %s: "+
				"start with --bridge %s and remove those containers first: %w",
				cfg.StateDir, st.Bridge, len(st.Endpoints), cfg.Bridge, st.Bridge, errdefs.ErrConflict)
		}
		st = newState()
	}

	m := &Manager{
		cfg:          cfg,
		endpoints:    make(map[string]*Endpoint),
		reservations: make(map[string][]*portmap.Reservation),
		created:      time.Now().UTC(),
		user:         make(map[string]*userNetwork),
		dns:          make(map[string]*dnsServer),
	}
	if err := m.setup(ctx, st); err != nil {
		return nil, err
	}
	m.mu.Lock()
	err = m.restoreUserNetworks(ctx)
	m.mu.Unlock()
	if err != nil {
		m.closeReservations()
		return nil, err
	}
	return m, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.StateDir == "" || cfg.NetNSDir == "" {
		return cfg, fmt.Errorf("invalid network config: StateDir and NetNSDir are required: %w",
			errdefs.ErrInvalidArgument)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.Bridge) >= unix.IFNAMSIZ || strings.ContainsAny(cfg.Bridge, "/ \t\n") {
		return cfg, fmt.Errorf("invalid bridge name %q: use at most %d characters without '/' or spaces: %w",
			cfg.Bridge, unix.IFNAMSIZ-1, errdefs.ErrInvalidArgument)
	}
	if cfg.Table == "" {
		cfg.Table = "berth-" + cfg.Bridge
	}
	return cfg, nil
}

// setup brings the bridge, the allocator, the rules and the port reservations
// in line with st. On error it undoes what it changed.
func (m *Manager) setup(ctx context.Context, st *state) (err error) {
	gateway, createdNow, err := m.setupBridge(ctx, st)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && createdNow {
			if delErr := deleteBridge(m.cfg.Bridge); delErr != nil {
				log.FromContext(ctx).Warn("delete bridge after failed setup", "bridge", m.cfg.Bridge, log.Err(delErr))
			}
		}
	}()
	m.gateway = gateway
	m.bridgeCreated = createdNow || (st.Bridge == m.cfg.Bridge && st.BridgeCreated)

	if err := enableForwarding(m.cfg.Bridge); err != nil {
		return err
	}

	m.addresses, err = ipam.New(gateway.Masked(), gateway.Addr())
	if err != nil {
		return err
	}
	m.addresses.SetLast(st.LastAddress)
	for id, ep := range st.Endpoints {
		if err := m.addresses.Reserve(ep.Address.Addr()); err != nil {
			log.FromContext(ctx).Warn("saved endpoint address does not fit the bridge subnet",
				log.KeyContainer, id, "address", ep.Address, "subnet", gateway.Masked(), log.Err(err))
		}
		m.endpoints[id] = ep
	}

	m.firewall, err = firewall.New(firewall.Config{
		Table: m.cfg.Table, Bridge: m.cfg.Bridge, Subnet: gateway.Masked(),
		ForwardTable: m.cfg.forwardTable,
	})
	if err != nil {
		return err
	}
	if _, err := m.firewall.EnsureForwardAccept(ctx); err != nil {
		return err
	}
	mappings := make(map[string][]firewall.PortMapping, len(m.endpoints))
	for id, ep := range m.endpoints {
		mappings[id] = portMappings(ep)
	}
	if err := m.firewall.Rebuild(ctx, mappings); err != nil {
		return err
	}

	for id, ep := range m.endpoints {
		m.reservations[id] = reservePortsAgain(ctx, ep)
	}
	if err := m.saveLocked(); err != nil {
		m.closeReservations()
		if len(m.endpoints) == 0 {
			m.removeRules(ctx)
		}
		return err
	}

	log.FromContext(ctx).Info("bridge network ready", "bridge", m.cfg.Bridge, "gateway", gateway,
		"table", m.cfg.Table, "endpoints", len(m.endpoints))
	return nil
}

// reservePortsAgain reserves the ports of a restored endpoint. A port that
// cannot be reserved keeps its DNAT rule and is logged.
func reservePortsAgain(ctx context.Context, ep *Endpoint) []*portmap.Reservation {
	var reservations []*portmap.Reservation
	for _, p := range ep.Ports {
		r, err := portmap.Reserve(p.Proto, netip.AddrPortFrom(p.HostIP, p.HostPort))
		if err != nil {
			log.FromContext(ctx).Warn("reserve published port of restored endpoint",
				log.KeyContainer, ep.ContainerID, "port", p.HostPort, "proto", p.Proto, log.Err(err))
			continue
		}
		reservations = append(reservations, r)
	}
	return reservations
}

func portMappings(ep *Endpoint) []firewall.PortMapping {
	mappings := make([]firewall.PortMapping, 0, len(ep.Ports))
	for _, p := range ep.Ports {
		mappings = append(mappings, firewall.PortMapping{
			Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort,
			ContainerIP: ep.Address.Addr(), ContainerPort: p.ContainerPort,
		})
	}
	return mappings
}

// Info returns the bridge name, its subnet and the gateway address.
func (m *Manager) Info() (bridge string, subnet netip.Prefix, gateway netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()

	return m.cfg.Bridge, m.gateway.Masked(), m.gateway.Addr()
}

// Endpoint returns a copy of the container's endpoint.
func (m *Manager) Endpoint(containerID string) (*Endpoint, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()

	ep, ok := m.endpoints[containerID]
	if !ok {
		return nil, false
	}
	return ep.clone(), true
}

// Endpoints returns copies of all endpoints on every network, sorted by
// container ID and then network ID, so a container with several endpoints
// appears several times. After a restart the daemon uses it to detach
// containers that are no longer running.
func (m *Manager) Endpoints() []*Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()

	list := make([]*Endpoint, 0, len(m.endpoints))
	for _, ep := range m.endpoints {
		list = append(list, ep.clone())
	}
	for _, n := range m.user {
		for _, ep := range n.Endpoints {
			list = append(list, ep.clone())
		}
	}
	slices.SortFunc(list, func(a, b *Endpoint) int {
		if c := strings.Compare(a.ContainerID, b.ContainerID); c != 0 {
			return c
		}
		return strings.Compare(a.NetworkID, b.NetworkID)
	})
	return list
}

// Close releases the port reservations. When no endpoints remain it also
// deletes the nftables table, the accept rules in a foreign forward chain and
// the bridge if berth created it. With endpoints left, the bridge and rules
// stay so that running containers keep their network until the next New.
func (m *Manager) Close(ctx context.Context) error {
	m.releasing.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()

	if m.closed {
		return nil
	}
	m.closed = true
	m.closeReservations()
	for id := range m.dns {
		m.stopDNSLocked(id)
	}
	// User-defined networks keep their bridges and rules, as Docker's do,
	// so that running containers stay connected until the next New.
	for _, n := range m.user {
		for id, reservations := range n.reservations {
			closeAll(reservations)
			delete(n.reservations, id)
		}
	}

	if n := len(m.endpoints); n > 0 {
		log.FromContext(ctx).Info("keeping bridge network for running endpoints",
			"bridge", m.cfg.Bridge, "endpoints", n)
		return nil
	}

	errs := m.removeRules(ctx)
	if m.bridgeCreated {
		if err := deleteBridge(m.cfg.Bridge); err != nil {
			errs = append(errs, err)
		} else {
			m.bridgeCreated = false
			log.FromContext(ctx).Info("deleted bridge", "bridge", m.cfg.Bridge)
		}
	}
	if err := m.saveLocked(); err != nil {
		errs = append(errs, err)
	}
	return joinErrors("close bridge network "+m.cfg.Bridge, errs)
}

// removeRules deletes the table and the accept rules in a foreign forward
// chain, and logs and returns the errors.
func (m *Manager) removeRules(ctx context.Context) []error {
	var errs []error
	if err := m.firewall.DeleteTable(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := m.firewall.RemoveForwardAccept(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, err := range errs {
		log.FromContext(ctx).Warn("remove nftables rules", "bridge", m.cfg.Bridge, log.Err(err))
	}
	return errs
}

func (m *Manager) closeReservations() {
	for id, reservations := range m.reservations {
		closeAll(reservations)
		delete(m.reservations, id)
	}
}
