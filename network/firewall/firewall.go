// Package firewall programs the nftables rules of a berth bridge network:
// DNAT for published ports, masquerading, and forwarding to and from the
// bridge.
//
// All rules live in one table of family ip that this package owns, so
// rebuilding or deleting it never touches other rules. The one exception is a
// filter chain of another program that drops forwarded traffic, such as
// iptables' FORWARD chain, whose policy Docker sets to DROP. There
// EnsureForwardAccept inserts two accept rules for the bridge. A comment tags
// them, so RemoveForwardAccept deletes exactly those.
//
// The table, for bridge br0 and subnet 10.88.0.0/16:
//
//	table ip <Table> {
//		chain prerouting { type nat hook prerouting priority dstnat
//			fib daddr type local jump published-ports }
//		chain output { type nat hook output priority -100
//			fib daddr type local jump published-ports }
//		chain published-ports {
//			meta l4proto tcp th dport 8000 dnat to 10.88.0.2:80 comment "container <id>" }
//		chain postrouting { type nat hook postrouting priority srcnat
//			oifname != br0 ip saddr 10.88.0.0/16 masquerade
//			oifname br0 ip saddr 10.88.0.0/16 ct status dnat masquerade
//			oifname br0 ip saddr 127.0.0.0/8 masquerade }
//		chain forward { type filter hook forward priority filter; policy accept
//			oifname br0 ct state established,related accept
//			oifname br0 iifname br0 accept
//			oifname br0 ct status dnat accept
//			oifname br0 drop }
//	}
//
// An internal network has no first postrouting rule and its forward chain
// starts with "iifname br0 oifname != br0 drop". With DisableICC the rule
// for traffic between containers drops instead of accepting.
//
// The second postrouting rule makes hairpin connections work: a container
// that reaches a published port through a host address gets answers from the
// gateway address it sent to. The third lets host processes reach published
// ports on 127.0.0.1, which also needs net.ipv4.conf.<bridge>.route_localnet.
// The forward chain lets only replies, traffic between containers and
// published ports into the bridge, so other hosts cannot route to container
// addresses directly.
package firewall

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
)

// Chain names in the table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	chainPorts       = "published-ports"
)

// Docker's filter chain: iptables-nft keeps iptables' filter table as the
// nftables table "ip filter".
const (
	DefaultForwardTable = "filter"
	DefaultForwardChain = "FORWARD"
)

// Config describes the bridge network the rules are for.
type Config struct {
	Table  string       // nftables table name (family ip), owned by this package
	Bridge string       // bridge interface name
	Subnet netip.Prefix // container subnet on the bridge

	// Internal networks have no route out: no masquerading, and forwarded
	// traffic from the bridge to any other interface is dropped.
	Internal bool
	// DisableICC drops forwarded traffic between containers on the bridge.
	// NOTE: frames between ports of one bridge pass the ip forward hook only
	// while the br_netfilter module is loaded, so without it containers on
	// the bridge still reach each other.
	DisableICC bool

	// ForwardTable and ForwardChain name the ip-family filter chain of another
	// program that may drop forwarded traffic. Empty means DefaultForwardTable
	// and DefaultForwardChain.
	ForwardTable string
	ForwardChain string
}

