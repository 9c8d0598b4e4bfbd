package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// udpEchoSource is a UDP server that replies to every datagram with "echo "
// followed by the datagram.
const udpEchoSource = `package main

import (
	"net"
	"os"
)

func main() {
	conn, err := net.ListenPacket("udp4", ":"+os.Args[1])
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 65535)
	for {
		n, addr, err := conn.ReadFrom(buf)
		if err != nil {
			continue
		}
		conn.WriteTo(append([]byte("echo "), buf[:n]...), addr)
	}
}
`

// buildUDPEchoImage builds a static UDP echo server and an image
// udpecho:test that runs it on 7000/udp and exposes 7000/udp and 8000/tcp.
func buildUDPEchoImage(t *testing.T, d *daemon) {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(udpEchoSource), 0o644))
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "udpecho"), "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := build.CombinedOutput()
	assert.NilError(t, err, "go build udpecho: %s", out)

	dockerfile := "FROM busybox\nCOPY udpecho /bin/udpecho\nEXPOSE 7000/udp 8000\nCMD [\"/bin/udpecho\", \"7000\"]\n"
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
	assert.NilError(t, os.Remove(filepath.Join(dir, "main.go")))
	d.must("build", "-t", "udpecho:test", dir)
}

// udpEcho sends msg to addr and returns the reply.
func udpEcho(addr, msg string) (string, error) {
	conn, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return udpExchange(conn, msg)
}

