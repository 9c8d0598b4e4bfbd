package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// composeLeftovers lists the containers, networks and volumes that carry
// the compose project label of project.
func (d *daemon) composeLeftovers(project string) string {
	d.t.Helper()
	filter := "label=com.docker.compose.project=" + project
	return d.must("ps", "-aq", "--filter", filter) +
		d.must("network", "ls", "-q", "--filter", filter) +
		d.must("volume", "ls", "-q", "--filter", filter)
}

// composeIDs returns the IDs of a project's containers by name.
func (d *daemon) composeIDs(args ...string) map[string]string {
	d.t.Helper()
	out := d.must(append(args, "ps", "-a", "--format", "{{.Name}} {{.ID}}")...)
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, id, ok := strings.Cut(line, " "); ok {
			ids[name] = id
		}
	}
	return ids
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
}

// TestComposeExample brings examples/microservices up with berth compose,
// reads the front end through the published port and takes it down.
func TestComposeExample(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	root, err := moduleRoot()
	assert.NilError(t, err)
	file := filepath.Join(root, "examples", "microservices", "compose.yaml")

	dir := t.TempDir()
	port := freePort(t)
	envFile := filepath.Join(dir, "test.env")
	writeTestFile(t, envFile, fmt.Sprintf("SHIPYARD_PORT=127.0.0.1:%d\n", port))
	override := filepath.Join(dir, "subnet.yaml")
	writeTestFile(t, override, fmt.Sprintf("networks:\n  default:\n    ipam:\n      config:\n        - subnet: %s\n",
		freeSubnet(t).Masked()))
	project := []string{"compose", "-f", file, "-f", override, "--env-file", envFile}

	d.must(append(project, "up", "-d")...)

	var page string
	waitFor(t, "the front end's page", 15*time.Second, func() bool {
		page, err = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/index", port))
		return err == nil && strings.Contains(page, "<li>")
	})
	for _, item := range []string{"anchor", "rope", "sail"} {
		assert.Check(t, is.Contains(page, "<li>"+item+"</li>"))
	}

	ids := d.composeIDs(project...)
	for _, name := range []string{"shipyard-data-1", "shipyard-api-1", "shipyard-frontend-1"} {
		assert.Check(t, ids[name] != "", "no container %s in %v", name, ids)
	}
	assert.Check(t, is.Contains(d.must("compose", "ls"), "shipyard"))
	labels := d.must("inspect", "-f", `{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.container-number"}} {{index .Config.Labels "com.docker.compose.oneoff"}}`, "shipyard-api-1")
	assert.Check(t, is.Equal(strings.TrimSpace(labels), "shipyard api 1 False"))
	network := d.must("network", "inspect", "-f", "{{index .Labels \"com.docker.compose.network\"}}", "shipyard_default")
	assert.Check(t, is.Equal(strings.TrimSpace(network), "default"))

	d.must(append(project, "down", "-v")...)
	assert.Check(t, is.Equal(d.composeLeftovers("shipyard"), ""))
}

// composeProject is a project of busybox services: init must complete
// before web starts, worker waits for db to be healthy and runs on a
// second network. A named volume carries init's marker file to web, and a
// bind mount of ./host gives init a file from the project directory.
const composeProject = `name: cz
services:
  init:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /shared/ready; echo init done; cat /host/note"]
    volumes:
      - shared:/shared
      - ./host:/host:ro
  web:
    image: busybox
    command: ["sh", "-c", "test -f /shared/ready && echo web ready $$GREETING; exec sleep 1000"]
    environment:
      GREETING: ${GREETING:-hello}
    volumes: [shared:/shared]
    stop_grace_period: 1s
    depends_on:
      init:
        condition: service_completed_successfully
  db:
    image: busybox
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      start_interval: 200ms
  worker:
    image: busybox
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
    networks:
      back:
        aliases: [jobs]
networks:
  default:
    ipam:
      config:
        - subnet: %s
  back:
    ipam:
      config:
        - subnet: %s
volumes:
  shared: {}
`

