package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network/firewall"
	"github.com/berth-engine/berth/network/ipam"
	"github.com/berth-engine/berth/network/portmap"
)

// Names of the predefined networks, as Docker names them.
const (
	BridgeNetwork = "bridge"
	HostNetwork   = "host"
	NoneNetwork   = "none"
)

// Bridge driver options that CreateRequest.Options may carry, Docker's keys.
const (
	OptionBridgeName = "com.docker.network.bridge.name"
	OptionMTU        = "com.docker.network.driver.mtu"
	OptionICC        = "com.docker.network.bridge.enable_icc"
)

const (
	userNetworksFile    = "networks.json"
	userNetworksVersion = 1
)

// networkNamePattern is the pattern Docker Engine accepts for network names,
// the same as for container names.
var networkNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CreateRequest describes a user-defined bridge network.
type CreateRequest struct {
	Name     string
	Subnet   netip.Prefix // the zero Prefix picks a free range of ipam.DefaultPools
	Gateway  netip.Addr   // the zero Addr means the subnet's first host address
	IPRange  netip.Prefix // addresses Connect allocates from; zero means the whole subnet
	Internal bool
	Labels   map[string]string
	// Options are driver options: OptionBridgeName, OptionMTU and OptionICC
	// are applied, others are stored and shown only.
	Options map[string]string
}

// Network is a user-defined bridge network, or the default bridge in the
// listing of Networks.
type Network struct {
	ID         string
	Name       string
	Created    time.Time
	Bridge     string
	Subnet     netip.Prefix
	Gateway    netip.Addr
	IPRange    netip.Prefix `json:",omitzero"`
	Internal   bool
	MTU        int
	DisableICC bool
	Labels     map[string]string
	Options    map[string]string
	// Endpoints are the containers connected now, by container ID.
	Endpoints map[string]*Endpoint
}

func (n *Network) clone() *Network {
	c := *n
	c.Labels = maps.Clone(n.Labels)
	c.Options = maps.Clone(n.Options)
	c.Endpoints = make(map[string]*Endpoint, len(n.Endpoints))
	for id, ep := range n.Endpoints {
		c.Endpoints[id] = ep.clone()
	}
	return &c
}

// userNetwork is a user-defined network with its runtime parts.
type userNetwork struct {
	Network
	BridgeCreated bool       // berth created the bridge, so RemoveNetwork deletes it
	Removing      bool       `json:",omitempty"` // a removal started; New finishes it
	LastAddress   netip.Addr `json:",omitzero"`

	firewall     *firewall.Firewall
	addresses    *ipam.Allocator
	reservations map[string][]*portmap.Reservation
}

// userNetworksState is the content of <StateDir>/networks.json.
type userNetworksState struct {
	Version int `json:"version"`
	// Predefined holds the IDs of the networks "bridge", "host" and "none".
	Predefined map[string]string       `json:"predefined"`
	Networks   map[string]*userNetwork `json:"networks"`
}

func loadUserNetworks(dir string) (*userNetworksState, error) {
	st := &userNetworksState{Version: userNetworksVersion, Predefined: map[string]string{},
		Networks: map[string]*userNetwork{}}
	path := filepath.Join(dir, userNetworksFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read networks: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("read networks %s: %w", path, err)
	}
	if st.Version != userNetworksVersion {
		return nil, fmt.Errorf("read networks %s: unsupported version %d", path, st.Version)
	}
	if st.Predefined == nil {
		st.Predefined = map[string]string{}
	}
	if st.Networks == nil {
		st.Networks = map[string]*userNetwork{}
	}
	return st, nil
}

// saveUserNetworksLocked writes networks.json atomically. The caller holds
// m.mu.
func (m *Manager) saveUserNetworksLocked() error {
	for _, n := range m.user {
		if n.addresses != nil {
			n.LastAddress = n.addresses.Last()
		}
	}
	st := &userNetworksState{Version: userNetworksVersion, Predefined: m.predefined, Networks: m.user}
	if err := atomicfile.WriteJSON(filepath.Join(m.cfg.StateDir, userNetworksFile), st, 0o600); err != nil {
		return fmt.Errorf("save networks: %w", err)
	}
	return nil
}

