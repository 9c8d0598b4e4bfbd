package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// dockerCompose runs docker-compose 1.x (Debian's Python package, which
// talks to the Engine API through docker-py) against the daemon.
func (d *daemon) dockerCompose(env []string, args ...string) result {
	d.t.Helper()
	cmd := exec.Command("docker-compose", args...)
	cmd.Env = append(os.Environ(), append([]string{"DOCKER_HOST=unix://" + d.socket}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if exitErr, ok := err.(*exec.ExitError); ok {
		r.code = exitErr.ExitCode()
	} else {
		assert.NilError(d.t, err)
	}
	return r
}

// TestDockerComposeUpDown brings the project in
// testdata/compose up and down with docker-compose 1.29: a named volume, a
// bind mount, a user-defined network with a fixed subnet, a published
// port, environment, a health check and depends_on with
// condition: service_healthy.
func TestDockerComposeUpDown(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not installed (Debian package docker-compose, see scripts/install-deps.sh)")
	}
	d := newDaemon(t)
	d.importBusybox()
	root, err := moduleRoot()
	assert.NilError(t, err)
	file := filepath.Join(root, "integration", "testdata", "compose", "docker-compose.yml")
	port := freePort(t)
	env := []string{
		fmt.Sprintf("WEB_PORT=%d", port),
		"SUBNET=" + freeSubnet(t).Masked().String(),
	}
	project := "dc" + randomHex(3)
	compose := func(args ...string) string {
		t.Helper()
		r := d.dockerCompose(env, append([]string{"-p", project, "-f", file}, args...)...)
		assert.Equal(t, r.code, 0, "docker-compose %s\n%s", strings.Join(args, " "), r)
		return r.stdout
	}
	itemURL := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/item", port)
	waitForItem := func() {
		t.Helper()
		var body string
		waitFor(t, "the item through the published port", 15*time.Second, func() bool {
			body, err = httpGet(t, itemURL)
			return err == nil && strings.TrimSpace(body) == "anchor"
		})
	}

	compose("up", "-d")
	names := strings.Fields(d.must("ps", "--format", "{{.Names}}"))
	sort.Strings(names)
	assert.DeepEqual(t, names, []string{project + "_store_1", project + "_web_1"})
	waitForItem()

	health := d.must("inspect", "--format", "{{.State.Health.Status}}", project+"_store_1")
	assert.Check(t, is.Equal(strings.TrimSpace(health), "healthy"))

	manifests := d.must("kube", "generate", "--service", "--compose-project", project)
	for _, expected := range []string{
		"kind: Deployment\nmetadata:\n  labels:\n    app: store\n",
		"kind: Deployment\nmetadata:\n  labels:\n    app: web\n",
		"kind: Service\nmetadata:\n  labels:\n    app: web\n",
		"claimName: " + project + "-items\n",
		"image: busybox:latest\n",
		"- name: STORE\n          value: store:8080\n",
		"data:\n  SHELF: top\nkind: ConfigMap\nmetadata:\n  name: store-env\n",
		"envFrom:\n        - configMapRef:\n            name: store-env\n",
	} {
		assert.Check(t, is.Contains(manifests, expected))
	}

	ps := compose("ps")
	assert.Check(t, is.Contains(ps, project+"_web_1"))
	assert.Check(t, is.Contains(ps, fmt.Sprintf("127.0.0.1:%d->8080/tcp", port)))

	assert.Check(t, is.Equal(compose("exec", "-T", "store", "cat", "/data/item.txt"), "anchor\n"))
	assert.Check(t, is.Equal(compose("exec", "-T", "web", "sh", "-c", "echo $STORE"), "store:8080\n"))
	assert.Check(t, is.Equal(compose("exec", "-T", "store", "sh", "-c", "echo $SHELF"), "top\n"))
	// A link's alias resolves on the project's network, for web only.
	assert.Check(t, is.Contains(compose("exec", "-T", "web", "sh", "-c", "ping -c1 -W2 shelf && echo linked"), "linked\n"))

	d.must("exec", project+"_store_1", "sh", "-c", "echo stored log line >/proc/1/fd/1")
	assert.Check(t, is.Contains(compose("logs", "--no-color", "store"), "stored log line"))

	// docker-compose 1.29 reads the image's ContainerConfig when it
	// recreates a container, and Docker's image inspect has it only for API
	// versions before 1.45, so recreation needs an older API version.
	oldID := d.must("inspect", "--format", "{{.Id}}", project+"_web_1")
	r := d.dockerCompose(append(env, "COMPOSE_API_VERSION=1.44"), "-p", project, "-f", file, "up", "-d", "--force-recreate", "-t", "1", "web")
	assert.Equal(t, r.code, 0, "docker-compose up --force-recreate\n%s", r)
	newID := d.must("inspect", "--format", "{{.Id}}", project+"_web_1")
	assert.Check(t, oldID != newID, "web was not recreated")
	waitForItem()

	compose("stop", "-t", "1")
	running := d.must("ps", "-q")
	assert.Check(t, is.Equal(running, ""))
	assert.Check(t, is.Equal(len(strings.Fields(d.must("ps", "-aq"))), 2))

	compose("start")
	waitForItem()

	compose("down", "-v", "-t", "1")
	assert.Check(t, is.Equal(d.must("ps", "-aq"), ""))
	assert.Check(t, is.Equal(d.must("volume", "ls", "-q"), ""))
	networks := d.must("network", "ls", "--format", "{{.Name}}")
	assert.Check(t, !strings.Contains(networks, project), "networks left: %s", networks)
}
