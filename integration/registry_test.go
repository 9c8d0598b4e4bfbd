package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// registry is a docker-registry server (the CNCF distribution server from
// Debian's docker-registry package) on 127.0.0.1.
type registry struct {
	host string // 127.0.0.1:port
	dir  string
}

// registryOptions configure a registry server started by runRegistry.
type registryOptions struct {
	host  string            // listen address; empty picks a free port on 127.0.0.1
	users map[string]string // basic authentication names and passwords, none for open
	// certPEM and keyPEM, when set, make the registry serve TLS.
	certPEM, keyPEM []byte
}

// startRegistry starts a plain HTTP registry on 127.0.0.1 with its own
// storage. With users set, it requires basic authentication with those
// names and passwords.
func startRegistry(t *testing.T, users map[string]string) *registry {
	t.Helper()
	return runRegistry(t, registryOptions{users: users})
}

// runRegistry starts a registry with its own storage as opts describe and
// stops it when the test ends.
func runRegistry(t *testing.T, opts registryOptions) *registry {
	t.Helper()
	binary, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (Debian package docker-registry, installed by scripts/install-deps.sh)")
	}
	dir := t.TempDir()
	host := opts.host
	if host == "" {
		host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
	if opts.certPEM != nil {
		certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		assert.NilError(t, os.WriteFile(certPath, opts.certPEM, 0o600))
		assert.NilError(t, os.WriteFile(keyPath, opts.keyPEM, 0o600))
		config += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certPath, keyPath)
	}
	if len(opts.users) > 0 {
		var htpasswd strings.Builder
		for user, password := range opts.users {
			hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
			assert.NilError(t, err)
			fmt.Fprintf(&htpasswd, "%s:%s\n", user, hash)
		}
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswd.String()), 0o600))
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	configPath := filepath.Join(dir, "config.yml")
	assert.NilError(t, os.WriteFile(configPath, []byte(config), 0o600))

	var logs bytes.Buffer
	cmd := exec.Command(binary, "serve", configPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	assert.NilError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("registry log:\n%s", logs.String())
		}
	})
	waitFor(t, "registry on "+host, 10*time.Second, func() bool {
		conn, err := net.Dial("tcp", host)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return &registry{host: host, dir: dir}
}

// buildLayered builds a two-layer image on busybox with a file whose
// content identifies it.
func (d *daemon) buildLayered(t *testing.T, tag, content string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": "FROM busybox:latest\nCOPY data.txt /data.txt\nRUN echo built >> /data.txt\nCMD [\"cat\", \"/data.txt\"]\n",
		"data.txt":   content + "\n",
	})
	d.must("build", "-q", "-t", tag, dir)
	return strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", tag))
}