// PortMapping is one published port: packets for HostIP:HostPort are
// redirected to ContainerIP:ContainerPort.
type PortMapping struct {
	Proto         string     // "tcp" or "udp"
	HostIP        netip.Addr // 0.0.0.0 (or the zero Addr) matches every local address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// Firewall manages the rules of one bridge network. Its methods do not keep
// state between calls, and each opens its own netlink connection.
type Firewall struct {
	cfg Config
}

// New checks cfg and returns a Firewall for it. It changes no rules.
func New(cfg Config) (*Firewall, error) {
	if cfg.Table == "" {
		return nil, fmt.Errorf("invalid firewall config: missing table name: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.Bridge == "" || len(cfg.Bridge) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("invalid firewall config: bridge name %q must have 1 to %d characters: %w",
			cfg.Bridge, unix.IFNAMSIZ-1, errdefs.ErrInvalidArgument)
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("invalid firewall config: subnet %s must be IPv4: %w",
			cfg.Subnet, errdefs.ErrInvalidArgument)
	}
	if cfg.ForwardTable == "" {
		cfg.ForwardTable = DefaultForwardTable
	}
	if cfg.ForwardChain == "" {
		cfg.ForwardChain = DefaultForwardChain
	}
	cfg.Subnet = cfg.Subnet.Masked()

	return &Firewall{cfg: cfg}, nil
}

func (f *Firewall) table() *nftables.Table {
	return &nftables.Table{Name: f.cfg.Table, Family: nftables.TableFamilyIPv4}
}

// Rebuild replaces the table with a new one holding the base rules and the
// port mappings of every endpoint, keyed by container ID. It runs as one
// nftables transaction, so packets never see a half-built table.
func (f *Firewall) Rebuild(ctx context.Context, endpoints map[string][]PortMapping) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("rebuild nftables table %s: %w", f.cfg.Table, err)
	}

	table := f.table()
	// Adding before deleting makes the delete succeed when the table is missing.
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	f.addBaseChains(conn, table)

	ports := &nftables.Chain{Name: chainPorts, Table: table}
	for _, id := range slices.Sorted(maps.Keys(endpoints)) {
		if err := addPortRules(conn, ports, id, endpoints[id]); err != nil {
			return fmt.Errorf("rebuild nftables table %s: %w", f.cfg.Table, err)
		}
	}

	if err := conn.Flush(); err != nil {
		return fmt.Errorf("rebuild nftables table %s: %w", f.cfg.Table, err)
	}
	log.FromContext(ctx).Debug("rebuilt nftables table", "table", f.cfg.Table, "endpoints", len(endpoints))
	return nil
}

