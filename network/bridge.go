package network

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network/ipam"
)

// setupBridge makes sure the bridge exists, is up and has a gateway address.
// It returns that address with the subnet's prefix length and whether it
// created the bridge.
func (m *Manager) setupBridge(ctx context.Context, st *state) (netip.Prefix, bool, error) {
	name := m.cfg.Bridge
	requested, err := parseBridgeCIDR(m.cfg.BridgeCIDR)
	if err != nil {
		return netip.Prefix{}, false, err
	}

	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		gateway, err := m.createBridge(ctx, requested, st)
		return gateway, err == nil, err
	case err != nil:
		return netip.Prefix{}, false, fmt.Errorf("look up bridge %s: %w", name, err)
	}

	if link.Type() != "bridge" {
		return netip.Prefix{}, false, fmt.Errorf("interface %s exists and is a %s, not a bridge: "+
			"choose another name with --bridge: %w", name, link.Type(), errdefs.ErrConflict)
	}

	gateway, err := bridgeAddress(link)
	if err != nil {
		return netip.Prefix{}, false, err
	}
	switch {
	case gateway.IsValid() && requested.IsValid() && gateway != requested:
		return netip.Prefix{}, false, fmt.Errorf("bridge %s has address %s, not the requested %s: "+
			"change the bridge address or delete the bridge: %w", name, gateway, requested, errdefs.ErrConflict)
	case !gateway.IsValid():
		gateway, err = chooseGateway(requested, st)
		if err != nil {
			return netip.Prefix{}, false, err
		}
		if err := addAddress(link, gateway); err != nil {
			return netip.Prefix{}, false, err
		}
	}

	if err := netlink.LinkSetUp(link); err != nil {
		return netip.Prefix{}, false, fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return gateway, false, nil
}

func parseBridgeCIDR(cidr string) (netip.Prefix, error) {
	if cidr == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("invalid bridge address %q: use an IPv4 gateway/prefix such as 10.88.0.1/16: %w",
			cidr, errdefs.ErrInvalidArgument)
	}
	if _, err := ipam.New(p.Masked(), p.Addr()); err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid bridge address %q: %w", cidr, err)
	}
	return p, nil
}

func (m *Manager) createBridge(ctx context.Context, requested netip.Prefix, st *state) (netip.Prefix, error) {
	name := m.cfg.Bridge
	gateway, err := chooseGateway(requested, st)
	if err != nil {
		return netip.Prefix{}, err
	}

	// A fixed MAC keeps the bridge from taking the lowest MAC of its ports,
	// which would change as containers come and go.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.HardwareAddr = randomMAC()
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return netip.Prefix{}, fmt.Errorf("create bridge %s: %w", name, err)
	}

	link, err := netlink.LinkByName(name)
	if err == nil {
		err = addAddress(link, gateway)
	}
	if err == nil {
		err = netlink.LinkSetUp(link)
	}
	if err != nil {
		if delErr := deleteBridge(name); delErr != nil {
			log.FromContext(ctx).Warn("delete bridge after failed setup", "bridge", name, log.Err(delErr))
		}
		return netip.Prefix{}, fmt.Errorf("set up bridge %s: %w", name, err)
	}

	log.FromContext(ctx).Info("created bridge", "bridge", name, "gateway", gateway)
	return gateway, nil
}

// chooseGateway returns the requested address, else the saved one unless a
// host route or address now overlaps it, else the first free default pool.
func chooseGateway(requested netip.Prefix, st *state) (netip.Prefix, error) {
	if requested.IsValid() {
		return requested, nil
	}

	inUse, err := hostPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	if saved := st.Gateway; saved.IsValid() {
		if _, err := ipam.FindFreeSubnet([]netip.Prefix{saved.Masked()}, inUse); err == nil {
			return saved, nil
		}
	}

	subnet, err := ipam.FindFreeSubnet(ipam.DefaultPools(), inUse)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("choose bridge subnet: %w: set one with --bip", err)
	}
	return netip.PrefixFrom(ipam.FirstHost(subnet), subnet.Bits()), nil
}

// hostPrefixes returns the destinations of all IPv4 routes, in every routing
// table, and the subnets of all IPv4 addresses on the host.
func hostPrefixes() ([]netip.Prefix, error) {
	var routes []netlink.Route
	err := retryDump(func() (err error) {
		routes, err = netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	var addrs []netlink.Addr
	err = retryDump(func() (err error) {
		addrs, err = netlink.AddrList(nil, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}

	var prefixes []netip.Prefix
	for _, r := range routes {
		if p, ok := ipNetPrefix(r.Dst); ok {
			prefixes = append(prefixes, p)
		}
	}
	for _, a := range addrs {
		if p, ok := ipNetPrefix(a.IPNet); ok {
			prefixes = append(prefixes, p.Masked())
		}
	}
	return prefixes, nil
}

// retryDump retries a netlink dump that the kernel interrupted because the
// list changed while it was read.
func retryDump(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones), true
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// bridgeAddress returns the first global IPv4 address of the bridge, or the
// zero Prefix when it has none.
func bridgeAddress(link netlink.Link) (netip.Prefix, error) {
	var addrs []netlink.Addr
	err := retryDump(func() (err error) {
		addrs, err = netlink.AddrList(link, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list addresses of bridge %s: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		if p, ok := ipNetPrefix(a.IPNet); ok {
			return p, nil
		}
	}
	return netip.Prefix{}, nil
}

func addAddress(link netlink.Link, p netip.Prefix) error {
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixIPNet(p)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

// deleteBridge deletes the bridge. A missing bridge is not an error.
func deleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// randomMAC returns a random unicast, locally administered MAC address.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac)
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// enableForwarding sets net.ipv4.ip_forward, which routing between the bridge
// and other interfaces needs, and route_localnet on the bridge, which lets
// connections from 127.0.0.1 be DNATed to a container.
func enableForwarding(bridge string) error {
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	return writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", bridge, "route_localnet"), "1")
}

func writeSysctl(path, value string) error {
	current, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(current)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s to %s: %w", path, value, err)
	}
	return nil
}
