package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func httpGet(t *testing.T, url string) (string, error) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

func TestWebAppEndToEnd(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	root, err := moduleRoot()
	assert.NilError(t, err)
	out := d.must("build", "-t", "webapp:latest", filepath.Join(root, "examples", "webapp"))
	assert.Check(t, is.Contains(out, "Step 1/"))
	assert.Check(t, is.Contains(out, "Successfully built"))
	assert.Check(t, is.Contains(out, "Successfully tagged webapp:latest"))

	rebuilt := d.must("image", "build", "-t", "webapp:latest", filepath.Join(root, "examples", "webapp"))
	assert.Check(t, is.Contains(rebuilt, "Using cache"))
	assert.Check(t, !strings.Contains(rebuilt, "Running in"), rebuilt)

	port := freePort(t)
	id := strings.TrimSpace(d.must("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:3000", port), "webapp:latest"))
	assert.Check(t, is.Len(id, 64))

	var body string
	waitFor(t, "the web app on 127.0.0.1", 10*time.Second, func() bool {
		body, err = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err == nil
	})
	assert.Check(t, is.Contains(body, "Hello from berth"))

	stamp, err := httpGet(t, fmt.Sprintf("http://%s:%d/build.txt", d.bip.Addr(), port))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(stamp, "built in container"))

	ps := d.must("ps")
	assert.Check(t, is.Contains(ps, "web"))
	assert.Check(t, is.Contains(ps, fmt.Sprintf("0.0.0.0:%d->3000/tcp", port)))
	assert.Check(t, is.Contains(d.must("container", "ls"), id[:12]))
	assert.Check(t, is.Equal(d.must("port", "web"), fmt.Sprintf("3000/tcp -> 0.0.0.0:%d\n", port)))
	assert.Check(t, is.Equal(d.must("container", "port", "web", "3000"), fmt.Sprintf("0.0.0.0:%d\n", port)))

	// httpd logs each request to stderr after it has sent the response.
	waitFor(t, "httpd to log the requests", 5*time.Second, func() bool {
		r, err := d.run("logs", "web")
		return err == nil && strings.Contains(r.stderr, "response:200")
	})

	d.must("stop", "web")
	_, err = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	assert.Check(t, err != nil, "port still answers after stop")
	d.must("rm", "web")
	assert.Check(t, !strings.Contains(d.must("ps", "-a"), "web"))
}

func TestRunExitCodes(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	cases := []struct {
		name string
		args []string
		code int
	}{
		{"exit status", []string{"run", "--rm", "busybox", "sh", "-c", "exit 3"}, 3},
		{"success", []string{"container", "run", "--rm", "busybox", "true"}, 0},
		{"command not found", []string{"run", "--rm", "busybox", "no-such-command"}, 127},
		{"not executable", []string{"run", "--rm", "busybox", "/etc/passwd"}, 126},
		{"unknown image", []string{"run", "--rm", "no-such-image:1"}, 125},
		{"bad flag", []string{"run", "--no-such-flag", "busybox"}, 125},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := d.run(tc.args...)
			assert.NilError(t, err)
			assert.Equal(t, r.code, tc.code, r.String())
		})
	}
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("ps", "-aq", "--filter", "status=running")), ""))
}

func TestRunStreamsOutputAndStdin(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	r, err := d.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r.String())
	assert.Check(t, is.Equal(r.stdout, "out\n"))
	assert.Check(t, is.Equal(r.stderr, "err\n"))

	r, err = d.runInput("hello from stdin\n", "run", "-i", "--rm", "busybox", "cat")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r.String())
	assert.Check(t, is.Equal(r.stdout, "hello from stdin\n"))

	r, err = d.run("run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "busybox", "sh", "-c", "echo $GREETING $(pwd)")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.stdout, "hi /tmp\n"), r.String())

	r, err = d.run("run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.stdout, "from entrypoint\n"), r.String())
}

func TestRmRemovesContainer(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--rm", "--name", "gone", "busybox", "true")
	assert.Check(t, !strings.Contains(d.must("ps", "-a"), "gone"))

	d.must("run", "--name", "kept", "busybox", "true")
	assert.Check(t, is.Contains(d.must("ps", "-a"), "kept"))
	d.must("rm", "kept")

	r, err := d.run("rm", "kept")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container: kept"))
}

func TestStopKillsAfterTimeout(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap 'echo ignored' TERM; while true; do sleep 0.1; done")
	begin := time.Now()
	d.must("stop", "-t", "1", "stubborn")
	elapsed := time.Since(begin)
	assert.Check(t, elapsed >= time.Second, "stop returned after %s, before the timeout", elapsed)

	code := strings.TrimSpace(d.must("inspect", "-f", "{{.State.ExitCode}}", "stubborn"))
	assert.Check(t, is.Equal(code, "137"))
	assert.Check(t, is.Contains(d.must("logs", "stubborn"), "ignored"))

	// As PID 1, sh ignores SIGTERM unless it traps it.
	d.must("run", "-d", "--name", "polite", "busybox", "sh", "-c", "trap 'exit 21' TERM; while true; do sleep 0.1; done")
	d.must("stop", "polite")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.ExitCode}}", "polite")), "21"))
}

