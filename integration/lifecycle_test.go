package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// healthState is State.Health of an inspect response.
type healthState struct {
	Status        string
	FailingStreak int
	Log           []struct {
		Start, End time.Time
		ExitCode   int
		Output     string
	}
}

func (d *daemon) health(t *testing.T, name string) healthState {
	t.Helper()
	var h healthState
	out := d.must("inspect", "-f", "{{json .State.Health}}", name)
	assert.NilError(t, json.Unmarshal([]byte(out), &h), out)
	return h
}

func (d *daemon) field(name, format string) string {
	return strings.TrimSpace(d.must("inspect", "-f", format, name))
}

// dockerMust runs the docker CLI and fails the test on an error.
func (d *daemon) dockerMust(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := d.docker(args...)
	assert.NilError(t, err, "docker %v: %s", args, errOut)
	return out
}

func TestLifecycleOptions(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	t.Run("health turns unhealthy then healthy", func(t *testing.T) {
		since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		d.dockerMust(t, "run", "-d", "--name", "hc", "--health-cmd", "test -f /ok && echo fine",
			"--health-interval", "100ms", "--health-retries", "2", "--health-timeout", "5s",
			"busybox", "sleep", "300")
		assert.Check(t, is.Contains(d.dockerMust(t, "ps", "--filter", "name=hc", "--format", "{{.Status}}"),
			"(health: starting)"))

		waitFor(t, "unhealthy", 20*time.Second, func() bool { return d.health(t, "hc").Status == "unhealthy" })
		h := d.health(t, "hc")
		assert.Check(t, h.FailingStreak >= 2, "failing streak %d", h.FailingStreak)
		assert.Check(t, len(h.Log) > 0 && len(h.Log) <= 5, "log has %d entries", len(h.Log))
		assert.Check(t, h.Log[len(h.Log)-1].ExitCode != 0)

		d.must("exec", "hc", "touch", "/ok")
		waitFor(t, "healthy", 20*time.Second, func() bool { return d.health(t, "hc").Status == "healthy" })
		h = d.health(t, "hc")
		assert.Check(t, is.Equal(h.FailingStreak, 0))
		last := h.Log[len(h.Log)-1]
		assert.Check(t, is.Equal(last.ExitCode, 0))
		assert.Check(t, is.Equal(last.Output, "fine\n"))
		assert.Check(t, !last.End.Before(last.Start))

		// The log keeps the last five results.
		waitFor(t, "five log entries", 20*time.Second, func() bool { return len(d.health(t, "hc").Log) == 5 })
		time.Sleep(300 * time.Millisecond)
		assert.Check(t, is.Len(d.health(t, "hc").Log, 5))

		status := d.dockerMust(t, "ps", "--filter", "name=hc", "--format", "{{.Status}}")
		assert.Check(t, is.Contains(status, "(healthy)"))
		assert.Check(t, is.Equal(d.dockerMust(t, "ps", "-q", "--filter", "health=healthy", "--filter", "name=hc"),
			d.dockerMust(t, "ps", "-q", "--filter", "name=hc")))
		assert.Check(t, is.Equal(d.dockerMust(t, "ps", "-q", "--filter", "health=unhealthy", "--filter", "name=hc"), ""))

		until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
		events := d.must("events", "--since", since, "--until", until, "--filter", "container=hc",
			"--format", "{{.Action}}")
		assert.Check(t, is.Contains(events, "health_status: unhealthy\n"))
		assert.Check(t, is.Contains(events, "health_status: healthy\n"))
	})

	t.Run("health through berth CLI", func(t *testing.T) {
		d.must("run", "-d", "--name", "hcberth", "--health-cmd", "true", "--health-interval", "100ms",
			"busybox", "sleep", "300")
		waitFor(t, "healthy", 20*time.Second, func() bool { return d.health(t, "hcberth").Status == "healthy" })
		assert.Check(t, is.Contains(d.must("ps", "--filter", "name=hcberth", "--format", "{{.Status}}"), "(healthy)"))
		assert.Check(t, is.Equal(d.field("hcberth", "{{json .Config.Healthcheck}}"),
			`{"Test":["CMD-SHELL","true"],"Interval":100000000}`))

		r, err := d.run("create", "--no-healthcheck", "--health-cmd", "true", "busybox")
		assert.NilError(t, err)
		assert.Check(t, is.Contains(r.stderr, "--no-healthcheck conflicts with --health-* options"))
	})

	t.Run("health start period", func(t *testing.T) {
		// Failures during the start period do not count, so the container
		// stays starting while its probes fail.
		d.dockerMust(t, "run", "-d", "--name", "hcgrace", "--health-cmd", "false", "--health-interval", "1h",
			"--health-start-period", "1h", "--health-start-interval", "100ms", "--health-retries", "1",
			"busybox", "sleep", "300")
		waitFor(t, "three probes", 20*time.Second, func() bool { return len(d.health(t, "hcgrace").Log) >= 3 })
		h := d.health(t, "hcgrace")
		assert.Check(t, is.Equal(h.Status, "starting"))
		assert.Check(t, is.Equal(h.FailingStreak, 0))
		assert.Check(t, is.Equal(h.Log[0].ExitCode, 1))
		d.dockerMust(t, "rm", "-f", "hcgrace")
	})

	t.Run("health probe timeout", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "hcslow", "--health-cmd", "sleep 60",
			"--health-interval", "100ms", "--health-timeout", "200ms", "--health-retries", "1",
			"busybox", "sleep", "300")
		waitFor(t, "unhealthy", 20*time.Second, func() bool { return d.health(t, "hcslow").Status == "unhealthy" })
		h := d.health(t, "hcslow")
		assert.Check(t, is.Equal(h.Log[0].ExitCode, -1))
		assert.Check(t, is.Contains(h.Log[0].Output, "exceeded timeout"))
		// The timed-out probes are killed, not left running.
		waitFor(t, "probes killed", 20*time.Second, func() bool {
			return !strings.Contains(d.must("top", "hcslow"), "sleep 60")
		})
	})

	t.Run("health from image and none", func(t *testing.T) {
		d.must("import", "-c", `CMD ["sleep", "300"]`, "-c", "HEALTHCHECK --interval=100ms CMD true",
			busyboxTar, "hcimage:latest")
		d.dockerMust(t, "run", "-d", "--name", "hcimg", "hcimage")
		waitFor(t, "healthy", 20*time.Second, func() bool { return d.health(t, "hcimg").Status == "healthy" })

		d.dockerMust(t, "run", "-d", "--name", "hcnone", "--no-healthcheck", "hcimage")
		assert.Check(t, is.Equal(d.field("hcnone", "{{json .State.Health}}"), "null"))
		assert.Check(t, is.Equal(d.field("hcnone", "{{json .Config.Healthcheck.Test}}"), `["NONE"]`))
		assert.Check(t, is.Equal(d.dockerMust(t, "ps", "-q", "--no-trunc", "--filter", "health=none", "--filter", "name=hcnone"),
			d.field("hcnone", "{{.Id}}")+"\n"))
	})

	t.Run("health restarts with the container", func(t *testing.T) {
		d.dockerMust(t, "stop", "-t", "0", "hcimg")
		n := len(d.health(t, "hcimg").Log)
		time.Sleep(500 * time.Millisecond)
		assert.Check(t, is.Len(d.health(t, "hcimg").Log, n), "probes ran while the container was stopped")

		d.dockerMust(t, "start", "hcimg")
		assert.Check(t, is.Equal(d.health(t, "hcimg").Status, "starting"))
		waitFor(t, "healthy", 20*time.Second, func() bool { return d.health(t, "hcimg").Status == "healthy" })
	})

	t.Run("health survives daemon restart", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "hclive", "--health-cmd", "cat /flag",
			"--health-interval", "100ms", "busybox", "sleep", "300")
		waitFor(t, "unhealthy", 20*time.Second, func() bool { return d.health(t, "hclive").Status == "unhealthy" })
		d.kill()
		d.start()
		assert.Check(t, is.Equal(d.health(t, "hclive").Status, "unhealthy"))
		d.must("exec", "hclive", "sh", "-c", "echo up > /flag")
		waitFor(t, "healthy", 20*time.Second, func() bool { return d.health(t, "hclive").Status == "healthy" })
	})

	t.Run("init reaps zombies", func(t *testing.T) {
		// Each subshell exits at once and leaves its background sleep to
		// PID 1, which must reap it when it exits.
		d.dockerMust(t, "run", "-d", "--init", "--name", "reaper", "busybox", "sh", "-c",
			"for i in 1 2 3 4 5; do (sleep 0.2 &); done; sleep 300")
		assert.Check(t, is.Equal(d.field("reaper", "{{.HostConfig.Init}}"), "true"))
		cmdline := d.must("exec", "reaper", "cat", "/proc/1/cmdline")
		assert.Check(t, strings.HasPrefix(cmdline, "/sbin/docker-init\x00--\x00sh\x00"), "PID 1 is %q", cmdline)

		// ps lists zombies too, with state Z, so one sleep left (sleep 300,
		// sleeping) means that every short sleep ended and was reaped.
		var ps string
		waitFor(t, "the sleeps to end and be reaped", 20*time.Second, func() bool {
			ps = d.must("exec", "reaper", "ps", "-o", "stat,comm")
			for line := range strings.Lines(ps) {
				fields := strings.Fields(line)
				if len(fields) == 2 && fields[1] == "sleep" && fields[0] != "S" {
					return false
				}
			}
			return strings.Count(ps, "sleep") == 1
		})
		assert.Check(t, !strings.Contains(ps, "Z"), ps)
	})

	t.Run("init forwards signals", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--init", "--name", "fwd", "busybox", "sh", "-c",
			`trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done`)
		waitFor(t, "ready", 20*time.Second, func() bool { return strings.Contains(d.must("logs", "fwd"), "ready") })
		d.dockerMust(t, "kill", "-s", "USR1", "fwd")
		waitFor(t, "USR1", 20*time.Second, func() bool { return strings.Contains(d.must("logs", "fwd"), "got USR1") })
		d.dockerMust(t, "stop", "fwd")
		assert.Check(t, is.Equal(d.field("fwd", "{{.State.ExitCode}}"), "7"))
		assert.Check(t, is.Contains(d.must("logs", "fwd"), "got TERM"))
	})

	t.Run("init with a terminal", func(t *testing.T) {
		// The command's process group owns the terminal, so the command
		// can read from it and Ctrl-C reaches it.
		term := d.runTerminal("run", "-it", "--rm", "--init", "busybox", "sh", "-c",
			"echo ready; read x; echo got=$x; trap 'echo interrupted; exit 5' INT; echo sleeping; sleep 100 & wait")
		term.expect("ready")
		term.send("hello\r")
		term.expect("got=hello")
		term.expect("sleeping")
		term.send("\x03")
		term.expect("interrupted")
		assert.Check(t, is.Equal(term.exitCode(), 5))
	})

	t.Run("init passes exit status", func(t *testing.T) {
		_, _, err := d.docker("run", "--init", "--name", "initexit", "busybox", "sh", "-c", "exit 42")
		assert.Check(t, err != nil)
		assert.Check(t, is.Equal(d.field("initexit", "{{.State.ExitCode}}"), "42"))
		r, err := d.run("run", "--init", "--rm", "busybox", "sh", "-c", "kill -9 $$")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 137))
	})

	t.Run("stop signal and timeout", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c",
			`trap 'exit 9' USR1; while true; do sleep 0.1; done`)
		d.dockerMust(t, "stop", "usr1")
		assert.Check(t, is.Equal(d.field("usr1", "{{.State.ExitCode}}"), "9"))

		// The shell ignores SIGTERM, so stop and restart kill it after the
		// one-second --stop-timeout instead of Docker's ten seconds.
		d.dockerMust(t, "run", "-d", "--name", "deaf", "--stop-timeout", "1", "busybox", "sh", "-c",
			`trap '' TERM; while true; do sleep 0.1; done`)
		assert.Check(t, is.Equal(d.field("deaf", "{{.Config.StopTimeout}}"), "1"))
		start := time.Now()
		d.dockerMust(t, "stop", "deaf")
		assert.Check(t, is.Equal(d.field("deaf", "{{.State.ExitCode}}"), "137"))
		assert.Check(t, time.Since(start) < 9*time.Second, "stop took %s", time.Since(start))
		d.dockerMust(t, "start", "deaf")
		start = time.Now()
		d.dockerMust(t, "restart", "deaf")
		assert.Check(t, time.Since(start) < 9*time.Second, "restart took %s", time.Since(start))
		assert.Check(t, is.Equal(d.field("deaf", "{{.State.Status}}"), "running"))
	})

	t.Run("on-failure backs off", func(t *testing.T) {
		since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		d.dockerMust(t, "run", "-d", "--name", "crash", "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 3")
		waitFor(t, "three restarts", 30*time.Second, func() bool {
			return d.field("crash", "{{.RestartCount}} {{.State.Status}}") == "3 exited"
		})
		until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
		out := d.must("events", "--since", since, "--until", until, "--filter", "container=crash",
			"--format", "{{.Action}} {{.TimeNano}}")
		var dies, starts []int64
		for line := range strings.Lines(out) {
			action, nanos, _ := strings.Cut(strings.TrimSpace(line), " ")
			n, err := strconv.ParseInt(nanos, 10, 64)
			assert.NilError(t, err, line)
			switch action {
			case "die":
				dies = append(dies, n)
			case "start":
				starts = append(starts, n)
			}
		}
		assert.Assert(t, is.Len(starts, 4), out)
		assert.Assert(t, is.Len(dies, 4), out)
		// Each restart waits at least the back-off: 100, 200 and 400 ms.
		for i, minDelay := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
			gap := time.Duration(starts[i+1] - dies[i])
			assert.Check(t, gap >= minDelay, "restart %d came %s after the exit, want >= %s", i+1, gap, minDelay)
		}
	})

	t.Run("update restart policy", func(t *testing.T) {
		d.dockerMust(t, "run", "-d", "--name", "upd", "busybox", "sh", "-c", "sleep 0.3; exit 1")
		d.dockerMust(t, "update", "--restart", "on-failure:2", "upd")
		assert.Check(t, is.Equal(d.field("upd", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
			"on-failure:2"))
		waitFor(t, "two restarts", 30*time.Second, func() bool {
			return d.field("upd", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
		})
	})

	t.Run("policies after daemon restart", func(t *testing.T) {
		for _, policy := range []string{"always", "unless-stopped", "no"} {
			d.dockerMust(t, "run", "-d", "--name", "p-"+policy, "--restart", policy, "busybox", "sleep", "300")
		}
		d.dockerMust(t, "run", "-d", "--name", "p-stopped", "--restart", "unless-stopped", "busybox", "sleep", "300")
		d.dockerMust(t, "stop", "-t", "0", "p-stopped")
		// Docker starts an always container at daemon start even when a
		// user stopped it.
		d.dockerMust(t, "run", "-d", "--name", "p-always-stopped", "--restart", "always", "busybox", "sleep", "300")
		d.dockerMust(t, "stop", "-t", "0", "p-always-stopped")

		// As in a host reboot, the daemon, the shims and the containers'
		// processes all die.
		var pids []string
		for _, name := range []string{"p-always", "p-unless-stopped", "p-no"} {
			pids = append(pids, d.field(name, "{{.State.Pid}}"))
			data, err := os.ReadFile(filepath.Join(d.execRoot, "containers", d.field(name, "{{.Id}}"), "shim.pid"))
			assert.NilError(t, err)
			pids = append(pids, strings.TrimSpace(string(data)))
		}
		d.kill()
		for _, pid := range pids {
			killPid(t, pid)
		}
		d.start()

		for _, name := range []string{"p-always", "p-unless-stopped", "p-always-stopped"} {
			waitFor(t, name+" running", 20*time.Second, func() bool {
				return d.field(name, "{{.State.Status}}") == "running"
			})
		}
		assert.Check(t, is.Equal(d.field("p-no", "{{.State.Status}}"), "exited"))
		assert.Check(t, is.Equal(d.field("p-stopped", "{{.State.Status}}"), "exited"))
	})

	t.Run("shutdown without live restore", func(t *testing.T) {
		d.extraArgs = []string{"--live-restore=false"}
		d.stop()
		d.start()
		defer func() {
			d.must("rm", "-f", "sd-signal", "sd-deaf", "sd-policy")
			d.extraArgs = nil
			d.stop()
			d.start()
		}()

		d.dockerMust(t, "run", "-d", "--name", "sd-signal", "--stop-signal", "USR1",
			"busybox", "sh", "-c", `trap 'exit 9' USR1; echo ready; while true; do sleep 0.1; done`)
		d.dockerMust(t, "run", "-d", "--name", "sd-policy", "--restart", "unless-stopped", "--stop-timeout", "1",
			"busybox", "sleep", "300")
		d.dockerMust(t, "run", "-d", "--name", "sd-deaf", "--stop-timeout", "1", "busybox", "sh", "-c",
			`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
		for _, name := range []string{"sd-signal", "sd-deaf"} {
			waitFor(t, name+" ready", 20*time.Second, func() bool { return strings.Contains(d.must("logs", name), "ready") })
		}

		d.stop()
		d.start()
		assert.Check(t, is.Equal(d.field("sd-signal", "{{.State.Status}} {{.State.ExitCode}}"), "exited 9"))
		// A stop at shutdown is no user stop, so unless-stopped starts the
		// container again with the daemon.
		waitFor(t, "sd-policy running again", 20*time.Second, func() bool {
			return d.field("sd-policy", "{{.State.Status}}") == "running"
		})
		assert.Check(t, is.Equal(d.field("sd-policy", "{{.RestartCount}}"), "0"))
		// sd-deaf ignores SIGTERM, so its one-second stop timeout ended it
		// with SIGKILL.
		assert.Check(t, is.Equal(d.field("sd-deaf", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137"))
	})
}

// killPid sends SIGKILL to a container's process from outside the daemon.
func killPid(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	assert.NilError(t, err, "pid %q", pid)
	assert.Assert(t, n > 0, "pid %d", n)
	assert.NilError(t, syscall.Kill(n, syscall.SIGKILL))
}