func TestPushPullRoundTrip(t *testing.T) {
	reg := startRegistry(t, nil)
	d := newDaemon(t)
	d.importBusybox()
	ref := reg.host + "/team/app:1.0"
	id := d.buildLayered(t, ref, "round trip")

	out := d.must("push", ref)
	assert.Check(t, is.Contains(out, "The push refers to repository ["+reg.host+"/team/app]"))
	assert.Check(t, is.Contains(out, ": Pushed"))
	digest := strings.TrimSpace(d.must("image", "inspect", "-f", "{{index .RepoDigests 0}}", ref))
	assert.Check(t, is.Contains(out, "1.0: digest: "+strings.TrimPrefix(digest, reg.host+"/team/app@")))

	t.Run("push again", func(t *testing.T) {
		out := d.must("push", ref)
		assert.Check(t, is.Contains(out, ": Layer already exists"))
		assert.Check(t, !strings.Contains(out, ": Pushed"), out)
	})

	t.Run("pull after rmi", func(t *testing.T) {
		d.must("rmi", ref, "busybox")
		assert.Check(t, is.Equal(d.must("images", "-q"), ""))

		out := d.must("pull", ref)
		assert.Check(t, is.Contains(out, "1.0: Pulling from team/app"))
		assert.Check(t, is.Contains(out, "Status: Downloaded newer image for "+ref))
		assert.Check(t, is.Contains(out, "\n"+ref+"\n"), "the last line names the image")
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", ref)), id),
			"the pulled image has the pushed config")
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{index .RepoDigests 0}}", ref)), digest),
			"the pulled image has the pushed manifest")
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "round trip\nbuilt\n"))
	})

	t.Run("pull up to date", func(t *testing.T) {
		out := d.must("pull", ref)
		assert.Check(t, is.Contains(out, "Status: Image is up to date for "+ref))
		assert.Check(t, !strings.Contains(out, "Pull complete"), out)
	})

	t.Run("pull by digest", func(t *testing.T) {
		d.must("rmi", ref)
		out := d.must("pull", digest)
		assert.Check(t, is.Contains(out, "Digest: "+strings.TrimPrefix(digest, reg.host+"/team/app@")))
		assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", digest)), id))
		assert.Check(t, is.Equal(d.must("images", "--format", "{{.Repository}}:{{.Tag}}"), reg.host+"/team/app:<none>\n"))
		out = d.must("images", "--digests", "--format", "{{.Digest}}")
		assert.Check(t, is.Equal(out, strings.TrimPrefix(digest, reg.host+"/team/app@")+"\n"))

		out = d.must("rmi", digest)
		assert.Check(t, is.Contains(out, "Untagged: "+digest))
		assert.Check(t, is.Contains(out, "Deleted: "+id))
	})

	t.Run("docker CLI", func(t *testing.T) {
		out, errOut, err := d.docker("pull", ref)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "Downloaded newer image for "+ref))

		// A second repository on the same registry gets the blobs mounted.
		other := reg.host + "/other/app:2"
		_, errOut, err = d.docker("tag", ref, other)
		assert.NilError(t, err, errOut)
		out, errOut, err = d.docker("push", other)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "Mounted from team/app"))

		_, errOut, err = d.docker("pull", reg.host+"/team/app:nope")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "manifest for "+reg.host+"/team/app:nope not found"))
	})

	t.Run("run pulls a missing image", func(t *testing.T) {
		d.must("rmi", "-f", ref)
		r, err := d.run("run", "--rm", ref)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), "%s", r)
		assert.Check(t, is.Equal(r.stdout, "round trip\nbuilt\n"))
		assert.Check(t, is.Contains(r.stderr, "Unable to find image '"+ref+"' locally"))
		assert.Check(t, is.Contains(r.stderr, "Downloaded newer image for "+ref))

		r, err = d.run("run", "--rm", "--pull", "never", reg.host+"/team/app:nope", "true")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), "%s", r)
		assert.Check(t, is.Contains(r.stderr, "No such image"))
	})

	t.Run("missing repository", func(t *testing.T) {
		r, err := d.run("run", "--rm", reg.host+"/team/missing:1", "true")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), "%s", r)
		assert.Check(t, is.Contains(r.stderr, "Unable to find image '"+reg.host+"/team/missing:1' locally"))
	})
}

func TestRegistryLogin(t *testing.T) {
	reg := startRegistry(t, map[string]string{"alice": "s3cret"})
	d := newDaemon(t)
	d.importBusybox()
	ref := reg.host + "/alice/app:1"
	d.must("tag", "busybox", ref)
	configDir := t.TempDir()
	withConfig := func(args ...string) []string { return append([]string{"--config", configDir}, args...) }

	r, err := d.run(withConfig("push", ref)...)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1), "%s", r)
	assert.Check(t, is.Contains(r.stderr, "push access denied"))

	r, err = d.runInput("wrong\n", withConfig("login", "-u", "alice", "--password-stdin", reg.host)...)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1), "%s", r)
	assert.Check(t, is.Contains(r.stderr, "401 Unauthorized"))
	_, statErr := os.Stat(filepath.Join(configDir, "config.json"))
	assert.Check(t, os.IsNotExist(statErr), "a failed login stores nothing")

	r, err = d.runInput("s3cret\n", withConfig("login", "-u", "alice", "--password-stdin", reg.host)...)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 0), "%s", r)
	assert.Check(t, is.Equal(r.stdout, "Login Succeeded\n"))

	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	data, err := os.ReadFile(filepath.Join(configDir, "config.json"))
	assert.NilError(t, err)
	assert.NilError(t, json.Unmarshal(data, &cfg))
	assert.Check(t, is.Equal(cfg.Auths[reg.host].Auth, "YWxpY2U6czNjcmV0"), "Docker's format: base64 of user:password")

	d.must(withConfig("push", ref)...)
	d.must("rmi", ref)
	d.must(withConfig("pull", ref)...)

	t.Run("docker CLI shares the credentials", func(t *testing.T) {
		out, errOut, err := d.docker("--config", configDir, "pull", ref)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "Image is up to date"))
	})

	out := d.must(withConfig("logout", reg.host)...)
	assert.Check(t, is.Equal(out, "Removing login credentials for "+reg.host+"\n"))
	r, err = d.run(withConfig("pull", ref)...)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1), "%s", r)
	assert.Check(t, is.Contains(r.stderr, "pull access denied"))
}