func TestKillAndStart(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "sleeper", "busybox", "sh", "-c", "trap 'exit 22' USR1; while true; do sleep 0.1; done")
	d.must("kill", "sleeper")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "sleeper")), "exited 137"))

	d.must("start", "sleeper")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "sleeper")), "running"))
	d.must("kill", "-s", "USR1", "sleeper")
	waitFor(t, "sleeper to exit", 10*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "sleeper")) == "exited"
	})
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.ExitCode}}", "sleeper")), "22"))

	r, err := d.run("kill", "sleeper")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "is not running"))
}

func TestLogsTailAndFollow(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "--name", "counter", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done")
	assert.Check(t, is.Equal(d.must("logs", "--tail", "2", "counter"), "line 4\nline 5\n"))
	assert.Check(t, is.Equal(d.must("container", "logs", "counter"), "line 1\nline 2\nline 3\nline 4\nline 5\n"))

	d.must("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "echo start; sleep 1; echo end")
	out := d.must("logs", "-f", "ticker")
	assert.Check(t, is.Equal(out, "start\nend\n"))

	raw, err := os.ReadFile(strings.TrimSpace(d.must("inspect", "-f", "{{.LogPath}}", "ticker")))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(raw), `"log":"start\n","stream":"stdout","time":"`))
}

func TestContainersReachEachOther(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "server", "busybox", "sh", "-c", "echo pong | nc -l -p 7000")
	ip := strings.TrimSpace(d.must("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "server"))
	assert.Check(t, d.bip.Contains(mustAddr(t, ip)), "container address %s outside %s", ip, d.bip)

	var out string
	waitFor(t, "server to answer", 10*time.Second, func() bool {
		r, err := d.run("run", "--rm", "busybox", "sh", "-c", "nc -w 2 "+ip+" 7000 </dev/null")
		out = r.stdout
		return err == nil && r.code == 0 && strings.Contains(out, "pong")
	})
}

func TestPublishedPortInUse(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	l, err := net.Listen("tcp", "0.0.0.0:0")
	assert.NilError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	r, err := d.run("run", "-d", "--name", "clash", "-p", fmt.Sprintf("%d:80", port), "busybox", "sleep", "100")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 125), r.String())
	assert.Check(t, is.Contains(r.stderr, fmt.Sprint(port)))
	assert.Check(t, is.Contains(r.stderr, "already"))
}

func TestDaemonRestartKeepsState(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	r, err := d.run("run", "--name", "done", "busybox", "sh", "-c", "echo persisted; exit 4")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 4, r.String())
	d.must("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 2; exit 7")
	d.must("run", "-d", "--name", "long", "busybox", "sh", "-c", "echo alive; exec sleep 1000")

	d.kill()
	time.Sleep(3 * time.Second) // "short" exits while no daemon runs
	d.start()

	assert.Check(t, is.Contains(d.must("images"), "busybox"))
	assert.Check(t, is.Equal(d.must("logs", "done"), "persisted\n"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "done")), "exited 4"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short")), "exited 7"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "long")), "running"))
	assert.Check(t, is.Contains(d.must("ps"), "long"))
	assert.Check(t, is.Equal(d.must("logs", "long"), "alive\n"))

	d.must("stop", "-t", "1", "long")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "long")), "exited"))

	d.stop()
	d.start()
	assert.Check(t, is.Contains(d.must("ps", "-a"), "long"))
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	assert.NilError(t, err)
	return a
}

func TestInfoReportsRuntimeAndStorage(t *testing.T) {
	d := newDaemon(t)

	out := d.must("system", "info", "--format", "{{.DefaultRuntime}} {{.Driver}} {{.LoggingDriver}} {{.CgroupVersion}}")
	fields := strings.Fields(out)
	assert.Assert(t, is.Len(fields, 4), out)
	assert.Check(t, is.Equal(fields[0], "runc"))
	assert.Check(t, is.Equal(fields[1], "overlay2"))
	assert.Check(t, is.Equal(fields[2], "json-file"))
	assert.Check(t, fields[3] == "1" || fields[3] == "2", "cgroup version %q", fields[3])

	text := d.must("info")
	assert.Check(t, is.Contains(text, "Default Runtime: runc"))
	assert.Check(t, is.Contains(text, "Storage Driver: overlay2"))
	assert.Check(t, is.Contains(d.must("version"), "API version"))
}

