package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestKubeGenerateAndPlay runs containers, writes their manifests with
// "kube generate", removes them with "kube play --down" and brings them
// back with "kube play". It also plays a two-container Pod whose image
// comes from a registry.
func TestKubeGenerateAndPlay(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	t.Run("generated round trip", func(t *testing.T) {
		webPort, apiPort := freePort(t), freePort(t)
		serve := "mkdir -p /w && echo \"$ITEM\" > /w/index.html && exec httpd -f -p 8080 -h /w"
		d.must("run", "-d", "--name", "kweb", "-p", fmt.Sprintf("127.0.0.1:%d:8080", webPort),
			"-e", "ITEM=anchor", "-m", "64m", "busybox", "sh", "-c", serve)
		d.must("run", "-d", "--name", "kapi", "-p", fmt.Sprintf("127.0.0.1:%d:8080", apiPort),
			"-e", "ITEM=rope", "busybox", "sh", "-c", serve)
		waitForBody(t, webPort, "anchor")
		waitForBody(t, apiPort, "rope")

		file := filepath.Join(t.TempDir(), "pods.yaml")
		d.must("kube", "generate", "-f", file, "kweb", "kapi")
		data, err := os.ReadFile(file)
		assert.NilError(t, err)
		assert.Check(t, is.Contains(string(data), "kind: Deployment"))
		assert.Check(t, is.Contains(string(data), fmt.Sprintf("hostPort: %d", webPort)))
		assert.Check(t, is.Contains(string(data), "memory: 64Mi"))

		removed := strings.Fields(d.must("kube", "play", "--down", file))
		sort.Strings(removed)
		assert.Check(t, is.DeepEqual(removed, []string{"kapi", "kweb"}))
		assert.Check(t, is.Equal(d.must("ps", "-aq"), ""))

		d.must("kube", "play", file)
		names := strings.Fields(d.must("ps", "--format", "{{.Names}}"))
		sort.Strings(names)
		assert.Check(t, is.DeepEqual(names, []string{"kapi", "kweb"}))
		waitForBody(t, webPort, "anchor")
		waitForBody(t, apiPort, "rope")
		memory := d.must("inspect", "--format", "{{.HostConfig.Memory}}", "kweb")
		assert.Check(t, is.Equal(strings.TrimSpace(memory), fmt.Sprint(64<<20)))

		d.must("kube", "play", "--down", file)
		assert.Check(t, is.Equal(d.must("ps", "-aq"), ""))
		networks := d.must("network", "ls", "--format", "{{.Name}}")
		assert.Check(t, !strings.Contains(networks, "kweb"), "networks left: %s", networks)
	})

	t.Run("pod pulls and resolves names", func(t *testing.T) {
		reg := startRegistry(t, nil)
		image := reg.host + "/kube/busybox:1"
		d.must("tag", "busybox:latest", image)
		d.must("push", image)
		d.must("rmi", image)

		manifest := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: duo-settings
data:
  ITEM: sail
---
apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  containers:
  - name: server
    image: %[1]s
    command: ["sh", "-c"]
    args: ["mkdir -p /w && echo \"$ITEM\" > /w/index.html && exec httpd -f -p 8080 -h /w"]
    envFrom:
    - configMapRef: {name: duo-settings}
  - name: client
    image: %[1]s
    args: ["sleep", "600"]
`, image)
		file := filepath.Join(t.TempDir(), "duo.yaml")
		assert.NilError(t, os.WriteFile(file, []byte(manifest), 0o644))

		r, err := d.run("kube", "play", file)
		assert.NilError(t, err)
		assert.Equal(t, r.code, 0, "%s", r)
		assert.Check(t, is.Contains(r.stderr, "pulling "+image))
		assert.Check(t, is.Equal(r.stdout, "duo-server\nduo-client\n"))

		var body string
		waitFor(t, "the server container by name", 15*time.Second, func() bool {
			r, err := d.run("exec", "duo-client", "sh", "-c",
				`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 server 8080`)
			body = r.stdout
			return err == nil && r.code == 0 && strings.Contains(body, "sail")
		})

		d.must("kube", "play", "--down", file)
		assert.Check(t, is.Equal(d.must("ps", "-aq"), ""))
		networks := d.must("network", "ls", "--format", "{{.Name}}")
		assert.Check(t, !strings.Contains(networks, "duo"), "networks left: %s", networks)
	})
}

// TestKubePlayServiceNames plays two Deployments and a ClusterIP Service:
// the front pod reaches the back pod by the Service's name, as in a
// cluster, and the Service's port stays unpublished.
func TestKubePlayServiceNames(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: back
spec:
  replicas: 2
  selector:
    matchLabels: {app: back}
  template:
    metadata:
      labels: {app: back}
    spec:
      containers:
      - name: back
        image: busybox:latest
        args: ["sh", "-c", "mkdir -p /w && echo rope > /w/index.html && exec httpd -f -p 8080 -h /w"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: stock
spec:
  selector: {app: back}
  ports:
  - port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: front
spec:
  selector:
    matchLabels: {app: front}
  template:
    metadata:
      labels: {app: front}
    spec:
      containers:
      - name: front
        image: busybox:latest
        args: ["sleep", "600"]
`
	file := filepath.Join(t.TempDir(), "shop.yaml")
	assert.NilError(t, os.WriteFile(file, []byte(manifest), 0o644))
	r, err := d.run("kube", "play", file)
	assert.NilError(t, err)
	assert.Equal(t, r.code, 0, "%s", r)
	assert.Check(t, is.Contains(r.stderr, "Deployment back: running 1 of 2 replicas"))
	assert.Check(t, is.Equal(r.stdout, "back\nfront\n"))

	ports := d.must("port", "back")
	assert.Check(t, is.Equal(ports, ""), "a ClusterIP Service publishes nothing")
	waitFor(t, "the back pod by its Service name", 15*time.Second, func() bool {
		r, err := d.run("exec", "front", "sh", "-c",
			`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 stock 8080`)
		return err == nil && r.code == 0 && strings.Contains(r.stdout, "rope")
	})

	d.must("kube", "play", "--down", file)
	assert.Check(t, is.Equal(d.must("ps", "-aq"), ""))
	networks := d.must("network", "ls", "--format", "{{.Name}}")
	assert.Check(t, !strings.Contains(networks, "shop-services"), "networks left: %s", networks)
	assert.Check(t, !strings.Contains(networks, "front"), "networks left: %s", networks)
}

// waitForBody waits until http://127.0.0.1:PORT/ returns a body containing
// text.
func waitForBody(t *testing.T, port int, text string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q on port %d", text, port), 15*time.Second, func() bool {
		body, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
		return err == nil && strings.Contains(body, text)
	})
}