// faultyProxy forwards to a registry and, while armed, damages the first
// response body for a blob whose path ends in target.
type faultyProxy struct {
	host   string
	target atomic.Value // string: digest of the blob to damage
	mode   atomic.Value // string: "corrupt", "truncate" or "" to pass through
}

func startFaultyProxy(t *testing.T, upstream string) *faultyProxy {
	t.Helper()
	u, err := url.Parse("http://" + upstream)
	assert.NilError(t, err)
	p := &faultyProxy{}
	p.target.Store("")
	p.mode.Store("")
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		target, mode := p.target.Load().(string), p.mode.Load().(string)
		if mode == "" || target == "" || resp.Request.Method != http.MethodGet ||
			!strings.HasSuffix(resp.Request.URL.Path, "/blobs/"+target) || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		switch mode {
		case "corrupt":
			body[len(body)/2] ^= 0xff
		case "truncate":
			body = body[:len(body)/2]
			// Keep the original length, so the client sees a cut transfer.
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{}))
			return nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	p.host = l.Addr().String()
	return p
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestPullDamagedBlob(t *testing.T) {
	reg := startRegistry(t, nil)
	proxy := startFaultyProxy(t, reg.host)
	d := newDaemon(t)
	d.importBusybox()
	ref := reg.host + "/team/app:1"
	id := d.buildLayered(t, ref, "damaged")
	d.must("push", ref)

	// The proxy serves the same repository under its own address.
	viaProxy := proxy.host + "/team/app:1"
	layers := strings.TrimSpace(d.must("image", "inspect", "-f", "{{json .RootFS.Layers}}", ref))
	assert.Check(t, is.Equal(strings.Count(layers, "sha256:"), 3), layers)
	d.must("rmi", ref, "busybox")
	assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""))

	// The topmost layer blob: the one the Dockerfile's RUN made.
	blobs := registryBlobs(t, reg, "team/app", "1")
	top := blobs[len(blobs)-1]

	for _, mode := range []string{"corrupt", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			proxy.target.Store(top)
			proxy.mode.Store(mode)
			r, err := d.run("pull", viaProxy)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(r.code, 1), "%s", r)
			assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""), "nothing is stored for a damaged pull")
			_, statErr := os.Stat(filepath.Join(d.dataRoot, "content", "blobs", "sha256", strings.TrimPrefix(top, "sha256:")))
			assert.Check(t, os.IsNotExist(statErr), "the damaged blob is not in the content store")
			assert.Check(t, is.Contains(r.stderr, top), "the error names the damaged blob")
		})
	}

	proxy.mode.Store("")
	out := d.must("pull", viaProxy)
	assert.Check(t, is.Contains(out, "Downloaded newer image"))
	assert.Check(t, is.Equal(strings.TrimSpace(d.must("image", "inspect", "-f", "{{.Id}}", viaProxy)), id))
	assert.Check(t, is.Equal(d.must("run", "--rm", viaProxy), "damaged\nbuilt\n"))
}

// registryBlobs returns the layer digests of the manifest repo:tag, read
// straight from the registry.
func registryBlobs(t *testing.T, reg *registry, repo, tag string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+reg.host+"/v2/"+repo+"/manifests/"+tag, nil)
	assert.NilError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusOK))
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&m))
	var digests []string
	for _, l := range m.Layers {
		digests = append(digests, l.Digest)
	}
	return digests
}
