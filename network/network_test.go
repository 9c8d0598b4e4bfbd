package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
	"github.com/berth-engine/berth/network/portmap"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(dir string) Config
		wantErr string
	}{
		{
			name:    "missing dirs",
			cfg:     func(string) Config { return Config{} },
			wantErr: "StateDir and NetNSDir are required",
		},
		{
			name: "long bridge name",
			cfg: func(dir string) Config {
				return Config{StateDir: dir, NetNSDir: dir, Bridge: "a-very-long-bridge"}
			},
			wantErr: "invalid bridge name",
		},
		{
			name: "bridge address without prefix",
			cfg: func(dir string) Config {
				return Config{StateDir: dir, NetNSDir: dir, Bridge: "btnone", BridgeCIDR: "10.250.0.1"}
			},
			wantErr: "invalid bridge address",
		},
		{
			name: "ipv6 bridge address",
			cfg: func(dir string) Config {
				return Config{StateDir: dir, NetNSDir: dir, Bridge: "btnone", BridgeCIDR: "fd00::1/64"}
			},
			wantErr: "invalid bridge address",
		},
		{
			name: "network address as gateway",
			cfg: func(dir string) Config {
				return Config{StateDir: dir, NetNSDir: dir, Bridge: "btnone", BridgeCIDR: "10.250.0.0/24"}
			},
			wantErr: "must be a host address",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), tc.cfg(t.TempDir()))
			assert.Check(t, is.ErrorContains(err, tc.wantErr))
			assert.Check(t, errdefs.IsInvalidArgument(err), "error: %v", err)
		})
	}
}

func TestNormalizePorts(t *testing.T) {
	any4 := netip.IPv4Unspecified()
	tests := []struct {
		name  string
		in    PortBinding
		want  PortBinding
		check func(error) bool
	}{
		{
			name: "defaults",
			in:   PortBinding{ContainerPort: 80},
			want: PortBinding{HostIP: any4, ContainerPort: 80, Proto: "tcp"},
		},
		{
			name: "udp uppercase",
			in:   PortBinding{HostPort: 53, ContainerPort: 53, Proto: "UDP"},
			want: PortBinding{HostIP: any4, HostPort: 53, ContainerPort: 53, Proto: "udp"},
		},
		{
			name: "mapped ipv4 host address",
			in:   PortBinding{HostIP: netip.MustParseAddr("::ffff:127.0.0.1"), ContainerPort: 80},
			want: PortBinding{HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 80, Proto: "tcp"},
		},
		{name: "sctp", in: PortBinding{ContainerPort: 80, Proto: "sctp"}, check: errdefs.IsNotImplemented},
		{name: "unknown protocol", in: PortBinding{ContainerPort: 80, Proto: "icmp"}, check: errdefs.IsInvalidArgument},
		{name: "container port 0", in: PortBinding{HostPort: 80}, check: errdefs.IsInvalidArgument},
		{
			name:  "ipv6 host address",
			in:    PortBinding{HostIP: netip.IPv6Loopback(), ContainerPort: 80},
			check: errdefs.IsNotImplemented,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizePorts([]PortBinding{tc.in})
			if tc.check != nil {
				assert.Check(t, tc.check(err), "error: %v", err)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, []PortBinding{tc.want}, netipComparers))
		})
	}
}

func TestMACFromIP(t *testing.T) {
	got := macFromIP(netip.MustParseAddr("172.17.0.2")).String()
	assert.Check(t, is.Equal(got, "02:42:ac:11:00:02"))
}