// TestComposeLifecycle checks dependency order, logs, recreation of
// changed services only, scaling, exec, run, attached up and down, then
// build, push and pull with a second project, on one daemon.
func TestComposeLifecycle(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	writeTestFile(t, file, fmt.Sprintf(composeProject, freeSubnet(t).Masked(), freeSubnet(t).Masked()))
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "host"), 0o755))
	writeTestFile(t, filepath.Join(dir, "host", "note"), "from the host\n")
	changedEnv := filepath.Join(dir, "changed.env")
	writeTestFile(t, changedEnv, "GREETING=changed\n")
	project := []string{"compose", "-f", file}

	t.Run("up waits for completion", func(t *testing.T) {
		d.must(append(project, "up", "-d")...)
		initState := d.must("inspect", "-f", "{{.State.ExitCode}} {{.State.FinishedAt}}", "cz-init-1")
		code, finished, _ := strings.Cut(strings.TrimSpace(initState), " ")
		assert.Check(t, is.Equal(code, "0"))
		webStarted := strings.TrimSpace(d.must("inspect", "-f", "{{.State.StartedAt}}", "cz-web-1"))
		finishedAt, err := time.Parse(time.RFC3339Nano, finished)
		assert.NilError(t, err)
		startedAt, err := time.Parse(time.RFC3339Nano, webStarted)
		assert.NilError(t, err)
		assert.Check(t, !startedAt.Before(finishedAt), "web started %s, before init finished %s", startedAt, finishedAt)

		health := d.must("inspect", "-f", "{{.State.Health.Status}}", "cz-db-1")
		assert.Check(t, is.Equal(strings.TrimSpace(health), "healthy"))
	})

	t.Run("logs and ps", func(t *testing.T) {
		var logs string
		waitFor(t, "web's log line", 10*time.Second, func() bool {
			logs = d.must(append(project, "logs", "web")...)
			return strings.Contains(logs, "web ready")
		})
		assert.Check(t, is.Contains(logs, "cz-web-1 | web ready hello"))
		assert.Check(t, !strings.Contains(logs, "\x1b["), "colour codes in output that is not a terminal: %q", logs)

		all := d.must(append(project, "logs", "--no-color")...)
		assert.Check(t, is.Contains(all, "cz-init-1   | init done"))
		assert.Check(t, is.Contains(all, "cz-init-1   | from the host"))

		running := d.must(append(project, "ps", "--format", "{{.Name}}")...)
		assert.Check(t, is.Contains(running, "cz-web-1"))
		assert.Check(t, !strings.Contains(running, "cz-init-1"), "exited container in ps without -a: %s", running)
		assert.Check(t, is.Contains(d.must(append(project, "ps", "-a")...), "cz-init-1"))
		assert.Check(t, is.Equal(d.must(append(project, "ps", "--services")...), "db\ninit\nweb\nworker\n"))
		assert.Check(t, is.Contains(d.must("compose", "ls", "-a"), "cz"))
		var projects []struct{ Name, Status, ConfigFiles string }
		assert.NilError(t, json.Unmarshal([]byte(d.must("compose", "ls", "--format", "json")), &projects))
		assert.Check(t, is.Len(projects, 1))
		assert.Check(t, is.Equal(projects[0].Name, "cz"))
		assert.Check(t, is.Equal(projects[0].ConfigFiles, file))
	})

	t.Run("up without change keeps containers", func(t *testing.T) {
		before := d.composeIDs(project...)
		r, err := d.run(append(project, "up", "-d")...)
		assert.NilError(t, err)
		assert.Equal(t, r.code, 0, r.String())
		assert.Check(t, is.Contains(r.stderr, "cz-worker-1  Running"))
		assert.Check(t, is.DeepEqual(d.composeIDs(project...), before))
	})

	t.Run("changed environment recreates one service", func(t *testing.T) {
		before := d.composeIDs(project...)
		r, err := d.run("compose", "--env-file", changedEnv, "-f", file, "up", "-d")
		assert.NilError(t, err)
		assert.Equal(t, r.code, 0, r.String())
		after := d.composeIDs(project...)
		assert.Check(t, after["cz-web-1"] != before["cz-web-1"], "web was not recreated")
		assert.Check(t, is.Equal(after["cz-init-1"], before["cz-init-1"]))
		assert.Check(t, is.Equal(after["cz-worker-1"], before["cz-worker-1"]))
		env := d.must("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", "cz-web-1")
		assert.Check(t, is.Contains(env, "GREETING=changed"))
	})

	t.Run("scale up and down", func(t *testing.T) {
		d.must(append(project, "up", "-d", "--scale", "worker=3", "worker")...)
		ids := d.composeIDs(project...)
		for _, name := range []string{"cz-worker-1", "cz-worker-2", "cz-worker-3"} {
			assert.Check(t, ids[name] != "", "no container %s in %v", name, ids)
		}
		out := d.must("exec", "cz-worker-1", "nslookup", "jobs")
		assert.Check(t, is.Contains(out, "Address"))

		d.must(append(project, "up", "-d", "--scale", "worker=1", "worker")...)
		ids = d.composeIDs(project...)
		var workers []string
		for name := range ids {
			if strings.HasPrefix(name, "cz-worker-") {
				workers = append(workers, name)
			}
		}
		sort.Strings(workers)
		assert.Check(t, is.DeepEqual(workers, []string{"cz-worker-1"}))
	})

	t.Run("exec and run", func(t *testing.T) {
		out := d.must(append(project, "exec", "-T", "-e", "WHO=exec", "worker", "sh", "-c", "echo hi $WHO")...)
		assert.Check(t, is.Equal(out, "hi exec\n"))

		out = d.must(append(project, "run", "--rm", "--no-deps", "-e", "WHO=run", "worker", "sh", "-c", "echo one-off $WHO")...)
		assert.Check(t, is.Contains(out, "one-off run"))
		out = d.must(append(project, "run", "--rm", "--no-deps", "--entrypoint", "echo", "worker", "from", "entrypoint")...)
		assert.Check(t, is.Equal(out, "from entrypoint\n"))
		left := d.must("ps", "-aq", "--filter", "label=com.docker.compose.oneoff=True")
		assert.Check(t, is.Equal(left, ""))
	})

	t.Run("stop start and restart", func(t *testing.T) {
		d.must(append(project, "stop", "worker")...)
		assert.Check(t, !strings.Contains(d.must(append(project, "ps")...), "cz-worker-1"))
		d.must(append(project, "start", "worker")...)
		assert.Check(t, is.Contains(d.must(append(project, "ps")...), "cz-worker-1"))

		before := d.must("inspect", "-f", "{{.State.StartedAt}}", "cz-worker-1")
		d.must(append(project, "restart", "worker")...)
		after := d.must("inspect", "-f", "{{.State.StartedAt}} {{.State.Running}}", "cz-worker-1")
		startedAt, running, _ := strings.Cut(strings.TrimSpace(after), " ")
		assert.Check(t, startedAt != strings.TrimSpace(before), "worker was not restarted")
		assert.Check(t, is.Equal(running, "true"))
	})

	t.Run("attached up stops on interrupt", func(t *testing.T) {
		cmd := exec.Command(berthBinary, append(project, "up", "web")...)
		cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.socket, "DOCKER_HOST=")
		stdout, err := cmd.StdoutPipe()
		assert.NilError(t, err)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		assert.NilError(t, cmd.Start())

		// The scanner runs beside the test so that a missing line fails
		// the test instead of blocking it. It reads to the end of the
		// output, which must happen before cmd.Wait.
		found := make(chan struct{})
		finished := make(chan []string)
		go func() {
			var output []string
			webReady, initExited, signalled := false, false, false
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				line := lines.Text()
				output = append(output, line)
				if strings.HasPrefix(line, "cz-web-1 ") && strings.Contains(line, "| web ready") {
					webReady = true
				}
				if line == "cz-init-1 exited with code 0" {
					initExited = true
				}
				if webReady && initExited && !signalled {
					close(found)
					signalled = true
				}
			}
			finished <- output
		}()
		select {
		case <-found:
		case <-time.After(time.Minute):
			t.Errorf("no log line of web or no exit line of init in attached output after a minute")
		}
		assert.NilError(t, cmd.Process.Signal(syscall.SIGINT))
		var lines []string
		select {
		case lines = <-finished:
		case <-time.After(time.Minute):
			t.Errorf("attached up still running a minute after SIGINT; stderr:\n%s", stderr.String())
			_ = cmd.Process.Kill()
			lines = <-finished
		}
		output := strings.Join(lines, "\n")
		assert.NilError(t, cmd.Wait(), stderr.String())
		assert.Check(t, is.Contains(output, "cz-init-1 exited with code 0"))

		state := d.must("inspect", "-f", "{{.State.Running}}", "cz-web-1")
		assert.Check(t, is.Equal(strings.TrimSpace(state), "false"))
		assert.Check(t, is.Contains(stderr.String(), "Gracefully stopping"))
	})

	t.Run("orphans and down", func(t *testing.T) {
		reduced := filepath.Join(dir, "reduced.yaml")
		writeTestFile(t, reduced, "name: cz\nservices:\n  extra:\n    image: busybox\n    command: [\"sleep\", \"1000\"]\n    stop_grace_period: 1s\n")
		r, err := d.run("compose", "-f", reduced, "up", "-d")
		assert.NilError(t, err)
		assert.Equal(t, r.code, 0, r.String())
		assert.Check(t, is.Contains(r.stderr, "Found orphan containers"))

		d.must("compose", "-f", reduced, "up", "-d", "--remove-orphans")
		names := d.must("compose", "-f", reduced, "ps", "-a", "--format", "{{.Name}}")
		assert.Check(t, is.Equal(names, "cz-extra-1\n"))

		d.must(append(project, "down", "-v", "--remove-orphans")...)
		assert.Check(t, is.Equal(d.composeLeftovers("cz"), ""))
	})

	t.Run("build push and pull", func(t *testing.T) {
		reg := startRegistry(t, nil)
		buildDir := t.TempDir()
		writeTestFile(t, filepath.Join(buildDir, "app.Dockerfile"),
			"FROM busybox:latest AS base\nARG MESSAGE\nRUN echo \"$MESSAGE\" > /message\nFROM base AS final\n")
		writeTestFile(t, filepath.Join(buildDir, "compose.yaml"), fmt.Sprintf(`name: czb
services:
  app:
    image: %s/czb/app:1
    build:
      context: .
      dockerfile: app.Dockerfile
      args:
        MESSAGE: built
      target: final
    command: ["cat", "/message"]
  ready:
    image: busybox
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      start_interval: 200ms
networks:
  default:
    ipam:
      config:
        - subnet: %s
`, reg.host, freeSubnet(t).Masked()))
		built := []string{"compose", "--project-directory", buildDir}
		image := reg.host + "/czb/app:1"

		config := d.must(append(built, "config")...)
		assert.Check(t, is.Contains(config, "MESSAGE: built"))
		d.must(append(built, "build")...)
		out := d.must(append(built, "run", "--rm", "app")...)
		assert.Check(t, is.Equal(out, "built\n"))

		d.must(append(built, "push", "app")...)
		d.must(append(built, "down", "--rmi", "all")...)
		r, err := d.run("image", "inspect", image)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, "image %s is still there after down --rmi all", image)
		// --rmi all also removes images that services only use, as in
		// Docker Compose.
		r, err = d.run("image", "inspect", "busybox:latest")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, "busybox:latest is still there after down --rmi all")
		d.importBusybox()

		d.must(append(built, "pull", "app")...)
		d.must("image", "inspect", image)

		d.must(append(built, "up", "-d", "--wait", "ready")...)
		health := d.must("inspect", "-f", "{{.State.Health.Status}}", "czb-ready-1")
		assert.Check(t, is.Equal(strings.TrimSpace(health), "healthy"))

		d.must(append(built, "down", "-v", "--rmi", "all")...)
		assert.Check(t, is.Equal(d.composeLeftovers("czb"), ""))
	})
}