// newID returns a random 64-digit hex ID like Docker's.
func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// restoreUserNetworks loads networks.json, sets every network up again and
// finishes removals that a crash interrupted. A network that cannot be set
// up is logged and kept, so that a later start can retry.
func (m *Manager) restoreUserNetworks(ctx context.Context) error {
	st, err := loadUserNetworks(m.cfg.StateDir)
	if err != nil {
		return err
	}
	m.predefined = st.Predefined
	for _, name := range []string{BridgeNetwork, HostNetwork, NoneNetwork} {
		if m.predefined[name] == "" {
			m.predefined[name] = newID()
		}
	}
	for id, n := range st.Networks {
		if n.Endpoints == nil {
			n.Endpoints = map[string]*Endpoint{}
		}
		n.reservations = map[string][]*portmap.Reservation{}
		if n.Removing {
			log.FromContext(ctx).Info("finishing removal of network", "network", n.Name, "bridge", n.Bridge)
			n.teardown(ctx)
			continue
		}
		m.user[id] = n
		if err := m.setupUserNetwork(ctx, n); err != nil {
			log.FromContext(ctx).Warn("set up network", "network", n.Name, "bridge", n.Bridge, log.Err(err))
			continue
		}
		for cid, ep := range n.Endpoints {
			n.reservations[cid] = reservePortsAgain(ctx, ep)
			if err := m.startDNSLocked(ctx, cid, ep.NetNSPath, ep.DNSServers); err != nil {
				log.FromContext(ctx).Warn("start embedded DNS server of restored endpoint",
					log.KeyContainer, cid, log.Err(err))
			}
		}
	}
	return m.saveUserNetworksLocked()
}

// setupUserNetwork creates the bridge when it is missing and rebuilds the
// network's nftables table.
func (m *Manager) setupUserNetwork(ctx context.Context, n *userNetwork) error {
	gateway := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	link, err := netlink.LinkByName(n.Bridge)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		if err := createBridgeLink(n.Bridge, n.MTU, gateway); err != nil {
			return err
		}
		n.BridgeCreated = true
		log.FromContext(ctx).Info("created bridge", "network", n.Name, "bridge", n.Bridge, "gateway", gateway)
	case err != nil:
		return fmt.Errorf("look up bridge %s: %w", n.Bridge, err)
	default:
		if link.Type() != "bridge" {
			return fmt.Errorf("interface %s exists and is a %s, not a bridge: %w", n.Bridge, link.Type(), errdefs.ErrConflict)
		}
		current, err := bridgeAddress(link)
		if err != nil {
			return err
		}
		if !current.IsValid() {
			if err := addAddress(link, gateway); err != nil {
				return err
			}
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set bridge %s up: %w", n.Bridge, err)
		}
	}
	if err := enableForwarding(n.Bridge); err != nil {
		return err
	}

	n.addresses, err = ipam.New(n.Subnet, n.Gateway)
	if err != nil {
		return err
	}
	if n.IPRange.IsValid() {
		if err := n.addresses.SetPool(n.IPRange); err != nil {
			return err
		}
	}
	n.addresses.SetLast(n.LastAddress)
	for cid, ep := range n.Endpoints {
		if err := n.addresses.Reserve(ep.Address.Addr()); err != nil {
			log.FromContext(ctx).Warn("saved endpoint address does not fit the network",
				log.KeyContainer, cid, "network", n.Name, "address", ep.Address, log.Err(err))
		}
	}

	n.firewall, err = firewall.New(firewall.Config{
		Table: "berth-" + n.Bridge, Bridge: n.Bridge, Subnet: n.Subnet,
		Internal: n.Internal, DisableICC: n.DisableICC, ForwardTable: m.cfg.forwardTable,
	})
	if err != nil {
		return err
	}
	if _, err := n.firewall.EnsureForwardAccept(ctx); err != nil {
		return err
	}
	mappings := make(map[string][]firewall.PortMapping, len(n.Endpoints))
	for cid, ep := range n.Endpoints {
		mappings[cid] = portMappings(ep)
	}
	return n.firewall.Rebuild(ctx, mappings)
}

// createBridgeLink creates a bridge with a fixed random MAC, the gateway
// address and the MTU (0 keeps the kernel's default), and sets it up.
func createBridgeLink(name string, mtu int, gateway netip.Prefix) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.HardwareAddr = randomMAC()
	if mtu > 0 {
		attrs.MTU = mtu
	}
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("create bridge %s: %w", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err == nil {
		err = addAddress(link, gateway)
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		deleteBridge(name)
		return fmt.Errorf("set up bridge %s: %w", name, err)
	}
	return nil
}

// teardown deletes the network's rules and, if berth created it, its bridge.
// Errors are logged, because a removal goes on regardless.
func (n *userNetwork) teardown(ctx context.Context) {
	fw := n.firewall
	if fw == nil {
		var err error
		fw, err = firewall.New(firewall.Config{Table: "berth-" + n.Bridge, Bridge: n.Bridge, Subnet: n.Subnet})
		if err != nil {
			log.FromContext(ctx).Warn("remove rules of network", "network", n.Name, log.Err(err))
		}
	}
	if fw != nil {
		if err := fw.DeleteTable(ctx); err != nil {
			log.FromContext(ctx).Warn("delete nftables table of network", "network", n.Name, log.Err(err))
		}
		if err := fw.RemoveForwardAccept(ctx); err != nil {
			log.FromContext(ctx).Warn("remove forward accept rules of network", "network", n.Name, log.Err(err))
		}
	}
	if n.BridgeCreated {
		if err := deleteBridge(n.Bridge); err != nil {
			log.FromContext(ctx).Warn("delete bridge of network", "network", n.Name, "bridge", n.Bridge, log.Err(err))
		}
	}
}

