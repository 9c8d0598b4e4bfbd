package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// testNetwork is a user-defined network created by a test, with a bridge
// name of its own so that cleanup can find the bridge even after a failure.
type testNetwork struct {
	name    string
	bridge  string
	subnet  netip.Prefix
	gateway netip.Addr
}

// networkSubnets picks count free /24s in 10.230.0.0/16 to 10.239.0.0/16.
func networkSubnets(t *testing.T, count int) []netip.Prefix {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	assert.NilError(t, err)
	var subnets []netip.Prefix
	for i := 0; i < 500 && len(subnets) < count; i++ {
		b := []byte(randomHex(2))
		second := 230 + int(b[0])%10
		third, _ := strconv.ParseUint(randomHex(1), 16, 8)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(second), byte(third), 0}), 24)
		if strings.Contains(string(out), fmt.Sprintf("10.%d.%d.", second, third)) ||
			strings.Contains(string(out), fmt.Sprintf("10.%d.0.0/16", second)) {
			continue
		}
		dup := false
		for _, s := range subnets {
			dup = dup || s == p
		}
		if !dup {
			subnets = append(subnets, p)
		}
	}
	assert.Assert(t, len(subnets) == count, "no free /24s in 10.230.0.0-10.239.255.0")
	return subnets
}

// createNetwork creates a network with the docker CLI and removes its
// bridge and nftables table at cleanup whatever happened.
func createNetwork(t *testing.T, d *daemon, name string, subnet netip.Prefix, args ...string) testNetwork {
	t.Helper()
	n := testNetwork{name: name, bridge: "bn" + randomHex(4), subnet: subnet, gateway: subnet.Addr().Next()}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", n.bridge).Run()
		exec.Command("nft", "delete", "table", "ip", "berth-"+n.bridge).Run()
	})
	all := append([]string{"network", "create", "--subnet", subnet.String(),
		"-o", "com.docker.network.bridge.name=" + n.bridge}, args...)
	_, errOut, err := d.docker(append(all, name)...)
	assert.NilError(t, err, errOut)
	return n
}

// lookup runs busybox nslookup for name in container from and returns its
// output and whether it succeeded.
func lookup(d *daemon, from, name string) (string, bool) {
	out, errOut, err := d.docker("exec", from, "nslookup", name)
	return out + errOut, err == nil
}

// nslookupAddrs returns the addresses that nslookup's output lists for the
// name, in order.
func nslookupAddrs(out string) []string {
	var addrs []string
	inAnswer := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Name:") {
			inAnswer = true
			continue
		}
		if inAnswer && strings.HasPrefix(line, "Address:") {
			addrs = append(addrs, strings.TrimSpace(strings.TrimPrefix(line, "Address:")))
		}
	}
	return addrs
}

func containerIP(t *testing.T, d *daemon, container, network string) string {
	t.Helper()
	out, errOut, err := d.docker("inspect", "-f",
		fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), container)
	assert.NilError(t, err, errOut)
	return strings.TrimSpace(out)
}

// serveHello runs a container that replies "hello" to every TCP
// connection on port 8080.
func serveHello(t *testing.T, d *daemon, name string, args ...string) {
	t.Helper()
	all := append([]string{"run", "-d", "--name", name}, args...)
	all = append(all, "busybox", "sh", "-c", "while true; do echo hello | nc -l -p 8080; done")
	_, errOut, err := d.docker(all...)
	assert.NilError(t, err, errOut)
}

// dial connects from container from to addr:8080 with busybox nc and
// returns what it read.
func dial(d *daemon, from, addr string) (string, error) {
	out, errOut, err := d.docker("exec", from, "nc", "-w", "3", addr, "8080")
	if err != nil {
		return out, fmt.Errorf("nc %s 8080 from %s: %w: %s", addr, from, err, errOut)
	}
	return out, nil
}