// udpExchange sends msg on conn and returns the reply. It retries a few
// times because the first datagram can be lost while the neighbour entry of
// the container is resolved.
func udpExchange(conn net.Conn, msg string) (string, error) {
	buf := make([]byte, 1024)
	var err error
	for range 5 {
		if _, err = conn.Write([]byte(msg)); err != nil {
			continue
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		var n int
		if n, err = conn.Read(buf); err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("no reply from %s: %w", conn.RemoteAddr(), err)
}

// freePortRange returns the first of n consecutive ports in 20000-29999
// that are free for TCP and UDP on every host address right now.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(10000-n)
		free := true
		for p := base; p < base+n && free; p++ {
			free = portFree(p)
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports in 20000-29999", n)
	return 0
}

// portFree reports whether TCP and UDP port p can be bound on 0.0.0.0.
func portFree(p int) bool {
	l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
	if err != nil {
		return false
	}
	l.Close()
	c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", p))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// webCommand runs busybox httpd on port 80 serving body as its index page.
func webCommand(body string) []string {
	return []string{"sh", "-c", "mkdir -p /www && echo " + body + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

// httpViaNC fetches / from host:port inside a container with busybox nc and
// returns the response.
func httpViaNC(host string, port int) string {
	return fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s %d`, host, port)
}

// portRules returns the rules of the daemon's published-ports chain.
func (d *daemon) portRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "chain", "ip", "berth-"+d.bridge, "published-ports").CombinedOutput()
	assert.NilError(t, err, "nft list chain: %s", out)
	return string(out)
}

func (d *daemon) inspectJSON(t *testing.T, format, name string) string {
	t.Helper()
	return strings.TrimSpace(d.must("inspect", "-f", format, name))
}

func TestPublishPorts(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	gateway := d.bip.Addr().String()

	// One container with every form of -p: fixed, same-number range,
	// container range, host address with and without a port, random port,
	// a host port range for one container port, UDP, and -P for --expose.
	base := freePortRange(t, 14)
	p1, local, same, pick, ranged := base, base+1, base+2, base+4, base+9
	formArgs := []string{
		"-p", fmt.Sprintf("%d:80", p1),
		"-p", fmt.Sprintf("%d:80/udp", p1),
		"-p", fmt.Sprintf("127.0.0.1:%d:80", local),
		"-p", "127.0.0.1::81",
		"-p", "82",
		"-p", fmt.Sprintf("%d-%d:%d-%d", same, same+1, same, same+1),
		"-p", fmt.Sprintf("%d-%d:83", pick, pick+4),
		"-p", fmt.Sprintf("%d-%d:90-92", ranged, ranged+2),
		"--expose", "7000", "-P",
	}
	args := append([]string{"run", "-d", "--name", "forms"}, formArgs...)
	d.must(append(append(args, "busybox"), webCommand("forms-page")...)...)
	waitFor(t, "httpd in forms", 10*time.Second, func() bool {
		_, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", p1))
		return err == nil
	})

	hostPort := func(t *testing.T, private string) string {
		t.Helper()
		out := strings.TrimSpace(d.must("port", "forms", private))
		_, port, err := net.SplitHostPort(out)
		assert.NilError(t, err, "port forms %s: %q", private, out)
		return port
	}

	t.Run("port lists every mapping", func(t *testing.T) {
		random81, random82, random7000 := hostPort(t, "81"), hostPort(t, "82"), hostPort(t, "7000")
		want := strings.Join([]string{
			fmt.Sprintf("80/tcp -> 0.0.0.0:%d", p1),
			fmt.Sprintf("80/tcp -> 127.0.0.1:%d", local),
			fmt.Sprintf("80/udp -> 0.0.0.0:%d", p1),
			"81/tcp -> 127.0.0.1:" + random81,
			"82/tcp -> 0.0.0.0:" + random82,
			fmt.Sprintf("83/tcp -> 0.0.0.0:%d", pick),
			fmt.Sprintf("90/tcp -> 0.0.0.0:%d", ranged),
			fmt.Sprintf("91/tcp -> 0.0.0.0:%d", ranged+1),
			fmt.Sprintf("92/tcp -> 0.0.0.0:%d", ranged+2),
			"7000/tcp -> 0.0.0.0:" + random7000,
			fmt.Sprintf("%d/tcp -> 0.0.0.0:%d", same, same),
			fmt.Sprintf("%d/tcp -> 0.0.0.0:%d", same+1, same+1),
		}, "\n") + "\n"
		assert.Check(t, is.Equal(d.must("port", "forms"), want))
		assert.Check(t, is.Equal(d.must("port", "forms", "80"),
			fmt.Sprintf("0.0.0.0:%d\n127.0.0.1:%d\n", p1, local)))
		assert.Check(t, is.Equal(d.must("port", "forms", "80/udp"), fmt.Sprintf("0.0.0.0:%d\n", p1)))

		out, errOut, err := d.docker("port", "forms")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, want))

		r, err := d.run("port", "forms", "84")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 1))
		assert.Check(t, is.Contains(r.stderr, "No public port '84' published for forms"))
	})

	t.Run("ps shows ports as docker", func(t *testing.T) {
		random81, random82, random7000 := hostPort(t, "81"), hostPort(t, "82"), hostPort(t, "7000")
		// Docker's CLI merges only ports published on the same number and
		// lists every other mapping after them, one by one.
		want := strings.Join([]string{
			fmt.Sprintf("0.0.0.0:%d-%d->%d-%d/tcp", same, same+1, same, same+1),
			fmt.Sprintf("0.0.0.0:%d->80/tcp", p1),
			fmt.Sprintf("0.0.0.0:%d->80/udp", p1),
			fmt.Sprintf("127.0.0.1:%d->80/tcp", local),
			"127.0.0.1:" + random81 + "->81/tcp",
			"0.0.0.0:" + random82 + "->82/tcp",
			fmt.Sprintf("0.0.0.0:%d->83/tcp", pick),
			fmt.Sprintf("0.0.0.0:%d->90/tcp", ranged),
			fmt.Sprintf("0.0.0.0:%d->91/tcp", ranged+1),
			fmt.Sprintf("0.0.0.0:%d->92/tcp", ranged+2),
			"0.0.0.0:" + random7000 + "->7000/tcp",
		}, ", ")
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("ps", "--filter", "name=forms", "--format", "{{.Ports}}")), want))
		assert.Check(t, !strings.Contains(d.must("ps"), "[::]"), "IPv6 is not published, so no [::] mapping")

		out, errOut, err := d.docker("ps", "--filter", "name=forms", "--format", "{{.Ports}}")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(strings.TrimSpace(out), want))
	})

	t.Run("inspect ports and bindings", func(t *testing.T) {
		var ports map[string][]map[string]string
		assert.NilError(t, json.Unmarshal([]byte(d.inspectJSON(t, "{{json .NetworkSettings.Ports}}", "forms")), &ports))
		assert.Check(t, is.DeepEqual(ports["83/tcp"], []map[string]string{{"HostIp": "0.0.0.0", "HostPort": fmt.Sprint(pick)}}))
		assert.Check(t, is.DeepEqual(ports["80/tcp"], []map[string]string{
			{"HostIp": "0.0.0.0", "HostPort": fmt.Sprint(p1)},
			{"HostIp": "127.0.0.1", "HostPort": fmt.Sprint(local)},
		}))
		assert.Check(t, is.Len(ports, 11))

		var bindings map[string][]map[string]string
		assert.NilError(t, json.Unmarshal([]byte(d.inspectJSON(t, "{{json .HostConfig.PortBindings}}", "forms")), &bindings))
		assert.Check(t, is.DeepEqual(bindings["83/tcp"], []map[string]string{{"HostIp": "", "HostPort": fmt.Sprintf("%d-%d", pick, pick+4)}}))
		assert.Check(t, is.DeepEqual(bindings["81/tcp"], []map[string]string{{"HostIp": "127.0.0.1", "HostPort": ""}}))
		assert.Check(t, is.DeepEqual(bindings["82/tcp"], []map[string]string{{"HostIp": "", "HostPort": ""}}))
		_, ok := bindings["7000/tcp"]
		assert.Check(t, !ok, "-P adds no port binding to HostConfig")
		assert.Check(t, is.Equal(d.inspectJSON(t, "{{.HostConfig.PublishAllPorts}}", "forms"), "true"))
	})

	t.Run("docker cli sends same bindings", func(t *testing.T) {
		args := append([]string{"create", "--name", "dforms"}, formArgs...)
		_, errOut, err := d.docker(append(args, "busybox", "true")...)
		assert.NilError(t, err, errOut)
		format := "{{json .HostConfig.PortBindings}} {{json .Config.ExposedPorts}}"
		assert.Check(t, is.Equal(d.inspectJSON(t, format, "dforms"), d.inspectJSON(t, format, "forms")))
		d.must("rm", "dforms")
	})

	t.Run("exposed port without publishing", func(t *testing.T) {
		d.must("run", "-d", "--name", "exposed", "--expose", "9000", "busybox", "sleep", "300")
		assert.Check(t, is.Equal(d.inspectJSON(t, "{{json .NetworkSettings.Ports}}", "exposed"), `{"9000/tcp":null}`))
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("ps", "--filter", "name=exposed", "--format", "{{.Ports}}")), "9000/tcp"))
		assert.Check(t, is.Equal(d.must("port", "exposed"), ""))
		d.must("rm", "-f", "exposed")
	})

	t.Run("host port range picks next free", func(t *testing.T) {
		d.must("run", "-d", "--name", "picker", "-p", fmt.Sprintf("%d-%d:83", pick, pick+4), "busybox", "sleep", "300")
		assert.Check(t, is.Equal(d.must("port", "picker", "83"), fmt.Sprintf("0.0.0.0:%d\n", pick+1)))
		d.must("rm", "-f", "picker")
	})

	t.Run("reachable from host addresses", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", gateway} {
			body, err := httpGet(t, fmt.Sprintf("http://%s:%d/", host, p1))
			assert.Check(t, err, "published port on %s", host)
			assert.Check(t, is.Equal(body, "forms-page\n"))
		}
		body, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", local))
		assert.Check(t, err)
		assert.Check(t, is.Equal(body, "forms-page\n"))

		// A port published on 127.0.0.1 only is closed on other addresses.
		conn, err := net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", gateway, local), 3*time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Check(t, err != nil, "port published on 127.0.0.1 accepted a connection on %s", gateway)
	})

	t.Run("publish on gateway address", func(t *testing.T) {
		port := freePortRange(t, 1)
		d.must(append([]string{"run", "-d", "--name", "ongateway", "-p", fmt.Sprintf("%s:%d:80", gateway, port), "busybox"},
			webCommand("gateway-page")...)...)
		var body string
		waitFor(t, "httpd in ongateway", 10*time.Second, func() bool {
			var err error
			body, err = httpGet(t, fmt.Sprintf("http://%s:%d/", gateway, port))
			return err == nil
		})
		assert.Check(t, is.Equal(body, "gateway-page\n"))

		conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Check(t, err != nil, "port published on %s accepted a connection on 127.0.0.1", gateway)

		r, err := d.run("run", "--rm", "busybox", "sh", "-c", httpViaNC(gateway, port))
		assert.NilError(t, err)
		assert.Check(t, is.Contains(r.stdout, "gateway-page"), r.String())
		assert.Check(t, is.Equal(d.must("port", "ongateway"), fmt.Sprintf("80/tcp -> %s:%d\n", gateway, port)))
		d.must("rm", "-f", "ongateway")
	})

	t.Run("hairpin through gateway", func(t *testing.T) {
		// The container reaches itself through its own published port.
		r, err := d.run("exec", "forms", "sh", "-c", httpViaNC(gateway, p1))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), r.String())
		assert.Check(t, is.Contains(r.stdout, "forms-page"))

		// Another container reaches it the same way.
		r, err = d.run("run", "--rm", "busybox", "sh", "-c", httpViaNC(gateway, p1))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), r.String())
		assert.Check(t, is.Contains(r.stdout, "forms-page"))
	})

	t.Run("udp echo both ways", func(t *testing.T) {
		buildUDPEchoImage(t, d)
		udpPort := freePortRange(t, 1)
		d.must("run", "-d", "--name", "udp", "-p", fmt.Sprintf("%d:7000/udp", udpPort), "udpecho:test")
		// The server is ready once it replies on the container's address.
		direct := d.inspectJSON(t, "{{.NetworkSettings.Networks.bridge.IPAddress}}", "udp") + ":7000"
		waitFor(t, "the UDP echo server on "+direct, 10*time.Second, func() bool {
			_, err := udpEcho(direct, "ready")
			return err == nil
		})
		for _, host := range []string{"127.0.0.1", gateway} {
			addr := fmt.Sprintf("%s:%d", host, udpPort)
			reply, err := udpEcho(addr, "ping "+host)
			assert.Check(t, err, "UDP to %s", addr)
			assert.Check(t, is.Equal(reply, "echo ping "+host))
		}
		assert.Check(t, is.Equal(d.must("port", "udp"), fmt.Sprintf("7000/udp -> 0.0.0.0:%d\n", udpPort)))
		d.must("rm", "-f", "udp")
	})

	t.Run("udp flow started before publish", func(t *testing.T) {
		// The client sends before the port is published, which leaves a
		// conntrack entry without NAT for its flow. Datagrams that follow
		// on the same socket must still reach the container.
		udpPort := freePortRange(t, 1)
		conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", udpPort))
		assert.NilError(t, err)
		defer conn.Close()
		_, err = conn.Write([]byte("early"))
		assert.NilError(t, err)

		d.must("run", "-d", "--name", "udplate", "-p", fmt.Sprintf("%d:7000/udp", udpPort), "udpecho:test")
		direct := d.inspectJSON(t, "{{.NetworkSettings.Networks.bridge.IPAddress}}", "udplate") + ":7000"
		waitFor(t, "the UDP echo server on "+direct, 10*time.Second, func() bool {
			_, err := udpEcho(direct, "ready")
			return err == nil
		})
		reply, err := udpExchange(conn, "late")
		assert.Check(t, err, "UDP flow that began before the port was published")
		assert.Check(t, is.Equal(reply, "echo late"))
		d.must("rm", "-f", "udplate")
	})

	t.Run("publish all image ports", func(t *testing.T) {
		d.must("run", "-d", "--name", "udpall", "-P", "udpecho:test")
		lines := strings.Split(strings.TrimSpace(d.must("port", "udpall")), "\n")
		assert.Assert(t, is.Len(lines, 2), "port udpall: %q", lines)
		assert.Check(t, strings.HasPrefix(lines[0], "7000/udp -> 0.0.0.0:"), lines[0])
		assert.Check(t, strings.HasPrefix(lines[1], "8000/tcp -> 0.0.0.0:"), lines[1])

		direct := d.inspectJSON(t, "{{.NetworkSettings.Networks.bridge.IPAddress}}", "udpall") + ":7000"
		waitFor(t, "the UDP echo server on "+direct, 10*time.Second, func() bool {
			_, err := udpEcho(direct, "ready")
			return err == nil
		})
		addr := strings.TrimPrefix(lines[0], "7000/udp -> ")
		reply, err := udpEcho(addr, "random")
		assert.Check(t, err)
		assert.Check(t, is.Equal(reply, "echo random"))

		out, errOut, err := d.docker("port", "udpall")
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Equal(out, strings.Join(lines, "\n")+"\n"))
		d.must("rm", "-f", "udpall")
	})

	t.Run("publish through the API", func(t *testing.T) {
		api := newAPIConn(t, d.socket)
		apiPort := freePortRange(t, 1)
		id := api.createContainer(t, "viaapi", map[string]any{
			"Image":        "busybox",
			"Cmd":          webCommand("api-page"),
			"ExposedPorts": map[string]any{"80/tcp": map[string]any{}, "7001/udp": map[string]any{}},
			"HostConfig": map[string]any{
				"PortBindings":    map[string]any{"80/tcp": []map[string]string{{"HostIp": "127.0.0.1", "HostPort": fmt.Sprint(apiPort)}}},
				"PublishAllPorts": true,
			},
		})
		api.start(t, id)
		resp := api.do(t, http.MethodGet, "/containers/"+id+"/json", nil)
		assert.Assert(t, is.Equal(resp.status, http.StatusOK))
		ports := resp.object(t)["NetworkSettings"].(map[string]any)["Ports"].(map[string]any)
		assert.Check(t, is.DeepEqual(ports["80/tcp"], []any{map[string]any{"HostIp": "127.0.0.1", "HostPort": fmt.Sprint(apiPort)}}))
		udp, _ := ports["7001/udp"].([]any)
		assert.Check(t, is.Len(udp, 1), "7001/udp published by PublishAllPorts: %v", ports)

		resp = api.do(t, http.MethodGet, "/containers/json?filters="+url.QueryEscape(`{"name":["viaapi"]}`), nil)
		list := resp.objects(t)
		assert.Assert(t, is.Len(list, 1))
		assert.Check(t, is.Len(list[0]["Ports"].([]any), 2))

		waitFor(t, "httpd in viaapi", 10*time.Second, func() bool {
			body, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", apiPort))
			return err == nil && body == "api-page\n"
		})
		d.must("rm", "-f", "viaapi")
	})

	t.Run("conflicts name the port", func(t *testing.T) {
		want := fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", p1)
		r, err := d.run("run", "-d", "--name", "clash1", "-p", fmt.Sprintf("%d:80", p1), "busybox", "sleep", "300")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), r.String())
		assert.Check(t, is.Contains(r.stderr, want))

		_, errOut, err := d.docker("run", "-d", "--name", "clash2", "-p", fmt.Sprintf("%d:80", p1), "busybox", "sleep", "300")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, want))

		// A host process holding the port, TCP and UDP.
		taken := freePortRange(t, 1)
		listener, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", taken))
		assert.NilError(t, err)
		defer listener.Close()
		r, err = d.run("run", "-d", "--name", "clash3", "-p", fmt.Sprintf("%d:80", taken), "busybox", "sleep", "300")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), r.String())
		assert.Check(t, is.Contains(r.stderr, fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", taken)))

		packets, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", taken))
		assert.NilError(t, err)
		defer packets.Close()
		r, err = d.run("run", "-d", "--name", "clash4", "-p", fmt.Sprintf("%d:80/udp", taken), "busybox", "sleep", "300")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), r.String())
		assert.Check(t, is.Contains(r.stderr, fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", taken)))

		rules := d.portRules(t)
		for _, name := range []string{"clash1", "clash2", "clash3", "clash4"} {
			id := d.inspectJSON(t, "{{.Id}}", name)
			assert.Check(t, !strings.Contains(rules, id), "rules left for %s:\n%s", name, rules)
			d.must("rm", name)
		}
	})

	t.Run("sctp rejected at create", func(t *testing.T) {
		r, err := d.run("run", "-d", "--name", "sctp", "-p", "9999:80/sctp", "busybox", "sleep", "300")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), r.String())
		assert.Check(t, is.Contains(r.stderr, "publishing SCTP port 80/sctp is not supported"))
		assert.Check(t, is.Equal(d.must("ps", "-aq", "--filter", "name=sctp"), ""))
	})

	t.Run("stop removes rules and ports", func(t *testing.T) {
		id := d.inspectJSON(t, "{{.Id}}", "forms")
		assert.Check(t, is.Contains(d.portRules(t), id))
		d.must("stop", "-t", "1", "forms")

		assert.Check(t, !strings.Contains(d.portRules(t), id), "rules of a stopped container remain")
		for _, p := range []int{p1, local, same, same + 1, pick, ranged, ranged + 1, ranged + 2} {
			assert.Check(t, portFree(p), "port %d still reserved after stop", p)
		}
		assert.Check(t, is.Equal(d.inspectJSON(t, "{{json .NetworkSettings.Ports}}", "forms"), "{}"))
		assert.Check(t, is.Equal(d.must("port", "forms"), ""))
	})

	t.Run("killed daemon keeps live ports", func(t *testing.T) {
		port := freePortRange(t, 1)
		id := strings.TrimSpace(d.must(append([]string{"run", "-d", "--name", "survivor", "-p", fmt.Sprintf("%d:80", port), "busybox"},
			webCommand("survivor-page")...)...))
		waitFor(t, "httpd in survivor", 10*time.Second, func() bool {
			_, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
			return err == nil
		})

		// A second container exits while the daemon is down, so only the
		// restarted daemon can remove its rule and free its port.
		lostPort := freePortRange(t, 1)
		lost := strings.TrimSpace(d.must("run", "-d", "--name", "lost", "-p", fmt.Sprintf("%d:80", lostPort),
			"busybox", "sleep", "300"))

		d.kill()
		kill := exec.Command("runc", "--root", filepath.Join(d.execRoot, "runc"), "kill", lost, "KILL")
		out, err := kill.CombinedOutput()
		assert.NilError(t, err, "runc kill: %s", out)
		d.start()

		waitFor(t, "lost to be recorded as exited", 10*time.Second, func() bool {
			return d.inspectJSON(t, "{{.State.Status}}", "lost") == "exited"
		})
		rules := d.portRules(t)
		assert.Check(t, is.Equal(strings.Count(rules, id), 1), "rules after restart:\n%s", rules)
		assert.Check(t, !strings.Contains(rules, lost), "rules of the container that exited meanwhile:\n%s", rules)
		assert.Check(t, portFree(lostPort), "port %d of the exited container still reserved", lostPort)
		for _, host := range []string{"127.0.0.1", gateway} {
			body, err := httpGet(t, fmt.Sprintf("http://%s:%d/", host, port))
			assert.Check(t, err, "published port on %s after restart", host)
			assert.Check(t, is.Equal(body, "survivor-page\n"))
		}
		r, err := d.run("run", "-d", "--name", "thief", "-p", fmt.Sprintf("%d:80", port), "busybox", "sleep", "300")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), "the restarted daemon lost the reservation: %s", r)

		d.must("stop", "-t", "1", "survivor")
		assert.Check(t, !strings.Contains(d.portRules(t), id), "rules remain after stop")
		assert.Check(t, portFree(port), "port %d still reserved after stop", port)
		_, err = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
		var opErr *net.OpError
		assert.Check(t, errors.As(err, &opErr), "the stopped container's port still answers: %v", err)
	})
}