// CreateNetwork creates a user-defined bridge network and returns it. A
// taken name fails with errdefs.ErrConflict, an invalid or overlapping
// subnet with errdefs.ErrInvalidArgument.
func (m *Manager) CreateNetwork(ctx context.Context, req CreateRequest) (*Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	if m.closed {
		return nil, fmt.Errorf("create network %s: network manager is closed: %w", req.Name, errdefs.ErrUnavailable)
	}
	n, err := m.newUserNetwork(req)
	if err != nil {
		return nil, err
	}

	// The record is saved before the bridge exists, so that New removes a
	// half-created network after a crash.
	n.Removing = true
	m.user[n.ID] = n
	if err := m.saveUserNetworksLocked(); err != nil {
		delete(m.user, n.ID)
		return nil, err
	}
	if err := m.setupUserNetwork(ctx, n); err != nil {
		n.teardown(ctx)
		delete(m.user, n.ID)
		if saveErr := m.saveUserNetworksLocked(); saveErr != nil {
			log.FromContext(ctx).Warn("save networks after failed create", log.Err(saveErr))
		}
		return nil, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	n.Removing = false
	if err := m.saveUserNetworksLocked(); err != nil {
		return nil, err
	}
	log.FromContext(ctx).Info("created network", "network", n.Name, "id", n.ID, "bridge", n.Bridge,
		"subnet", n.Subnet, "internal", n.Internal)
	return n.Network.clone(), nil
}

// newUserNetwork validates req and fills in the ID, the bridge name, the
// subnet and the gateway. The caller holds m.mu.
func (m *Manager) newUserNetwork(req CreateRequest) (*userNetwork, error) {
	if !networkNamePattern.MatchString(req.Name) {
		return nil, fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w",
			req.Name, errdefs.ErrInvalidArgument)
	}
	if _, ok := m.predefined[req.Name]; ok {
		return nil, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
	}
	for _, other := range m.user {
		if other.Name == req.Name {
			return nil, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
		}
	}

	n := &userNetwork{
		Network: Network{
			ID: newID(), Name: req.Name, Created: time.Now().UTC(), Internal: req.Internal,
			Labels: maps.Clone(req.Labels), Options: maps.Clone(req.Options), Endpoints: map[string]*Endpoint{},
		},
		reservations: map[string][]*portmap.Reservation{},
	}
	if err := n.applyOptions(); err != nil {
		return nil, err
	}
	if n.Bridge == "" {
		n.Bridge = "br-" + n.ID[:12]
	}
	if n.Bridge == m.cfg.Bridge || m.bridgeInUse(n.Bridge) {
		return nil, fmt.Errorf("bridge name %s is already used by another network: %w", n.Bridge, errdefs.ErrConflict)
	}
	if err := m.chooseSubnet(n, req); err != nil {
		return nil, err
	}
	return n, nil
}

func (m *Manager) bridgeInUse(bridge string) bool {
	for _, other := range m.user {
		if other.Bridge == bridge {
			return true
		}
	}
	return false
}