func TestUserDefinedNetworks(t *testing.T) {
	d := newDaemon(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed; these checks use it as a client")
	}
	d.importBusybox()
	t.Cleanup(func() {
		out, _ := d.run("ps", "-aq")
		for _, id := range strings.Fields(out.stdout) {
			d.run("rm", "-f", id)
		}
		d.docker("network", "prune", "-f")
	})
	subnets := networkSubnets(t, 5)
	front := createNetwork(t, d, "front", subnets[0], "--label", "tier=web")
	back := createNetwork(t, d, "back", subnets[1])
	closed := createNetwork(t, d, "closed", subnets[2], "--internal")

	serveHello(t, d, "web", "--network", "front", "--network-alias", "svc", "--hostname", "webhost")
	serveHello(t, d, "web2", "--network", "front", "--network-alias", "svc", "--ip", subnets[0].Addr().Next().Next().Next().Next().Next().Next().String())
	_, errOut, err := d.docker("run", "-d", "--name", "client", "--network", "front", "busybox", "sleep", "600")
	assert.NilError(t, err, errOut)
	webIP := containerIP(t, d, "web", "front")
	web2IP := containerIP(t, d, "web2", "front")

	t.Run("resolves names", func(t *testing.T) {
		webID, _, err := d.docker("inspect", "-f", "{{.Id}}", "web")
		assert.NilError(t, err)
		for _, name := range []string{"web", "webhost", webID[:12], "web.front"} {
			out, ok := lookup(d, "client", name)
			assert.Check(t, ok, "nslookup %s: %s", name, out)
			assert.Check(t, is.DeepEqual(nslookupAddrs(out), []string{webIP}), "nslookup %s: %s", name, out)
		}
		assert.Check(t, is.Equal(web2IP, subnets[0].Addr().Next().Next().Next().Next().Next().Next().String()))

		_, errOut, err = d.docker("rename", "web2", "webtwo")
		assert.NilError(t, err, errOut)
		out, ok := lookup(d, "client", "webtwo")
		assert.Check(t, ok, out)
		assert.Check(t, is.DeepEqual(nslookupAddrs(out), []string{web2IP}))

		out, ok = lookup(d, "client", "nosuchname.invalid")
		assert.Check(t, !ok, "nslookup of a missing name succeeded: %s", out)

		resolv, errOut, err := d.docker("exec", "client", "cat", "/etc/resolv.conf")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(resolv, "nameserver 127.0.0.11\n"))

		got, err := dial(d, "client", "web")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(got, "hello\n"))
	})

	t.Run("round robin alias", func(t *testing.T) {
		out, ok := lookup(d, "client", "svc")
		assert.Assert(t, ok, out)
		first := nslookupAddrs(out)
		out, ok = lookup(d, "client", "svc")
		assert.Assert(t, ok, out)
		second := nslookupAddrs(out)
		assert.Check(t, is.Len(first, 2))
		assert.Check(t, is.Len(second, 2))
		assert.Check(t, strings.Join(first, " ") != strings.Join(second, " "), "same order twice: %v", first)
		joined := strings.Join(first, " ")
		assert.Check(t, is.Contains(joined, webIP))
		assert.Check(t, is.Contains(joined, web2IP))
	})

	t.Run("inspect shows endpoints", func(t *testing.T) {
		out, errOut, err := d.docker("network", "inspect", "front")
		assert.NilError(t, err, errOut)
		var nets []struct {
			Name   string
			Id     string
			Driver string
			Labels map[string]string
			IPAM   struct {
				Config []struct{ Subnet, Gateway string }
			}
			Containers map[string]struct{ Name, EndpointID, MacAddress, IPv4Address string }
		}
		assert.NilError(t, json.Unmarshal([]byte(out), &nets))
		assert.Assert(t, is.Len(nets, 1))
		n := nets[0]
		assert.Check(t, is.Len(n.Id, 64))
		assert.Check(t, is.Equal(n.Driver, "bridge"))
		assert.Check(t, is.Equal(n.Labels["tier"], "web"))
		assert.Check(t, is.Equal(n.IPAM.Config[0].Subnet, front.subnet.String()))
		assert.Check(t, is.Equal(n.IPAM.Config[0].Gateway, front.gateway.String()))
		assert.Check(t, is.Len(n.Containers, 3))
		for _, c := range n.Containers {
			assert.Check(t, is.Len(c.EndpointID, 64), "container %s", c.Name)
			assert.Check(t, c.MacAddress != "", "container %s", c.Name)
			if c.Name == "web" {
				assert.Check(t, is.Equal(c.IPv4Address, webIP+"/24"))
			}
		}

		out, errOut, err = d.docker("network", "inspect", "-f", "{{.Name}}", n.Id[:10])
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, "front\n"))

		out, errOut, err = d.docker("inspect", "-f", "{{json .NetworkSettings.Networks.front.Aliases}} {{json .NetworkSettings.Networks.front.DNSNames}}", "web")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, `["svc"]`))
		assert.Check(t, is.Contains(out, `"web","svc"`))
		assert.Check(t, is.Contains(out, `"webhost"`))
	})

	t.Run("connect and disconnect", func(t *testing.T) {
		serveHello(t, d, "late", "--network", "back")
		out, ok := lookup(d, "client", "late")
		assert.Check(t, !ok, "late resolves before connect: %s", out)
		_, err := dial(d, "client", containerIP(t, d, "late", "back"))
		assert.Check(t, err != nil, "back is reachable from front")

		_, errOut, err := d.docker("network", "connect", "--alias", "later", "front", "late")
		assert.NilError(t, err, errOut)
		lateIP := containerIP(t, d, "late", "front")
		out, ok = lookup(d, "client", "later")
		assert.Check(t, ok, out)
		assert.Check(t, is.DeepEqual(nslookupAddrs(out), []string{lateIP}))
		got, err := dial(d, "client", "later")
		assert.Check(t, err)
		assert.Check(t, is.Equal(got, "hello\n"))
		ifaces, _, _ := d.docker("exec", "late", "ip", "-o", "-4", "addr")
		assert.Check(t, is.Contains(ifaces, "eth1"))

		_, errOut, err = d.docker("network", "disconnect", "front", "late")
		assert.NilError(t, err, errOut)
		out, ok = lookup(d, "client", "later")
		assert.Check(t, !ok, "later resolves after disconnect: %s", out)
		_, err = dial(d, "client", lateIP)
		assert.Check(t, err != nil, "late is reachable on front after disconnect")
		out, errOut, err = d.docker("inspect", "-f", "{{len .NetworkSettings.Networks}}", "late")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, "1\n"))

		// The default bridge joins the running container's namespace too.
		_, errOut, err = d.docker("network", "connect", "bridge", "late")
		assert.NilError(t, err, errOut)
		bridgeIP := containerIP(t, d, "late", "bridge")
		assert.Check(t, d.bip.Masked().Contains(netip.MustParseAddr(bridgeIP)), "address %s", bridgeIP)
		out, errOut, err = d.docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "late"))
		_, errOut, err = d.docker("network", "disconnect", "bridge", "late")
		assert.NilError(t, err, errOut)
		got, err = dial(d, "late", "127.0.0.1")
		assert.Check(t, err)
		assert.Check(t, is.Equal(got, "hello\n"))

		// A stopped container gets the network when it starts.
		_, errOut, err = d.docker("create", "--name", "sleeper", "--network", "back", "busybox", "sleep", "600")
		assert.NilError(t, err, errOut)
		_, errOut, err = d.docker("network", "connect", "front", "sleeper")
		assert.NilError(t, err, errOut)
		_, errOut, err = d.docker("start", "sleeper")
		assert.NilError(t, err, errOut)
		out, ok = lookup(d, "client", "sleeper")
		assert.Check(t, ok, out)
	})

	t.Run("networks are isolated", func(t *testing.T) {
		_, errOut, err := d.docker("run", "-d", "--name", "other", "--network", "back", "busybox", "sleep", "600")
		assert.NilError(t, err, errOut)
		out, _, err := d.docker("exec", "other", "ping", "-c", "1", "-W", "2", webIP)
		assert.Check(t, err != nil, "front reachable from back: %s", out)
		out, _, err = d.docker("exec", "other", "ping", "-c", "1", "-W", "2", back.gateway.String())
		assert.Check(t, err, "gateway of back unreachable: %s", out)
		out, ok := lookup(d, "other", "web")
		assert.Check(t, !ok, "web resolves from back: %s", out)
	})

	t.Run("internal has no route out", func(t *testing.T) {
		_, errOut, err := d.docker("run", "-d", "--name", "inside", "--network", "closed", "busybox", "sleep", "600")
		assert.NilError(t, err, errOut)
		routes, errOut, err := d.docker("exec", "inside", "ip", "route")
		assert.NilError(t, err, errOut)
		assert.Check(t, !strings.Contains(routes, "default"), "routes: %s", routes)
		assert.Check(t, is.Contains(routes, closed.subnet.String()))
		out, _, err := d.docker("exec", "inside", "nc", "-w", "2", front.gateway.String(), "53")
		assert.Check(t, err != nil, "connected to another network's gateway: %s", out)
		rules, err := exec.Command("nft", "list", "table", "ip", "berth-"+closed.bridge).Output()
		assert.NilError(t, err)
		assert.Check(t, !strings.Contains(string(rules), "oifname != \""+closed.bridge+"\" ip saddr "+closed.subnet.String()+" masquerade"))
	})

	t.Run("rm refused while in use", func(t *testing.T) {
		_, errOut, err := d.docker("network", "rm", "front")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "error while removing network: network front has active endpoints"))
		_, errOut, err = d.docker("network", "rm", "bridge")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "bridge is a pre-defined network and cannot be removed"))
		_, errOut, err = d.docker("network", "create", "front")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "network with name front already exists"))
		_, errOut, err = d.docker("network", "create", "--subnet", front.subnet.String(), "overlap")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "overlaps"))
	})

	t.Run("docker network ls", func(t *testing.T) {
		out, errOut, err := d.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
		assert.NilError(t, err, errOut)
		for _, want := range []string{"bridge bridge local", "host host local", "none null local",
			"front bridge local", "back bridge local", "closed bridge local"} {
			assert.Check(t, is.Contains(out, want+"\n"))
		}
		out, errOut, err = d.docker("network", "ls", "-q", "--filter", "label=tier=web", "--no-trunc")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Len(strings.TrimSpace(out), 64))
		out, errOut, err = d.docker("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, "back\nclosed\nfront\n"))
		out, errOut, err = d.docker("network", "ls")
		assert.NilError(t, err, errOut)
		assert.Check(t, strings.HasPrefix(out, "NETWORK ID"), out)
	})

	t.Run("container network mode", func(t *testing.T) {
		out, errOut, err := d.docker("run", "--rm", "--network", "container:web", "busybox",
			"sh", "-c", "hostname; nc -w 3 127.0.0.1 8080")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, "webhost\nhello\n"))

		_, errOut, err = d.docker("run", "--rm", "--network", "container:web", "-p", "80", "busybox", "true")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "conflicting options: port publishing and the container type network mode"))
		_, errOut, err = d.docker("run", "--network", "container:nosuch", "busybox", "true")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "nosuch"))
	})

	t.Run("hosts file entries", func(t *testing.T) {
		_, errOut, err := d.docker("run", "-d", "--name", "linked", "busybox", "sleep", "600")
		assert.NilError(t, err, errOut)
		linkedIP := containerIP(t, d, "linked", "bridge")
		linkedID, _, err := d.docker("inspect", "-f", "{{.Id}}", "linked")
		assert.NilError(t, err)

		out, errOut, err := d.docker("run", "--rm", "--link", "linked:db", "--add-host", "h1:192.0.2.7",
			"--hostname", "linker", "busybox", "cat", "/etc/hosts")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "192.0.2.7\th1\n"))
		assert.Check(t, is.Contains(out, linkedIP+"\tdb "+linkedID[:12]+" linked\n"))
		assert.Check(t, is.Contains(out, "\tlinker\n"))

		out, errOut, err = d.docker("run", "--rm", "--dns", "192.0.2.53", "--dns-option", "ndots:2",
			"busybox", "cat", "/etc/resolv.conf")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "nameserver 192.0.2.53\n"))
		assert.Check(t, is.Contains(out, "options ndots:2\n"))
	})

	t.Run("berth network commands", func(t *testing.T) {
		bridge := "bn" + randomHex(4)
		t.Cleanup(func() {
			exec.Command("ip", "link", "del", bridge).Run()
			exec.Command("nft", "delete", "table", "ip", "berth-"+bridge).Run()
		})
		subnet := subnets[3]
		id := strings.TrimSpace(d.must("network", "create", "--subnet", subnet.String(),
			"--ip-range", netip.PrefixFrom(subnet.Addr(), 28).String(), "--gateway", subnet.Addr().Next().String(),
			"--label", "made=berth", "-o", "com.docker.network.bridge.name="+bridge,
			"-o", "com.docker.network.driver.mtu=1400", "cli"))
		assert.Check(t, is.Len(id, 64))
		out := d.must("network", "ls", "--filter", "name=cli", "--format", "{{.ID}} {{.Name}} {{.Driver}} {{.Scope}} {{.Label \"made\"}}")
		assert.Check(t, is.Equal(out, id[:12]+" cli bridge local berth\n"))
		out = d.must("network", "ls")
		assert.Check(t, strings.HasPrefix(out, "NETWORK ID     NAME"), out)
		out = d.must("network", "ls", "-q", "--no-trunc", "--filter", "label=made")
		assert.Check(t, is.Equal(out, id+"\n"))

		d.must("run", "-d", "--name", "bcli", "--network", "cli", "--network-alias", "bee",
			"--ip", subnet.Addr().Next().Next().Next().String(), "--mac-address", "02:42:aa:bb:cc:dd",
			"--dns-search", "example.test", "busybox", "sleep", "600")
		out = d.must("inspect", "-f", "{{.NetworkSettings.Networks.cli.IPAddress}} {{.NetworkSettings.Networks.cli.MacAddress}}", "bcli")
		assert.Check(t, is.Equal(out, subnet.Addr().Next().Next().Next().String()+" 02:42:aa:bb:cc:dd\n"))
		out = d.must("exec", "bcli", "cat", "/etc/resolv.conf")
		assert.Check(t, is.Contains(out, "nameserver 127.0.0.11\n"))
		assert.Check(t, is.Contains(out, "search example.test\n"))
		mtu := d.must("exec", "bcli", "cat", "/sys/class/net/eth0/mtu")
		assert.Check(t, is.Equal(mtu, "1400\n"))

		d.must("network", "connect", "--alias", "cliclient", "cli", "client")
		out, ok := lookup(d, "client", "bee")
		assert.Check(t, ok, out)
		assert.Check(t, is.DeepEqual(nslookupAddrs(out), []string{subnet.Addr().Next().Next().Next().String()}))
		// The dynamic address comes from the --ip-range.
		clientIP, err := netip.ParseAddr(containerIP(t, d, "client", "cli"))
		assert.NilError(t, err)
		assert.Check(t, netip.PrefixFrom(subnet.Addr(), 28).Contains(clientIP), "address %s", clientIP)
		out = d.must("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "cli")
		assert.Check(t, is.Contains(out, "bcli"))
		assert.Check(t, is.Contains(out, "client"))
		out = d.must("inspect", "--type", "network", "-f", "{{.Id}}", "cli")
		assert.Check(t, is.Equal(out, id+"\n"))

		r, err := d.run("network", "rm", "cli")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 1))
		assert.Check(t, is.Contains(r.stderr, "has active endpoints"))

		d.must("network", "disconnect", "cli", "client")
		out, ok = lookup(d, "client", "bee")
		assert.Check(t, !ok, out)
		d.must("rm", "-f", "bcli")
		out = d.must("network", "rm", "cli")
		assert.Check(t, is.Equal(out, "cli\n"))
		err = exec.Command("ip", "link", "show", bridge).Run()
		assert.Check(t, err != nil, "bridge %s still exists", bridge)
		r, err = d.run("network", "rm", "cli")
		assert.NilError(t, err)
		assert.Check(t, is.Contains(r.stderr, "network cli not found"))
		d.must("network", "rm", "-f", "cli")
	})

	t.Run("restart keeps networks and DNS", func(t *testing.T) {
		d.stop()
		d.start()
		out, errOut, err := d.docker("network", "ls", "--format", "{{.Name}}")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "front\n"))
		out, ok := lookup(d, "client", "web")
		assert.Check(t, ok, out)
		assert.Check(t, is.DeepEqual(nslookupAddrs(out), []string{webIP}))
		got, err := dial(d, "client", "web")
		assert.Check(t, err)
		assert.Check(t, is.Equal(got, "hello\n"))
	})

	t.Run("killed daemon cleans up", func(t *testing.T) {
		temp := createNetwork(t, d, "temp", subnets[3])
		_, errOut, err := d.docker("run", "-d", "--name", "doomed", "--network", "temp", "busybox", "sleep", "600")
		assert.NilError(t, err, errOut)
		pid, errOut, err := d.docker("inspect", "-f", "{{.State.Pid}}", "doomed")
		assert.NilError(t, err, errOut)

		d.kill()
		n, err := strconv.Atoi(strings.TrimSpace(pid))
		assert.NilError(t, err)
		assert.NilError(t, syscall.Kill(n, syscall.SIGKILL))
		waitFor(t, "container process to end", 10*time.Second, func() bool {
			_, err := os.Stat(fmt.Sprintf("/proc/%d", n))
			return err != nil
		})
		d.start()

		out, ok := lookup(d, "client", "web")
		assert.Check(t, ok, out)
		_, errOut, err = d.docker("network", "rm", "temp")
		assert.NilError(t, err, errOut)
		err = exec.Command("ip", "link", "show", temp.bridge).Run()
		assert.Check(t, err != nil, "bridge %s still exists", temp.bridge)
		err = exec.Command("nft", "list", "table", "ip", "berth-"+temp.bridge).Run()
		assert.Check(t, err != nil, "table berth-%s still exists", temp.bridge)
	})

	t.Run("prune removes unused", func(t *testing.T) {
		unused := createNetwork(t, d, "unused", subnets[4])
		out, errOut, err := d.docker("network", "prune", "-f")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "unused\n"))
		assert.Check(t, !strings.Contains(out, "front"))
		err = exec.Command("ip", "link", "show", unused.bridge).Run()
		assert.Check(t, err != nil, "bridge %s still exists", unused.bridge)
	})
}