func TestAttachPing(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Busybox)
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	a, err := m.Attach(ctx, AttachRequest{ContainerID: "ping-a"})
	assert.NilError(t, err)
	b, err := m.Attach(ctx, AttachRequest{ContainerID: "ping-b"})
	assert.NilError(t, err)

	bridge, subnet, gateway := m.Info()
	assert.Check(t, is.Equal(bridge, cfg.Bridge))
	assert.Check(t, is.Equal(netip.PrefixFrom(gateway, subnet.Bits()).String(), cfg.BridgeCIDR))
	assert.Check(t, is.Equal(a.NetNSPath, filepath.Join(cfg.NetNSDir, "ping-a")))
	assert.Check(t, is.Equal(a.IfName, "eth0"))
	assert.Check(t, is.Equal(a.Bridge, cfg.Bridge))
	assert.Check(t, is.Equal(a.Gateway, gateway))
	assert.Check(t, subnet.Contains(a.Address.Addr()))
	assert.Check(t, is.Equal(a.Address.Bits(), subnet.Bits()))
	assert.Check(t, a.Address != b.Address)
	assert.Check(t, is.Equal(a.MAC, macFromIP(a.Address.Addr()).String()))
	assert.Check(t, is.DeepEqual(bridgePorts(t, cfg.Bridge), []string{a.HostIfName, b.HostIfName}))

	hairpin, err := os.ReadFile(filepath.Join("/sys/class/net", a.HostIfName, "brport/hairpin_mode"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.TrimSpace(string(hairpin)), "1"))

	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()))
	assert.Check(t, ping(b.NetNSPath, a.Address.Addr()))
	assert.Check(t, ping(a.NetNSPath, gateway))

	_, err = m.Attach(ctx, AttachRequest{ContainerID: "ping-a"})
	assert.Check(t, errdefs.IsAlreadyExists(err), "error: %v", err)
}

func TestPublishedPort(t *testing.T) {
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	server, err := m.Attach(ctx, AttachRequest{
		ContainerID: "web",
		Ports: []PortBinding{
			{ContainerPort: 80},
			{HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 80, Proto: "tcp"},
		},
	})
	assert.NilError(t, err)
	client, err := m.Attach(ctx, AttachRequest{ContainerID: "client"})
	assert.NilError(t, err)
	serveGreeting(t, server.NetNSPath, 80, "hello from web")

	assert.Assert(t, is.Len(server.Ports, 2))
	anyPort := server.Ports[0]
	loopbackPort := server.Ports[1]
	assert.Check(t, anyPort.HostPort != 0)
	assert.Check(t, is.Equal(anyPort.HostIP, netip.IPv4Unspecified()))
	assert.Check(t, is.Equal(anyPort.Proto, "tcp"))
	assert.Check(t, loopbackPort.HostPort != 0)

	_, _, gateway := m.Info()
	tests := []struct {
		name   string
		fromNS string // "" dials from the host
		addr   netip.Addr
		port   uint16
	}{
		{name: "host to loopback", addr: netip.MustParseAddr("127.0.0.1"), port: anyPort.HostPort},
		{name: "host to other loopback address", addr: netip.MustParseAddr("127.0.0.2"), port: anyPort.HostPort},
		{name: "host to bridge address", addr: gateway, port: anyPort.HostPort},
		{name: "host to loopback binding", addr: netip.MustParseAddr("127.0.0.1"), port: loopbackPort.HostPort},
		{name: "other container hairpin", fromNS: client.NetNSPath, addr: gateway, port: anyPort.HostPort},
		{name: "same container hairpin", fromNS: server.NetNSPath, addr: gateway, port: anyPort.HostPort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := netip.AddrPortFrom(tc.addr, tc.port).String()
			var got string
			var err error
			if tc.fromNS == "" {
				got, err = readGreeting(addr)
			} else {
				got, err = readGreetingFrom(t, tc.fromNS, addr)
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, "hello from web"))
		})
	}

	// The binding on 127.0.0.1 is not reachable through the bridge address.
	_, err = readGreeting(netip.AddrPortFrom(gateway, loopbackPort.HostPort).String())
	assert.Check(t, err != nil, "port bound to 127.0.0.1 answered on %s", gateway)
}