// applyOptions reads the bridge name, MTU and ICC driver options.
func (n *userNetwork) applyOptions() error {
	for key, value := range n.Options {
		switch key {
		case OptionBridgeName:
			if value == "" || len(value) >= unix.IFNAMSIZ || strings.ContainsAny(value, "/ \t\n") {
				return fmt.Errorf("invalid bridge name %q: use 1 to %d characters without '/' or spaces: %w",
					value, unix.IFNAMSIZ-1, errdefs.ErrInvalidArgument)
			}
			n.Bridge = value
		case OptionMTU:
			var mtu int
			if _, err := fmt.Sscan(value, &mtu); err != nil || mtu < 68 || mtu > 65535 {
				return fmt.Errorf("invalid MTU %q: must be a number from 68 to 65535: %w", value, errdefs.ErrInvalidArgument)
			}
			n.MTU = mtu
		case OptionICC:
			switch value {
			case "true":
			case "false":
				n.DisableICC = true
			default:
				return fmt.Errorf("invalid value %q for %s: use true or false: %w", value, key, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// chooseSubnet sets the subnet, gateway and IP range of n from req, or picks
// a free default pool. The caller holds m.mu.
func (m *Manager) chooseSubnet(n *userNetwork, req CreateRequest) error {
	var inUse []netip.Prefix
	inUse = append(inUse, m.gateway.Masked())
	for _, other := range m.user {
		inUse = append(inUse, other.Subnet)
	}

	subnet := req.Subnet
	if subnet.IsValid() {
		if !subnet.Addr().Is4() {
			return fmt.Errorf("invalid subnet %s: only IPv4 subnets are supported: %w", subnet, errdefs.ErrInvalidArgument)
		}
		if subnet != subnet.Masked() {
			return fmt.Errorf("invalid subnet %s: it should be %s: %w", subnet, subnet.Masked(), errdefs.ErrInvalidArgument)
		}
		for _, p := range inUse {
			if p.IsValid() && p.Overlaps(subnet) {
				return fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space: "+
					"subnet %s overlaps %s: %w", subnet, p, errdefs.ErrInvalidArgument)
			}
		}
	} else {
		if req.Gateway.IsValid() || req.IPRange.IsValid() {
			return fmt.Errorf("invalid network configuration: a gateway or IP range needs --subnet: %w",
				errdefs.ErrInvalidArgument)
		}
		host, err := hostPrefixes()
		if err != nil {
			return err
		}
		subnet, err = ipam.FindFreeSubnet(ipam.DefaultPools(), append(inUse, host...))
		if err != nil {
			return fmt.Errorf("create network %s: %w: set one with --subnet", req.Name, err)
		}
	}

	gateway := req.Gateway
	if !gateway.IsValid() {
		gateway = ipam.FirstHost(subnet)
	}
	alloc, err := ipam.New(subnet, gateway)
	if err != nil {
		return err
	}
	if req.IPRange.IsValid() {
		if err := alloc.SetPool(req.IPRange); err != nil {
			return err
		}
		if req.IPRange != req.IPRange.Masked() {
			return fmt.Errorf("invalid IP range %s: it should be %s: %w", req.IPRange, req.IPRange.Masked(),
				errdefs.ErrInvalidArgument)
		}
	}
	n.Subnet, n.Gateway, n.IPRange = subnet, gateway, req.IPRange
	return nil
}

// RemoveNetwork deletes a user-defined network, its bridge and its rules.
// A network with connected containers fails with errdefs.ErrConflict.
func (m *Manager) RemoveNetwork(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()

	n, ok := m.user[id]
	if !ok {
		return fmt.Errorf("network %s not found: %w", id, errdefs.ErrNotFound)
	}
	if len(n.Endpoints) > 0 {
		return fmt.Errorf("error while removing network: network %s has active endpoints: %w", n.Name, errdefs.ErrConflict)
	}
	n.Removing = true
	if err := m.saveUserNetworksLocked(); err != nil {
		n.Removing = false
		return err
	}
	n.teardown(ctx)
	delete(m.user, id)
	if err := m.saveUserNetworksLocked(); err != nil {
		return err
	}
	log.FromContext(ctx).Info("removed network", "network", n.Name, "id", n.ID, "bridge", n.Bridge)
	return nil
}

// Networks returns copies of the user-defined networks, sorted by name.
func (m *Manager) Networks() []*Network {
	m.mu.Lock()
	defer m.mu.Unlock()

	list := make([]*Network, 0, len(m.user))
	for _, n := range m.user {
		list = append(list, n.Network.clone())
	}
	slices.SortFunc(list, func(a, b *Network) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// DefaultNetwork returns the default bridge as a Network named "bridge".
func (m *Manager) DefaultNetwork() *Network {
	m.mu.Lock()
	defer m.mu.Unlock()

	n := &Network{
		ID: m.predefined[BridgeNetwork], Name: BridgeNetwork, Bridge: m.cfg.Bridge, Created: m.created,
		Subnet: m.gateway.Masked(), Gateway: m.gateway.Addr(), Endpoints: map[string]*Endpoint{},
		Options: map[string]string{
			"com.docker.network.bridge.default_bridge": "true",
			OptionICC: "true",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
			"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
			OptionBridgeName: m.cfg.Bridge,
		},
		Labels: map[string]string{},
	}
	if link, err := netlink.LinkByName(m.cfg.Bridge); err == nil {
		n.MTU = link.Attrs().MTU
	}
	for id, ep := range m.endpoints {
		n.Endpoints[id] = ep.clone()
	}
	return n
}

// PredefinedID returns the ID of the predefined network "bridge", "host" or
// "none", or "" for another name.
func (m *Manager) PredefinedID(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.predefined[name]
}

// UserNetwork returns a copy of the user-defined network with the ID.
func (m *Manager) UserNetwork(id string) (*Network, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()

	n, ok := m.user[id]
	if !ok {
		return nil, false
	}
	return n.Network.clone(), true
}
