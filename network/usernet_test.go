package network

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/miekg/dns"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
)

// queryDNS sends one query to the embedded DNS server from inside the
// namespace at nsPath.
func queryDNS(t *testing.T, nsPath, name string, qtype uint16) *dns.Msg {
	t.Helper()
	return queryDNSOver(t, "udp4", nsPath, name, qtype)
}

// queryDNSOver is queryDNS over "udp4" or "tcp4".
func queryDNSOver(t *testing.T, transport, nsPath, name string, qtype uint16) *dns.Msg {
	t.Helper()
	var reply *dns.Msg
	var queryErr error
	runInNetNS(t, nsPath, func() error {
		conn, err := net.Dial(transport, net.JoinHostPort(DNSAddress, "53"))
		if err != nil {
			queryErr = err
			return nil
		}
		c := &dns.Client{Timeout: ioTimeout}
		msg := new(dns.Msg)
		msg.SetQuestion(dns.Fqdn(name), qtype)
		reply, _, queryErr = c.ExchangeWithConn(msg, &dns.Conn{Conn: conn})
		conn.Close()
		return nil
	})
	assert.NilError(t, queryErr)
	return reply
}

func answerAddrs(reply *dns.Msg) []string {
	var out []string
	for _, rr := range reply.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func createTestNetwork(t *testing.T, m *Manager, name string, internal bool) *Network {
	t.Helper()
	subnet := freeTestSubnet(t).Masked()
	n, err := m.CreateNetwork(context.Background(), CreateRequest{Name: name, Subnet: subnet, Internal: internal})
	assert.NilError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		if current, ok := m.UserNetwork(n.ID); ok {
			for id := range current.Endpoints {
				m.Detach(ctx, id)
			}
		}
		if err := m.RemoveNetwork(ctx, n.ID); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return n
}

func TestUserNetworkDNS(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Busybox)
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	n := createTestNetwork(t, m, "front", false)
	assert.Check(t, is.Len(n.ID, 64))
	assert.Check(t, is.Equal(n.Bridge, "br-"+n.ID[:12]))
	assert.Check(t, linkExists(n.Bridge))
	assert.Check(t, nftTable(t, "berth-"+n.Bridge) != "")

	a, err := m.Connect(ctx, ConnectRequest{ContainerID: "dns-a", NetworkID: n.ID, DNSNames: []string{"web", "shared"}})
	assert.NilError(t, err)
	b, err := m.Connect(ctx, ConnectRequest{ContainerID: "dns-b", NetworkID: n.ID, DNSNames: []string{"api", "shared"},
		IPv4: n.Subnet.Addr().Next().Next().Next().Next().Next()})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(b.Address.Addr(), n.Subnet.Addr().Next().Next().Next().Next().Next()))
	assert.Check(t, is.Equal(a.IfName, "eth0"))
	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()))

	reply := queryDNS(t, a.NetNSPath, "api", dns.TypeA)
	assert.Check(t, is.DeepEqual(answerAddrs(reply), []string{b.Address.Addr().String()}))
	reply = queryDNS(t, a.NetNSPath, "API.front", dns.TypeA)
	assert.Check(t, is.DeepEqual(answerAddrs(reply), []string{b.Address.Addr().String()}))
	reply = queryDNSOver(t, "tcp4", a.NetNSPath, "api", dns.TypeA)
	assert.Check(t, is.DeepEqual(answerAddrs(reply), []string{b.Address.Addr().String()}))
	reply = queryDNS(t, a.NetNSPath, "api", dns.TypeAAAA)
	assert.Check(t, is.Equal(reply.Rcode, dns.RcodeSuccess))
	assert.Check(t, is.Len(reply.Answer, 0))

	// A legacy link's alias resolves for the linking container only.
	l, err := m.Connect(ctx, ConnectRequest{ContainerID: "dns-l", NetworkID: n.ID, DNSNames: []string{"linker"}, Links: []string{"api:store"}})
	assert.NilError(t, err)
	reply = queryDNS(t, l.NetNSPath, "store", dns.TypeA)
	assert.Check(t, is.DeepEqual(answerAddrs(reply), []string{b.Address.Addr().String()}))
	reply = queryDNS(t, a.NetNSPath, "store", dns.TypeA)
	assert.Check(t, is.Len(reply.Answer, 0))
	assert.NilError(t, m.Disconnect(ctx, "dns-l", n.ID))

	first := answerAddrs(queryDNS(t, a.NetNSPath, "shared", dns.TypeA))
	second := answerAddrs(queryDNS(t, a.NetNSPath, "shared", dns.TypeA))
	assert.Check(t, is.Len(first, 2))
	assert.Check(t, is.Len(second, 2))
	assert.Check(t, first[0] != second[0], "round robin: %v then %v", first, second)

	ptr, err := dns.ReverseAddr(b.Address.Addr().String())
	assert.NilError(t, err)
	reply = queryDNS(t, a.NetNSPath, ptr, dns.TypePTR)
	assert.Assert(t, is.Len(reply.Answer, 1))
	assert.Check(t, is.Equal(reply.Answer[0].(*dns.PTR).Ptr, "api.front."))

	// A static address in use is a conflict, and a used network cannot go.
	_, err = m.Connect(ctx, ConnectRequest{ContainerID: "dns-c", NetworkID: n.ID, IPv4: b.Address.Addr()})
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)
	err = m.RemoveNetwork(ctx, n.ID)
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)
	assert.Check(t, is.ErrorContains(err, "network front has active endpoints"))

	assert.NilError(t, m.Disconnect(ctx, "dns-b", n.ID))
	reply = queryDNS(t, a.NetNSPath, "api", dns.TypeA)
	assert.Check(t, is.Len(reply.Answer, 0))
	assert.Check(t, !linkExists(b.HostIfName))
}