func (f *Firewall) addBaseChains(conn *nftables.Conn, table *nftables.Table) {
	bridge := f.cfg.Bridge
	subnet := f.cfg.Subnet
	accept := nftables.ChainPolicyAccept

	conn.AddChain(&nftables.Chain{Name: chainPorts, Table: table})

	prerouting := conn.AddChain(&nftables.Chain{
		Name: chainPrerouting, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
	})
	conn.AddRule(&nftables.Rule{Table: table, Chain: prerouting, Exprs: concat(
		matchLocalDestination(), []expr.Any{jump(chainPorts)})})

	output := conn.AddChain(&nftables.Chain{
		Name: chainOutput, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest,
	})
	conn.AddRule(&nftables.Rule{Table: table, Chain: output, Exprs: concat(
		matchLocalDestination(), []expr.Any{jump(chainPorts)})})

	postrouting := conn.AddChain(&nftables.Chain{
		Name: chainPostrouting, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	masquerade := []expr.Any{&expr.Masq{}}
	var natRules [][]expr.Any
	if !f.cfg.Internal {
		natRules = append(natRules, concat(matchOIFName(expr.CmpOpNeq, bridge), matchSourcePrefix(subnet), masquerade))
	}
	natRules = append(natRules,
		concat(matchOIFName(expr.CmpOpEq, bridge), matchSourcePrefix(subnet), matchCtStatusDNAT(), masquerade),
		concat(matchOIFName(expr.CmpOpEq, bridge), matchSourcePrefix(loopback), masquerade),
	)
	for _, body := range natRules {
		conn.AddRule(&nftables.Rule{Table: table, Chain: postrouting, Exprs: body})
	}

	forward := conn.AddChain(&nftables.Chain{
		Name: chainForward, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	toBridge := matchOIFName(expr.CmpOpEq, bridge)
	icc := expr.VerdictAccept
	if f.cfg.DisableICC {
		icc = expr.VerdictDrop
	}
	var forwardRules [][]expr.Any
	if f.cfg.Internal {
		forwardRules = append(forwardRules,
			concat(matchIIFName(bridge), matchOIFName(expr.CmpOpNeq, bridge), []expr.Any{verdict(expr.VerdictDrop)}))
	}
	forwardRules = append(forwardRules,
		concat(toBridge, matchCtStateEstablished(), []expr.Any{verdict(expr.VerdictAccept)}),
		concat(toBridge, matchIIFName(bridge), []expr.Any{verdict(icc)}),
		concat(toBridge, matchCtStatusDNAT(), []expr.Any{verdict(expr.VerdictAccept)}),
		concat(toBridge, []expr.Any{verdict(expr.VerdictDrop)}),
	)
	for _, body := range forwardRules {
		conn.AddRule(&nftables.Rule{Table: table, Chain: forward, Exprs: body})
	}
}

// AddPorts adds the DNAT rules for one endpoint's port mappings to the
// existing table, tagged with the container ID. Then it deletes the
// conntrack entries of UDP flows to the new host ports, so that a client
// that was already sending reaches the container.
func (f *Firewall) AddPorts(ctx context.Context, containerID string, mappings []PortMapping) error {
	if len(mappings) == 0 {
		return nil
	}

	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("add port rules for container %s: %w", containerID, err)
	}

	ports := &nftables.Chain{Name: chainPorts, Table: f.table()}
	if err := addPortRules(conn, ports, containerID, mappings); err != nil {
		return err
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("add port rules for container %s to nftables table %s: %w",
			containerID, f.cfg.Table, err)
	}

	forgetUDPFlows(ctx, mappings)

	log.FromContext(ctx).Debug("added port rules", log.KeyContainer, containerID, "ports", len(mappings))
	return nil
}

func addPortRules(conn *nftables.Conn, ports *nftables.Chain, containerID string, mappings []PortMapping) error {
	for _, m := range mappings {
		body, err := portRule(m)
		if err != nil {
			return fmt.Errorf("add port rules for container %s: %w", containerID, err)
		}
		conn.AddRule(&nftables.Rule{
			Table: ports.Table, Chain: ports, Exprs: body,
			UserData: userdata.AppendString(nil, userdata.TypeComment, containerComment(containerID)),
		})
	}
	return nil
}

func portRule(m PortMapping) ([]expr.Any, error) {
	var proto byte
	switch m.Proto {
	case "tcp":
		proto = unix.IPPROTO_TCP
	case "udp":
		proto = unix.IPPROTO_UDP
	default:
		return nil, fmt.Errorf("invalid port mapping: unsupported protocol %q: %w", m.Proto, errdefs.ErrNotImplemented)
	}
	if !m.ContainerIP.Is4() || m.HostPort == 0 || m.ContainerPort == 0 {
		return nil, fmt.Errorf("invalid port mapping %s:%d -> %s:%d: %w",
			m.HostIP, m.HostPort, m.ContainerIP, m.ContainerPort, errdefs.ErrInvalidArgument)
	}

	var body []expr.Any
	if m.HostIP.IsValid() && !m.HostIP.IsUnspecified() {
		if !m.HostIP.Is4() {
			return nil, fmt.Errorf("invalid port mapping: host address %s is not IPv4: %w",
				m.HostIP, errdefs.ErrNotImplemented)
		}
		body = matchDestination(m.HostIP)
	}
	return concat(body, matchDestinationPort(proto, m.HostPort), dnatTo(m.ContainerIP, m.ContainerPort)), nil
}

func containerComment(containerID string) string {
	return "container " + containerID
}

// RemovePorts deletes the DNAT rules tagged with the container ID. A missing
// table or rule is not an error.
func (f *Firewall) RemovePorts(ctx context.Context, containerID string) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove port rules for container %s: %w", containerID, err)
	}

	table := f.table()
	exists, err := tableExists(conn, table)
	if err != nil || !exists {
		return err
	}

	ports := &nftables.Chain{Name: chainPorts, Table: table}
	n, err := deleteTagged(conn, ports, containerComment(containerID))
	if err != nil {
		return fmt.Errorf("remove port rules for container %s from nftables table %s: %w",
			containerID, f.cfg.Table, err)
	}

	log.FromContext(ctx).Debug("removed port rules", log.KeyContainer, containerID, "rules", n)
	return nil
}

// DeleteTable deletes the table and everything in it. A missing table is not
// an error.
func (f *Firewall) DeleteTable(ctx context.Context) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("delete nftables table %s: %w", f.cfg.Table, err)
	}

	table := f.table()
	conn.AddTable(table)
	conn.DelTable(table)
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", f.cfg.Table, err)
	}

	log.FromContext(ctx).Debug("deleted nftables table", "table", f.cfg.Table)
	return nil
}

func tableExists(conn *nftables.Conn, table *nftables.Table) (bool, error) {
	tables, err := conn.ListTablesOfFamily(table.Family)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == table.Name {
			return true, nil
		}
	}
	return false, nil
}

// deleteTagged deletes the rules of chain whose comment is tag and returns how
// many it deleted.
func deleteTagged(conn *nftables.Conn, chain *nftables.Chain, tag string) (int, error) {
	rules, err := conn.GetRules(chain.Table, chain)
	if err != nil {
		return 0, fmt.Errorf("list rules of chain %s: %w", chain.Name, err)
	}

	n := 0
	for _, r := range rules {
		if comment, _ := userdata.GetString(r.UserData, userdata.TypeComment); comment != tag {
			continue
		}
		if err := conn.DelRule(r); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := conn.Flush(); err != nil {
		return 0, err
	}
	return n, nil
}
