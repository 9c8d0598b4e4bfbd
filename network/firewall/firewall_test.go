package firewall

import (
	"context"
	"crypto/rand"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
)

func newTestFirewall(t *testing.T) *Firewall {
	t.Helper()
	testutil.Requires(t, testutil.Root)

	suffix := strings.ToLower(rand.Text()[:6])
	f, err := New(Config{
		Table:        "berth-test-" + suffix,
		Bridge:       "bt" + suffix[:4],
		Subnet:       netip.MustParsePrefix("10.250.7.0/24"),
		ForwardTable: "berth-test-filter-" + suffix,
		ForwardChain: "FORWARD",
	})
	assert.NilError(t, err)
	t.Cleanup(func() {
		exec.Command("nft", "delete", "table", "ip", f.cfg.Table).Run()
		exec.Command("nft", "delete", "table", "ip", f.cfg.ForwardTable).Run()
	})
	return f
}

// listTable returns the output of "nft list table ip NAME", or "" when the
// table does not exist.
func listTable(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", name).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

func TestRebuildBaseRules(t *testing.T) {
	f := newTestFirewall(t)
	ctx := context.Background()

	assert.NilError(t, f.Rebuild(ctx, nil))
	// A second rebuild replaces the table instead of adding duplicates.
	assert.NilError(t, f.Rebuild(ctx, nil))

	out := listTable(t, f.cfg.Table)
	br := f.cfg.Bridge
	for _, want := range []string{
		"type nat hook prerouting priority dstnat",
		// nft names priority -100 "dstnat" only for the prerouting hook.
		"type nat hook output priority -100",
		"type nat hook postrouting priority srcnat",
		"type filter hook forward priority filter; policy accept;",
		"fib daddr type local jump published-ports",
		`oifname != "` + br + `" ip saddr 10.250.7.0/24 masquerade`,
		`oifname "` + br + `" ip saddr 10.250.7.0/24 ct status dnat masquerade`,
		`oifname "` + br + `" ip saddr 127.0.0.0/8 masquerade`,
		`oifname "` + br + `" ct state established,related accept`,
		`oifname "` + br + `" iifname "` + br + `" accept`,
		`oifname "` + br + `" ct status dnat accept`,
		`oifname "` + br + `" drop`,
	} {
		assert.Check(t, is.Contains(out, want))
	}
	assert.Check(t, is.Equal(strings.Count(out, "jump published-ports"), 2))
}

func TestPortRules(t *testing.T) {
	f := newTestFirewall(t)
	ctx := context.Background()
	c1 := netip.MustParseAddr("10.250.7.2")
	c2 := netip.MustParseAddr("10.250.7.3")

	assert.NilError(t, f.Rebuild(ctx, map[string][]PortMapping{
		"aaa": {{Proto: "tcp", HostIP: netip.IPv4Unspecified(), HostPort: 8000, ContainerIP: c1, ContainerPort: 80}},
	}))
	assert.NilError(t, f.AddPorts(ctx, "bbb", []PortMapping{
		{Proto: "udp", HostPort: 5353, ContainerIP: c2, ContainerPort: 53},
		{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8443, ContainerIP: c2, ContainerPort: 443},
	}))

	out := listTable(t, f.cfg.Table)
	assert.Check(t, is.Contains(out, `tcp dport 8000 dnat to 10.250.7.2:80 comment "container aaa"`))
	assert.Check(t, is.Contains(out, `udp dport 5353 dnat to 10.250.7.3:53 comment "container bbb"`))
	assert.Check(t, is.Contains(out, `ip daddr 127.0.0.1 tcp dport 8443 dnat to 10.250.7.3:443 comment "container bbb"`))

	assert.NilError(t, f.RemovePorts(ctx, "bbb"))
	assert.NilError(t, f.RemovePorts(ctx, "bbb"))

	out = listTable(t, f.cfg.Table)
	assert.Check(t, is.Contains(out, "container aaa"))
	assert.Check(t, !strings.Contains(out, "container bbb"), out)

	assert.NilError(t, f.DeleteTable(ctx))
	assert.Check(t, is.Equal(listTable(t, f.cfg.Table), ""))
	assert.NilError(t, f.DeleteTable(ctx))
	assert.NilError(t, f.RemovePorts(ctx, "aaa"))
}

func TestPortRuleInvalid(t *testing.T) {
	tests := []struct {
		name string
		m    PortMapping
	}{
		{name: "sctp", m: PortMapping{Proto: "sctp", HostPort: 1, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 1}},
		{name: "no host port", m: PortMapping{Proto: "tcp", ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 1}},
		{name: "ipv6 host", m: PortMapping{
			Proto: "tcp", HostIP: netip.IPv6Loopback(), HostPort: 1,
			ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 1,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := portRule(tc.m)
			assert.Check(t, err != nil)
		})
	}
}

func TestForwardAccept(t *testing.T) {
	f := newTestFirewall(t)
	ctx := context.Background()

	found, err := f.EnsureForwardAccept(ctx)
	assert.NilError(t, err)
	assert.Check(t, !found)

	// Stand in for Docker's "ip filter FORWARD" with a chain of our own.
	// Its policy stays accept so that no other forwarded traffic is affected.
	nft := exec.Command("nft", "-f", "-")
	nft.Stdin = strings.NewReader("table ip " + f.cfg.ForwardTable + " {\n" +
		"chain FORWARD { type filter hook forward priority filter; policy accept;\n" +
		"counter comment \"other rule\"\n}\n}\n")
	out, err := nft.CombinedOutput()
	assert.NilError(t, err, string(out))

	found, err = f.EnsureForwardAccept(ctx)
	assert.NilError(t, err)
	assert.Check(t, found)
	_, err = f.EnsureForwardAccept(ctx)
	assert.NilError(t, err)

	listing := listTable(t, f.cfg.ForwardTable)
	br := f.cfg.Bridge
	tag := `comment "berth bridge ` + br + `"`
	assert.Check(t, is.Equal(strings.Count(listing, tag), 2), listing)
	assert.Check(t, is.Contains(listing, `iifname "`+br+`" accept `+tag))
	assert.Check(t, is.Contains(listing, `oifname "`+br+`" accept `+tag))
	ours := strings.Index(listing, tag)
	other := strings.Index(listing, "other rule")
	assert.Check(t, ours < other, "accept rules are not first:\n%s", listing)

	assert.NilError(t, f.RemoveForwardAccept(ctx))
	listing = listTable(t, f.cfg.ForwardTable)
	assert.Check(t, !strings.Contains(listing, tag), listing)
	assert.Check(t, is.Contains(listing, "other rule"))
}

// TestForwardAcceptIptablesChain checks the accept rules against the chain
// iptables-nft creates, as Docker does, in a network namespace of its own so
// that the DROP policy affects nothing else.
func TestForwardAcceptIptablesChain(t *testing.T) {
	testutil.Requires(t, testutil.Root)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("needs iptables (iptables-nft): install it with apt-get install iptables")
	}

	// The test goroutine's thread moves to a new network namespace for good:
	// it stays locked, so the runtime ends it when the test returns. Commands
	// started from it inherit the namespace.
	runtime.LockOSThread()
	assert.NilError(t, unix.Unshare(unix.CLONE_NEWNET))

	iptables := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("iptables", args...).CombinedOutput()
		assert.NilError(t, err, "iptables %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	iptables("-P", "FORWARD", "DROP")
	iptables("-N", "DOCKER-USER")
	iptables("-A", "FORWARD", "-j", "DOCKER-USER")
	iptables("-A", "FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	iptables("-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT")
	iptables("-A", "FORWARD", "-p", "tcp", "--dport", "80", "-m", "comment", "--comment", "other", "-j", "ACCEPT")

	f, err := New(Config{Table: "berth-test", Bridge: "btdock", Subnet: netip.MustParsePrefix("10.250.8.0/24")})
	assert.NilError(t, err)
	ctx := context.Background()

	found, err := f.EnsureForwardAccept(ctx)
	assert.NilError(t, err)
	assert.Check(t, found)
	_, err = f.EnsureForwardAccept(ctx)
	assert.NilError(t, err)

	rules := strings.Split(strings.TrimSpace(iptables("-S", "FORWARD")), "\n")
	assert.Assert(t, is.Len(rules, 7), strings.Join(rules, "\n"))
	assert.Check(t, is.Equal(rules[0], "-P FORWARD DROP"))
	assert.Check(t, is.Equal(rules[1], `-A FORWARD -i btdock -m comment --comment "berth bridge btdock" -j ACCEPT`))
	assert.Check(t, is.Equal(rules[2], `-A FORWARD -o btdock -m comment --comment "berth bridge btdock" -j ACCEPT`))
	assert.Check(t, is.Equal(rules[3], "-A FORWARD -j DOCKER-USER"))

	assert.NilError(t, f.RemoveForwardAccept(ctx))
	after := iptables("-S", "FORWARD")
	assert.Check(t, !strings.Contains(after, "btdock"), after)
	assert.Check(t, is.Contains(after, `--comment other`))
}