func TestUserNetworkIsolation(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Busybox)
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	one := createTestNetwork(t, m, "one", false)
	two := createTestNetwork(t, m, "two", false)
	internal := createTestNetwork(t, m, "closed", true)

	a, err := m.Connect(ctx, ConnectRequest{ContainerID: "iso-a", NetworkID: one.ID})
	assert.NilError(t, err)
	b, err := m.Connect(ctx, ConnectRequest{ContainerID: "iso-b", NetworkID: two.ID})
	assert.NilError(t, err)
	c, err := m.Connect(ctx, ConnectRequest{ContainerID: "iso-c", NetworkID: internal.ID})
	assert.NilError(t, err)

	assert.Check(t, ping(a.NetNSPath, one.Gateway))
	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()) != nil, "networks one and two are not isolated")
	assert.Check(t, ping(c.NetNSPath, a.Address.Addr()) != nil, "internal network reaches another network")
	assert.Check(t, ping(c.NetNSPath, internal.Gateway))

	// A second network joins the same namespace as eth1.
	a2, err := m.Connect(ctx, ConnectRequest{ContainerID: "iso-a", NetworkID: two.ID})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(a2.IfName, "eth1"))
	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()))
}

func TestUserNetworkRestore(t *testing.T) {
	testutil.Requires(t, testutil.Root)
	cfg := testConfig(t)
	ctx := context.Background()

	m, err := New(ctx, cfg)
	assert.NilError(t, err)
	subnet := freeTestSubnet(t).Masked()
	n, err := m.CreateNetwork(ctx, CreateRequest{Name: "kept", Subnet: subnet,
		Options: map[string]string{OptionBridgeName: cfg.Bridge + "u", OptionMTU: "1400"}})
	assert.NilError(t, err)
	t.Cleanup(func() { deleteBridge(cfg.Bridge + "u") })
	ep, err := m.Connect(ctx, ConnectRequest{ContainerID: "kept-a", NetworkID: n.ID, DNSNames: []string{"kept-a"}})
	assert.NilError(t, err)
	_, err = m.CreateNetwork(ctx, CreateRequest{Name: "kept", Subnet: freeTestSubnet(t).Masked()})
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)
	_, err = m.CreateNetwork(ctx, CreateRequest{Name: "overlap", Subnet: subnet})
	assert.Check(t, errdefs.IsInvalidArgument(err), "error: %v", err)
	assert.NilError(t, m.Close(ctx))

	m = newTestManager(t, cfg)
	got, ok := m.UserNetwork(n.ID)
	assert.Assert(t, ok)
	assert.Check(t, is.Equal(got.Bridge, cfg.Bridge+"u"))
	assert.Check(t, is.Equal(got.MTU, 1400))
	assert.Check(t, is.Equal(got.Endpoints["kept-a"].Address, ep.Address))
	reply := queryDNS(t, ep.NetNSPath, "kept-a", dns.TypeA)
	assert.Check(t, is.DeepEqual(answerAddrs(reply), []string{ep.Address.Addr().String()}))

	assert.NilError(t, m.Detach(ctx, "kept-a"))
	assert.NilError(t, m.RemoveNetwork(ctx, n.ID))
	assert.Check(t, !linkExists(cfg.Bridge+"u"))
	assert.Check(t, is.Equal(nftTable(t, "berth-"+cfg.Bridge+"u"), ""))
	_, ok = m.UserNetwork(n.ID)
	assert.Check(t, !ok)
}

func TestUserNetworkForeignForwardChain(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Busybox)
	cfg := testConfig(t)
	cfg.forwardTable = cfg.Table + "-filter"
	ctx := context.Background()
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "ip", cfg.forwardTable).Run() })
	m := newTestManager(t, cfg)
	n := createTestNetwork(t, m, "guarded", false)

	// Stand in for Docker's "ip filter FORWARD" chain with policy drop, created
	// after the network so that Connect has to find it. With br_netfilter
	// loaded, traffic between ports of one bridge passes it too.
	nft := exec.Command("nft", "-f", "-")
	nft.Stdin = strings.NewReader(fmt.Sprintf("table ip %s {\nchain FORWARD {\n"+
		"type filter hook forward priority filter; policy accept;\n"+
		"iifname %q drop\noifname %q drop\n}\n}\n", cfg.forwardTable, n.Bridge, n.Bridge))
	out, err := nft.CombinedOutput()
	assert.NilError(t, err, string(out))

	a, err := m.Connect(ctx, ConnectRequest{ContainerID: "guard-a", NetworkID: n.ID})
	assert.NilError(t, err)
	b, err := m.Connect(ctx, ConnectRequest{ContainerID: "guard-b", NetworkID: n.ID})
	assert.NilError(t, err)
	tag := `comment "berth bridge ` + n.Bridge + `"`
	assert.Check(t, is.Equal(strings.Count(nftTable(t, cfg.forwardTable), tag), 2))
	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()))

	assert.NilError(t, m.Detach(ctx, "guard-a"))
	assert.NilError(t, m.Detach(ctx, "guard-b"))
	assert.NilError(t, m.RemoveNetwork(ctx, n.ID))
	listing := nftTable(t, cfg.forwardTable)
	assert.Check(t, !strings.Contains(listing, tag), listing)
}