func TestPublishedUDPPort(t *testing.T) {
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	ep, err := m.Attach(ctx, AttachRequest{
		ContainerID: "dns",
		Ports:       []PortBinding{{ContainerPort: 53, Proto: "udp"}},
	})
	assert.NilError(t, err)

	var server net.PacketConn
	runInNetNS(t, ep.NetNSPath, func() (err error) {
		server, err = net.ListenPacket("udp4", ":53")
		return err
	})
	t.Cleanup(func() { server.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := server.ReadFrom(buf)
			if err != nil {
				return
			}
			server.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()

	conn, err := net.Dial("udp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ep.Ports[0].HostPort).String())
	assert.NilError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	_, err = conn.Write([]byte("query"))
	assert.NilError(t, err)

	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(buf[:n]), "echo query"))
}

func TestPortConflict(t *testing.T) {
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	assert.NilError(t, err)
	defer listener.Close()
	port := uint16(listener.Addr().(*net.TCPAddr).Port)

	_, err = m.Attach(ctx, AttachRequest{
		ContainerID: "conflict",
		Ports:       []PortBinding{{ContainerPort: 9000}, {HostPort: port, ContainerPort: 80}},
	})
	assert.Check(t, is.Error(err, fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port)))
	assert.Check(t, errdefs.IsConflict(err))

	// Nothing of the failed attach is left.
	assert.Check(t, is.Len(m.Endpoints(), 0))
	_, statErr := os.Stat(filepath.Join(cfg.NetNSDir, "conflict"))
	assert.Check(t, os.IsNotExist(statErr))
	assert.Check(t, is.Len(bridgePorts(t, cfg.Bridge), 0))
	assert.Check(t, !strings.Contains(nftTable(t, cfg.Table), "container conflict"))

	// A port published by one container is taken for the next.
	first, err := m.Attach(ctx, AttachRequest{ContainerID: "first", Ports: []PortBinding{{ContainerPort: 80}}})
	assert.NilError(t, err)
	hostPort := first.Ports[0].HostPort
	_, err = m.Attach(ctx, AttachRequest{
		ContainerID: "second",
		Ports:       []PortBinding{{HostPort: hostPort, ContainerPort: 80}},
	})
	assert.Check(t, is.Error(err, fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", hostPort)))

	// After detach the port is free again.
	assert.NilError(t, m.Detach(ctx, "first"))
	second, err := m.Attach(ctx, AttachRequest{
		ContainerID: "second",
		Ports:       []PortBinding{{HostPort: hostPort, ContainerPort: 80}},
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(second.Ports[0].HostPort, hostPort))
}

func TestDetach(t *testing.T) {
	cfg := testConfig(t)
	m := newTestManager(t, cfg)
	ctx := context.Background()

	ep, err := m.Attach(ctx, AttachRequest{
		ContainerID: "detach-me",
		Ports:       []PortBinding{{ContainerPort: 80}, {ContainerPort: 53, Proto: "udp"}},
	})
	assert.NilError(t, err)

	rules := nftTable(t, cfg.Table)
	assert.Check(t, is.Equal(strings.Count(rules, `comment "container detach-me"`), 2), rules)
	assert.Check(t, is.Contains(rules, fmt.Sprintf("dnat to %s:80", ep.Address.Addr())))
	got, ok := m.Endpoint("detach-me")
	assert.Check(t, ok)
	assert.Check(t, is.DeepEqual(got, ep, netipComparers))

	assert.NilError(t, m.Detach(ctx, "detach-me"))

	rules = nftTable(t, cfg.Table)
	assert.Check(t, !strings.Contains(rules, "detach-me"), rules)
	assert.Check(t, !strings.Contains(rules, ep.Address.Addr().String()+":"), rules)
	assert.Check(t, is.Contains(rules, "chain published-ports"))
	assert.Check(t, !linkExists(ep.HostIfName))
	_, statErr := os.Stat(ep.NetNSPath)
	assert.Check(t, os.IsNotExist(statErr))
	_, ok = m.Endpoint("detach-me")
	assert.Check(t, !ok)

	// The port is released, and Detach is idempotent.
	r, err := portmap.Reserve(ep.Ports[0].Proto, netip.AddrPortFrom(ep.Ports[0].HostIP, ep.Ports[0].HostPort))
	assert.NilError(t, err)
	r.Close()
	assert.NilError(t, m.Detach(ctx, "detach-me"))
	assert.NilError(t, m.Detach(ctx, "never-attached"))
}

func TestRestoreFromState(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()

	first, err := New(ctx, cfg)
	assert.NilError(t, err)
	ep, err := first.Attach(ctx, AttachRequest{ContainerID: "survivor", Ports: []PortBinding{{ContainerPort: 8080}}})
	assert.NilError(t, err)
	serveGreeting(t, ep.NetNSPath, 8080, "still here")
	hostAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ep.Ports[0].HostPort).String()

	// Closing with a running endpoint keeps bridge and rules: the container
	// stays reachable while no Manager runs.
	assert.NilError(t, first.Close(ctx))
	assert.Check(t, linkExists(cfg.Bridge))
	got, err := readGreeting(hostAddr)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "still here"))

	// Simulate lost rules, then restart.
	out, err := exec.Command("nft", "delete", "table", "ip", cfg.Table).CombinedOutput()
	assert.NilError(t, err, string(out))
	second := newTestManager(t, cfg)

	restored, ok := second.Endpoint("survivor")
	assert.Assert(t, ok)
	assert.Check(t, is.DeepEqual(restored, ep, netipComparers))
	rules := nftTable(t, cfg.Table)
	assert.Check(t, is.Contains(rules, `comment "container survivor"`), rules)

	got, err = readGreeting(hostAddr)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got, "still here"))

	// The host port is reserved again.
	_, err = portmap.Reserve("tcp", netip.AddrPortFrom(netip.IPv4Unspecified(), ep.Ports[0].HostPort))
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)

	// The restored allocation is not handed out twice.
	other, err := second.Attach(ctx, AttachRequest{ContainerID: "newcomer"})
	assert.NilError(t, err)
	assert.Check(t, other.Address != ep.Address)

	// The bridge created by the first Manager is deleted by the second once
	// no endpoints remain.
	assert.NilError(t, second.Detach(ctx, "survivor"))
	assert.NilError(t, second.Detach(ctx, "newcomer"))
	assert.NilError(t, second.Close(ctx))
	assert.Check(t, !linkExists(cfg.Bridge))
	assert.Check(t, is.Equal(nftTable(t, cfg.Table), ""))
}

