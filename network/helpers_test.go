package network

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"gotest.tools/v3/assert"

	"github.com/berth-engine/berth/internal/testutil"
	"github.com/berth-engine/berth/network/ipam"
)

// netipComparers lets go-cmp compare the netip types, whose fields are
// unexported.
var netipComparers = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// ioTimeout only keeps a broken test from hanging; no test asserts on time.
const ioTimeout = 10 * time.Second

// testConfig returns a Config with a unique bridge and table, temporary
// directories and a /24 from 10.200.0.0-10.255.255.0 that no host route or
// address overlaps. Everything it names is removed in t.Cleanup.
func testConfig(t *testing.T) Config {
	t.Helper()
	testutil.Requires(t, testutil.Root)

	suffix := strings.ToLower(rand.Text()[:4])
	cfg := Config{
		StateDir:   t.TempDir(),
		NetNSDir:   t.TempDir(),
		Bridge:     "bt" + suffix,
		BridgeCIDR: freeTestSubnet(t).String(),
		Table:      "berth-test-" + suffix,
	}

	// Registered after t.TempDir, so it runs before the directories are
	// removed: a mounted namespace file would block their removal.
	t.Cleanup(func() { forceCleanup(t, cfg) })
	return cfg
}

func freeTestSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	inUse, err := hostPrefixes()
	assert.NilError(t, err)

	for range 100 {
		second, err := rand.Int(rand.Reader, big.NewInt(56))
		assert.NilError(t, err)
		third, err := rand.Int(rand.Reader, big.NewInt(256))
		assert.NilError(t, err)
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + second.Int64()), byte(third.Int64()), 0}), 24)

		if _, err := ipam.FindFreeSubnet([]netip.Prefix{subnet}, inUse); err == nil {
			return netip.PrefixFrom(ipam.FirstHost(subnet), 24)
		}
	}
	t.Fatal("no free /24 in 10.200.0.0/13 and above")
	return netip.Prefix{}
}

// forceCleanup removes what a test may have left after a failure: namespace
// mounts, veths on the bridge, the bridge and the nftables table.
func forceCleanup(t *testing.T, cfg Config) {
	entries, _ := os.ReadDir(cfg.NetNSDir)
	for _, e := range entries {
		if err := removeNetNS(filepath.Join(cfg.NetNSDir, e.Name())); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
	if br, err := netlink.LinkByName(cfg.Bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				netlink.LinkDel(l)
			}
		}
		netlink.LinkDel(br)
	}
	exec.Command("nft", "delete", "table", "ip", cfg.Table).Run()
}

// newTestManager returns a Manager for cfg that detaches every endpoint and
// closes in t.Cleanup.
func newTestManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(context.Background(), cfg)
	assert.NilError(t, err)

	t.Cleanup(func() {
		ctx := context.Background()
		for _, ep := range m.Endpoints() {
			if err := m.Detach(ctx, ep.ContainerID); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
		if err := m.Close(ctx); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return m
}

// bridgePorts returns the names of the links attached to the bridge.
func bridgePorts(t *testing.T, bridge string) []string {
	t.Helper()
	br, err := netlink.LinkByName(bridge)
	assert.NilError(t, err)
	links, err := netlink.LinkList()
	assert.NilError(t, err)

	var names []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// nftTable returns the output of "nft list table ip NAME", or "" when the
// table does not exist.
func nftTable(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", name).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// runInNetNS runs fn on a thread switched into the namespace at path.
// Sockets fn creates stay in that namespace after it returns.
func runInNetNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()

		origin, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer origin.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}

		fnErr := fn()
		// A thread that cannot switch back stays locked, so the runtime
		// ends it with this goroutine.
		if err := netns.Set(origin); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- fnErr
	}()
	assert.NilError(t, <-errc)
}

// serveGreeting listens on TCP port inside the namespace and sends greeting
// on every connection.
func serveGreeting(t *testing.T, nsPath string, port int, greeting string) {
	t.Helper()
	var l net.Listener
	runInNetNS(t, nsPath, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	t.Cleanup(func() { l.Close() })

	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(ioTimeout))
			io.WriteString(conn, greeting)
			conn.Close()
		}
	}()
}

// readGreeting connects to addr and returns what the server sends.
func readGreeting(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp4", addr, ioTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))

	data, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		return string(data), err
	}
	return string(data), nil
}

// readGreetingFrom connects to addr from inside the namespace at nsPath.
func readGreetingFrom(t *testing.T, nsPath, addr string) (string, error) {
	t.Helper()
	var conn net.Conn
	var dialErr error
	runInNetNS(t, nsPath, func() error {
		// Only the dial runs in the namespace; a dial error is returned to
		// the caller instead of failing the test here.
		conn, dialErr = net.DialTimeout("tcp4", addr, ioTimeout)
		return nil
	})
	if dialErr != nil {
		return "", dialErr
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))

	data, err := io.ReadAll(conn)
	return string(data), err
}

// ping sends one ICMP echo from inside the namespace with busybox.
func ping(nsPath string, addr netip.Addr) error {
	out, err := exec.Command("nsenter", "--net="+nsPath, "/bin/busybox", "ping", "-c", "1", "-W", "5",
		addr.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", addr, nsPath, err, out)
	}
	return nil
}