func TestDaemonRemovesItsBridgeOnShutdown(t *testing.T) {
	d := newDaemon(t)
	_, err := net.InterfaceByName(d.bridge)
	assert.NilError(t, err, "bridge %s missing while the daemon runs", d.bridge)

	d.stop()
	_, err = net.InterfaceByName(d.bridge)
	assert.Check(t, err != nil, "bridge %s left after shutdown", d.bridge)
	d.start()
}

func TestRestartPolicies(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo attempt; exit 1")
	waitFor(t, "two restarts and a final exit", 20*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky")) == "2 exited"
	})
	assert.Check(t, is.Equal(strings.Count(d.must("logs", "flaky"), "attempt"), 3))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.ExitCode}}", "flaky")), "1"))

	d.must("run", "-d", "--name", "steady", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 3")
	waitFor(t, "a restart", 20*time.Second, func() bool {
		count := strings.TrimSpace(d.must("inspect", "-f", "{{.RestartCount}}", "steady"))
		return count != "0"
	})
	d.must("stop", "steady")
	count := d.must("inspect", "-f", "{{.RestartCount}}", "steady")
	time.Sleep(time.Second)
	assert.Check(t, is.Equal(d.must("inspect", "-f", "{{.RestartCount}}", "steady"), count), "restarted after stop")
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "steady")), "exited"))

	r, err := d.run("run", "-d", "--restart", "sometimes", "busybox", "true")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0, r.String())
}

func TestRestartPolicyEdgeCases(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	// A reload signal leaves the policy on: the later crash is restarted.
	d.must("run", "-d", "--name", "reload", "--restart", "always", "busybox", "sh", "-c",
		"trap 'echo reloaded' HUP; echo ready; while [ ! -f /tmp/die ]; do sleep 0.1; done; exit 1")
	waitFor(t, "the HUP trap to be set", 10*time.Second, func() bool {
		return strings.Contains(d.must("logs", "reload"), "ready")
	})
	d.must("kill", "-s", "HUP", "reload")
	waitFor(t, "the reload to be logged", 10*time.Second, func() bool {
		return strings.Contains(d.must("logs", "reload"), "reloaded")
	})
	pid := strings.TrimSpace(d.must("inspect", "-f", "{{.State.Pid}}", "reload"))
	assert.NilError(t, os.WriteFile("/proc/"+pid+"/root/tmp/die", nil, 0o644))
	waitFor(t, "a restart after the crash", 10*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.RestartCount}}", "reload")) != "0"
	})

	// A restart that cannot start the command ends in exited, not in a
	// restarting state for ever.
	d.must("run", "-d", "--name", "selfdel", "--restart", "always", "busybox", "sh", "-c", "rm /bin/sh; exit 1")
	waitFor(t, "the failed restart to be recorded", 15*time.Second, func() bool {
		state := d.must("inspect", "-f", "{{.State.Status}} {{.State.Error}}", "selfdel")
		return strings.HasPrefix(state, "exited ") && strings.Contains(state, "executable file not found")
	})

	// rm without -f refuses a container that waits for its restart.
	d.must("run", "-d", "--name", "looping", "--restart", "always", "busybox", "sh", "-c", "exit 2")
	d.must("stop", "looping")
	d.must("rm", "looping")

	// Docker allows a retry count only with on-failure.
	r, err := d.run("run", "-d", "--restart", "always:3", "busybox", "true")
	assert.NilError(t, err)
	assert.Check(t, r.code != 0, r.String())
}

func TestDaemonRestartStartsAlwaysContainers(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000")
	d.must("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "1000")
	d.must("stop", "-t", "0", "unless")
	d.stop()
	d.start()
	waitFor(t, "the always container to run again", 15*time.Second, func() bool {
		return strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "always")) == "running"
	})
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("inspect", "-f", "{{.State.Status}}", "unless")), "exited"))
}

func TestEnvWithoutValueUnsetsVariable(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	r, err := d.run("run", "--rm", "-e", "BERTH_TEST_UNSET_VARIABLE", "-e", "SET=1", "busybox", "env")
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, r.String())
	assert.Check(t, is.Contains(r.stdout, "SET=1"))
	assert.Check(t, !strings.Contains(r.stdout, "BERTH_TEST_UNSET_VARIABLE"))
}