func TestCloseKeepsForeignBridge(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()

	attrs := netlink.NewLinkAttrs()
	attrs.Name = cfg.Bridge
	assert.NilError(t, netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}))

	m, err := New(ctx, cfg)
	assert.NilError(t, err)
	_, _, gateway := m.Info()
	assert.Check(t, is.Equal(gateway.String(), strings.Split(cfg.BridgeCIDR, "/")[0]))
	assert.NilError(t, m.Close(ctx))

	assert.Check(t, linkExists(cfg.Bridge))
	assert.Check(t, is.Equal(nftTable(t, cfg.Table), ""))
}

func TestBridgeAddressConflict(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()

	m, err := New(ctx, cfg)
	assert.NilError(t, err)
	t.Cleanup(func() { m.Close(ctx) })

	other := cfg
	other.BridgeCIDR = "10.199.0.1/24"
	_, err = New(ctx, other)
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)
}

func TestForwardAcceptInForeignChain(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Busybox)
	cfg := testConfig(t)
	cfg.forwardTable = cfg.Table + "-filter"
	ctx := context.Background()
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "ip", cfg.forwardTable).Run() })

	m := newTestManager(t, cfg)

	// Stand in for Docker's "ip filter FORWARD" chain, created after New so
	// that Attach has to find it. It drops only traffic of the test bridge,
	// leaving all other forwarding on the host alone.
	nft := exec.Command("nft", "-f", "-")
	nft.Stdin = strings.NewReader(fmt.Sprintf("table ip %s {\nchain FORWARD {\n"+
		"type filter hook forward priority filter; policy accept;\n"+
		"iifname %q drop\noifname %q drop\n}\n}\n", cfg.forwardTable, cfg.Bridge, cfg.Bridge))
	out, err := nft.CombinedOutput()
	assert.NilError(t, err, string(out))

	a, err := m.Attach(ctx, AttachRequest{ContainerID: "fwd-a"})
	assert.NilError(t, err)
	b, err := m.Attach(ctx, AttachRequest{ContainerID: "fwd-b"})
	assert.NilError(t, err)

	tag := `comment "berth bridge ` + cfg.Bridge + `"`
	assert.Check(t, is.Equal(strings.Count(nftTable(t, cfg.forwardTable), tag), 2))
	assert.Check(t, ping(a.NetNSPath, b.Address.Addr()))

	assert.NilError(t, m.Detach(ctx, "fwd-a"))
	assert.NilError(t, m.Detach(ctx, "fwd-b"))
	assert.NilError(t, m.Close(ctx))
	listing := nftTable(t, cfg.forwardTable)
	assert.Check(t, !strings.Contains(listing, tag), listing)
	assert.Check(t, is.Contains(listing, "drop"))
}
