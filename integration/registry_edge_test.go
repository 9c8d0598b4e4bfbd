package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// Media types of manifests and blobs that the tests push by hand.
const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayerTar    = "application/vnd.oci.image.layer.v1.tar"
	mtOCILayerGzip   = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtOCILayerZstd   = "application/vnd.oci.image.layer.v1.tar+zstd"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// regClient uploads blobs and manifests straight over the registry API.
type regClient struct {
	base   string // scheme://host
	client *http.Client
}

func newRegClient(host string) *regClient {
	return &regClient{base: "http://" + host, client: http.DefaultClient}
}

// pushBlob uploads data to repo with a monolithic upload and returns its
// digest.
func (c *regClient) pushBlob(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	resp, err := c.client.Post(c.base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusAccepted))
	loc, err := resp.Location()
	assert.NilError(t, err)
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()

	req, err := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(data))
	assert.NilError(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = c.client.Do(req)
	assert.NilError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusCreated), "upload blob %s: %s", d, body)
	return d
}

// putManifest stores body under repo:ref ("tag" or digest) and returns its
// descriptor.
func (c *regClient) putManifest(t *testing.T, repo, ref, mediaType string, body []byte) descriptor {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, c.base+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	assert.NilError(t, err)
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.client.Do(req)
	assert.NilError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusCreated), "put manifest %s: %s", ref, out)
	return descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
}

type descriptor struct {
	MediaType string            `json:"mediaType"`
	Digest    digest.Digest     `json:"digest"`
	Size      int64             `json:"size"`
	Platform  map[string]string `json:"platform,omitempty"`
}

// testLayer is a layer blob with the diff ID of its tar.
type testLayer struct {
	mediaType string
	blob      []byte
	diffID    digest.Digest
}

// tarOf returns an uncompressed tar of files (name -> content).
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(content))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

// compressed returns the layer for the tar data compressed as "gzip",
// "zstd" or "tar" (none), with OCI media types, or Docker's for "docker".
func compressed(t *testing.T, data []byte, kind string) testLayer {
	t.Helper()
	l := testLayer{diffID: digest.FromBytes(data)}
	var buf bytes.Buffer
	switch kind {
	case "gzip", "docker":
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(data)
		assert.NilError(t, err)
		assert.NilError(t, zw.Close())
		l.mediaType = mtOCILayerGzip
		if kind == "docker" {
			l.mediaType = mtDockerLayer
		}
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		assert.NilError(t, err)
		_, err = zw.Write(data)
		assert.NilError(t, err)
		assert.NilError(t, zw.Close())
		l.mediaType = mtOCILayerZstd
	case "tar":
		buf.Write(data)
		l.mediaType = mtOCILayerTar
	default:
		t.Fatalf("unknown compression %q", kind)
	}
	l.blob = buf.Bytes()
	return l
}

// busyboxLayer returns the busybox root filesystem as a layer.
func busyboxLayer(t *testing.T, kind string) testLayer {
	t.Helper()
	data, err := os.ReadFile(busyboxTar)
	assert.NilError(t, err)
	return compressed(t, data, kind)
}

// handImage is an image that a test uploads piece by piece.
type handImage struct {
	arch   string
	cmd    []string
	layers []testLayer
	docker bool // Docker schema2 media types instead of OCI's
}

// push uploads the blobs, config and manifest of img to repo and returns
// the manifest descriptor. The manifest is stored under tag, or only by
// digest when tag is empty.
func (c *regClient) push(t *testing.T, repo, tag string, img handImage) descriptor {
	t.Helper()
	diffIDs := []digest.Digest{}
	for _, l := range img.layers {
		diffIDs = append(diffIDs, l.diffID)
	}
	config, err := json.Marshal(map[string]any{
		"architecture": img.arch,
		"os":           "linux",
		"config":       map[string]any{"Cmd": img.cmd},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	assert.NilError(t, err)

	manifestType, configType := mtOCIManifest, mtOCIConfig
	if img.docker {
		manifestType, configType = mtDockerManifest, mtDockerConfig
	}
	layers := []descriptor{}
	for _, l := range img.layers {
		layers = append(layers, descriptor{MediaType: l.mediaType, Digest: c.pushBlob(t, repo, l.blob), Size: int64(len(l.blob))})
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestType,
		"config":        descriptor{MediaType: configType, Digest: c.pushBlob(t, repo, config), Size: int64(len(config))},
		"layers":        layers,
	})
	assert.NilError(t, err)
	ref := tag
	if ref == "" {
		ref = digest.FromBytes(manifest).String()
	}
	desc := c.putManifest(t, repo, ref, manifestType, manifest)
	desc.Platform = map[string]string{"os": "linux", "architecture": img.arch}
	return desc
}

// pushIndex stores an index (or Docker manifest list) of manifests under
// repo:tag.
func (c *regClient) pushIndex(t *testing.T, repo, tag, mediaType string, manifests ...descriptor) descriptor {
	t.Helper()
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaType, "manifests": manifests})
	assert.NilError(t, err)
	return c.putManifest(t, repo, tag, mediaType, index)
}

// hookProxy forwards to a registry. A hook may serve a request itself,
// and blob downloads can be throttled.
type hookProxy struct {
	host      string
	hook      atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	rate      atomic.Int64 // bytes per second of each blob download, 0 for no limit
	blobBytes atomic.Int64 // blob bytes sent so far
}

func startHookProxy(t *testing.T, upstream string) *hookProxy {
	t.Helper()
	u, err := url.Parse("http://" + upstream)
	assert.NilError(t, err)
	p := &hookProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") {
			resp.Body = &slowBody{ReadCloser: resp.Body, p: p}
		}
		return nil
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook := p.hook.Load(); hook != nil && (*hook)(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	p.host = l.Addr().String()
	return p
}

func (p *hookProxy) setHook(hook func(http.ResponseWriter, *http.Request) bool) {
	if hook == nil {
		p.hook.Store(nil)
		return
	}
	p.hook.Store(&hook)
}

// slowBody counts the bytes of a blob download and, with a rate set,
// sends them in 16 KiB pieces at that rate.
type slowBody struct {
	io.ReadCloser
	p *hookProxy
}

func (b *slowBody) Read(buf []byte) (int, error) {
	rate := b.p.rate.Load()
	if rate > 0 && len(buf) > 16<<10 {
		buf = buf[:16<<10]
	}
	n, err := b.ReadCloser.Read(buf)
	b.p.blobBytes.Add(int64(n))
	if rate > 0 && n > 0 {
		time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
	}
	return n, err
}

// imageField returns one field of image inspect.
func (d *daemon) imageField(t *testing.T, ref, format string) string {
	t.Helper()
	return strings.TrimSpace(d.must("image", "inspect", "-f", format, ref))
}

// fails runs the CLI and checks that it exits with code, returning stderr.
func (d *daemon) fails(t *testing.T, code int, args ...string) string {
	t.Helper()
	r, err := d.run(args...)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, code), "berth %s\n%s", strings.Join(args, " "), r)
	return r.stderr
}

func TestPullMultiPlatform(t *testing.T) {
	reg := startRegistry(t, nil)
	c := newRegClient(reg.host)
	d := newDaemon(t)
	native, other := runtime.GOARCH, "s390x"
	if native == other {
		other = "amd64"
	}

	base := busyboxLayer(t, "gzip")
	id := compressed(t, tarOf(t, map[string]string{"id.txt": "multi\n"}), "gzip")
	nativeDesc := c.push(t, "team/multi", "", handImage{arch: native, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{base, id}})
	otherDesc := c.push(t, "team/multi", "", handImage{arch: other, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{base, id}})
	index := c.pushIndex(t, "team/multi", "oci", mtOCIIndex, otherDesc, nativeDesc)

	dockerBase := busyboxLayer(t, "docker")
	dockerID := compressed(t, tarOf(t, map[string]string{"id.txt": "list\n"}), "docker")
	listNative := c.push(t, "team/multi", "", handImage{arch: native, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{dockerBase, dockerID}, docker: true})
	listOther := c.push(t, "team/multi", "", handImage{arch: other, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{dockerBase, dockerID}, docker: true})
	list := c.pushIndex(t, "team/multi", "list", mtDockerList, listOther, listNative)

	c.push(t, "team/multi", "single", handImage{arch: native, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{base, id}})

	ociRef := reg.host + "/team/multi:oci"
	t.Run("index picks daemon platform", func(t *testing.T) {
		out := d.must("pull", ociRef)
		assert.Check(t, is.Contains(out, "Digest: "+index.Digest.String()))
		assert.Check(t, is.Equal(d.imageField(t, ociRef, "{{.Architecture}}"), native))
		assert.Check(t, is.Equal(d.imageField(t, ociRef, "{{index .RepoDigests 0}}"), reg.host+"/team/multi@"+index.Digest.String()),
			"the repo digest is the index's, as Docker records it")
		assert.Check(t, is.Equal(d.must("run", "--rm", ociRef), "multi\n"))
	})

	t.Run("index other platform", func(t *testing.T) {
		d.must("pull", "--platform", "linux/"+other, ociRef)
		assert.Check(t, is.Equal(d.imageField(t, ociRef, "{{.Architecture}}"), other))
		assert.Check(t, is.Equal(d.imageField(t, ociRef, "{{.Os}}"), "linux"))
	})

	t.Run("index missing platform", func(t *testing.T) {
		before := d.must("images", "-a", "-q", "--no-trunc")
		stderr := d.fails(t, 1, "pull", "--platform", "linux/arm64", reg.host+"/team/multi:oci")
		assert.Check(t, is.Contains(stderr, "no matching manifest for linux/arm64 in the manifest list entries"))
		assert.Check(t, is.Equal(d.must("images", "-a", "-q", "--no-trunc"), before))
	})

	listRef := reg.host + "/team/multi:list"
	t.Run("docker manifest list", func(t *testing.T) {
		out := d.must("pull", listRef)
		assert.Check(t, is.Contains(out, "Digest: "+list.Digest.String()))
		assert.Check(t, is.Equal(d.imageField(t, listRef, "{{.Architecture}}"), native))
		assert.Check(t, is.Equal(d.must("run", "--rm", listRef), "list\n"))

		d.must("pull", "--platform", "linux/"+other, listRef)
		assert.Check(t, is.Equal(d.imageField(t, listRef, "{{.Architecture}}"), other))

		stderr := d.fails(t, 1, "pull", "--platform", "linux/arm64", listRef)
		assert.Check(t, is.Contains(stderr, "no matching manifest for linux/arm64 in the manifest list entries"))
	})

	t.Run("single platform mismatch", func(t *testing.T) {
		ref := reg.host + "/team/multi:single"
		stderr := d.fails(t, 1, "pull", "--platform", "linux/"+other, ref)
		assert.Check(t, is.Contains(stderr, "does not match the specified platform"))
		r, err := d.run("image", "inspect", ref)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, "a mismatched image is not tagged: %s", r)

		d.must("pull", "--platform", "linux/"+native, ref)
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "multi\n"))
	})
}

func TestPullLayerCompressions(t *testing.T) {
	reg := startRegistry(t, nil)
	c := newRegClient(reg.host)
	d := newDaemon(t)

	for _, kind := range []string{"gzip", "zstd", "tar"} {
		t.Run(kind, func(t *testing.T) {
			base := busyboxLayer(t, kind)
			top := compressed(t, tarOf(t, map[string]string{"etc/kind": kind + " layer\n"}), kind)
			c.push(t, "team/"+kind, "1", handImage{arch: runtime.GOARCH, cmd: []string{"cat", "/etc/kind"}, layers: []testLayer{base, top}})

			ref := reg.host + "/team/" + kind + ":1"
			out := d.must("pull", ref)
			assert.Check(t, is.Contains(out, "Pull complete"))
			assert.Check(t, is.Equal(d.must("run", "--rm", ref), kind+" layer\n"))
			layers := d.imageField(t, ref, "{{json .RootFS.Layers}}")
			assert.Check(t, is.Contains(layers, top.diffID.String()), "the diff ID is of the uncompressed tar")

			// The image goes back to a registry with its blobs as they are.
			again := reg.host + "/copy/" + kind + ":1"
			d.must("tag", ref, again)
			d.must("push", again)
			assert.Check(t, is.DeepEqual(registryBlobs(t, reg, "copy/"+kind, "1"),
				[]string{digest.FromBytes(base.blob).String(), digest.FromBytes(top.blob).String()}))
		})
	}
}

func TestPullBadManifests(t *testing.T) {
	reg := startRegistry(t, nil)
	proxy := startHookProxy(t, reg.host)
	c := newRegClient(reg.host)
	d := newDaemon(t)

	base := busyboxLayer(t, "gzip")
	top := compressed(t, tarOf(t, map[string]string{"ok.txt": "fine\n"}), "gzip")
	good := c.push(t, "team/app", "1", handImage{arch: runtime.GOARCH, cmd: []string{"cat", "/ok.txt"}, layers: []testLayer{base, top}})
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+reg.host+"/v2/team/app/manifests/"+good.Digest.String(), nil)
	assert.NilError(t, err)
	req.Header.Set("Accept", mtOCIManifest)
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&manifest))
	resp.Body.Close()

	assertNothingStored := func(t *testing.T) {
		t.Helper()
		assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""), "nothing is stored")
		entries, err := os.ReadDir(filepath.Join(d.dataRoot, "content", "ingest"))
		assert.NilError(t, err)
		assert.Check(t, is.Len(entries, 0), "no partial blob is left")
	}

	t.Run("schema1 manifest", func(t *testing.T) {
		schema1 := `{"schemaVersion":1,"name":"team/app","tag":"old","architecture":"amd64",` +
			`"fsLayers":[{"blobSum":"` + manifest.Layers[0].Digest.String() + `"}],` +
			`"history":[{"v1Compatibility":"{\"id\":\"x\"}"}],"signatures":[]}`
		proxy.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/manifests/old") {
				return false
			}
			w.Header().Set("Content-Type", mtDockerSchema1)
			w.Header().Set("Content-Length", fmt.Sprint(len(schema1)))
			if r.Method == http.MethodGet {
				io.WriteString(w, schema1)
			}
			return true
		})
		defer proxy.setHook(nil)
		stderr := d.fails(t, 1, "pull", proxy.host+"/team/app:old")
		assert.Check(t, is.Contains(stderr, "schema 1"))
		assertNothingStored(t)
	})

	t.Run("config digest mismatch", func(t *testing.T) {
		proxy.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/blobs/"+manifest.Config.Digest.String()) {
				return false
			}
			other := fmt.Sprintf(`{"architecture":%q,"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`, runtime.GOARCH)
			other += strings.Repeat(" ", int(manifest.Config.Size)-len(other))
			w.Header().Set("Content-Length", fmt.Sprint(len(other)))
			if r.Method == http.MethodGet {
				io.WriteString(w, other)
			}
			return true
		})
		defer proxy.setHook(nil)
		stderr := d.fails(t, 1, "pull", proxy.host+"/team/app:1")
		assert.Check(t, is.Contains(stderr, manifest.Config.Digest.String()), "the error names the config")
		assertNothingStored(t)
	})

	t.Run("blob server error", func(t *testing.T) {
		target := manifest.Layers[1].Digest.String()
		proxy.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/blobs/"+target) {
				return false
			}
			http.Error(w, "storage backend down", http.StatusInternalServerError)
			return true
		})
		stderr := d.fails(t, 1, "pull", proxy.host+"/team/app:1")
		assert.Check(t, is.Contains(stderr, target), "the error names the blob")
		assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""))

		proxy.setHook(nil)
		out := d.must("pull", proxy.host+"/team/app:1")
		assert.Check(t, is.Contains(out, "Downloaded newer image"))
		assert.Check(t, is.Equal(d.must("run", "--rm", proxy.host+"/team/app:1"), "fine\n"))
	})
}

// randomFileLayer returns an uncompressed layer with one file of size
// random bytes, which no compression shrinks.
func randomFileLayer(t *testing.T, name string, size int) testLayer {
	t.Helper()
	data := make([]byte, size)
	_, err := rand.Read(data)
	assert.NilError(t, err)
	return compressed(t, tarOf(t, map[string]string{name: string(data)}), "tar")
}

// assertNoPullLeftovers checks that no temporary file of a pull or load is
// left in the data root.
func assertNoPullLeftovers(t *testing.T, d *daemon) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(d.dataRoot, "content", "ingest"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0), "content/ingest is empty")
	loads, err := filepath.Glob(filepath.Join(d.dataRoot, "images", "load-*"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(loads, 0), "no images/load-* directory")
}

func TestPullInterrupted(t *testing.T) {
	reg := startRegistry(t, nil)
	proxy := startHookProxy(t, reg.host)
	c := newRegClient(reg.host)
	d := newDaemon(t)

	// pushBig pushes an image with three uncompressed 4 MiB layers of
	// random data under team/big:tag and returns those layers.
	pushBig := func(tag string) []testLayer {
		layers := []testLayer{busyboxLayer(t, "gzip")}
		for i := range 3 {
			layers = append(layers, randomFileLayer(t, fmt.Sprintf("big%d", i), 4<<20))
		}
		layers = append(layers, compressed(t, tarOf(t, map[string]string{"id.txt": "big\n"}), "gzip"))
		c.push(t, "team/big", tag, handImage{arch: runtime.GOARCH, cmd: []string{"cat", "/id.txt"}, layers: layers})
		return layers
	}
	pushBig("1")
	sigintLayers := pushBig("2")

	// startPull starts a pull of ref through the throttled proxy and
	// returns once 1 MiB of blobs went through.
	startPull := func(t *testing.T, ref string) *exec.Cmd {
		t.Helper()
		proxy.rate.Store(1 << 20)
		proxy.blobBytes.Store(0)
		cmd := exec.Command(berthBinary, "pull", ref)
		cmd.Env = append(os.Environ(), "BERTH_HOST=unix://"+d.socket, "DOCKER_HOST=")
		assert.NilError(t, cmd.Start())
		waitFor(t, "1 MiB of blobs downloaded", time.Minute, func() bool { return proxy.blobBytes.Load() > 1<<20 })
		return cmd
	}

	t.Run("daemon killed", func(t *testing.T) {
		ref := proxy.host + "/team/big:1"
		cmd := startPull(t, ref)
		d.kill()
		_ = cmd.Wait()
		d.start()

		assertNoPullLeftovers(t, d)
		assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""), "no half image")

		proxy.rate.Store(0)
		d.must("pull", ref)
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "big\n"))
	})

	t.Run("client interrupted", func(t *testing.T) {
		ref := proxy.host + "/team/big:2"
		cmd := startPull(t, ref)
		assert.NilError(t, cmd.Process.Signal(syscall.SIGINT))
		_ = cmd.Wait()

		// A pull that goes on after the client left finishes its blobs
		// and leaves content/ingest empty only after that.
		waitFor(t, "the daemon to drop the pull", time.Minute, func() bool {
			entries, err := os.ReadDir(filepath.Join(d.dataRoot, "content", "ingest"))
			return err == nil && len(entries) == 0
		})
		for i, l := range sigintLayers[1:4] {
			_, err := os.Stat(filepath.Join(d.dataRoot, "content", "blobs", "sha256", digest.FromBytes(l.blob).Encoded()))
			assert.Check(t, os.IsNotExist(err), "the daemon stopped fetching big layer %d", i)
		}
		assert.Check(t, is.Len(strings.Fields(d.must("images", "-a", "-q")), 1), "no half image next to big:1")
		assertNoPullLeftovers(t, d)

		proxy.rate.Store(0)
		d.must("pull", ref)
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "big\n"))
	})
}

func TestRegistryConcurrency(t *testing.T) {
	reg := startRegistry(t, nil)
	d := newDaemon(t)
	d.importBusybox()
	refA := reg.host + "/team/a:1"
	refB := reg.host + "/team/b:1"
	idA := d.buildLayered(t, refA, "image a")
	d.buildLayered(t, refB, "image b")
	d.must("push", refA)
	d.must("push", refB)

	parallel := func(cmds ...[]string) []result {
		results := make([]result, len(cmds))
		var wg sync.WaitGroup
		for i, args := range cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := d.run(args...)
				if err != nil {
					r.code, r.stderr = -1, err.Error()
				}
				results[i] = r
			}()
		}
		wg.Wait()
		return results
	}
	// assertImagesRun runs every image that images -a lists.
	assertImagesRun := func(t *testing.T) {
		t.Helper()
		for _, id := range strings.Fields(d.must("images", "-a", "-q")) {
			r, err := d.run("run", "--rm", id, "true")
			assert.NilError(t, err)
			assert.Check(t, is.Equal(r.code, 0), "run image %s: %s", id, r)
		}
	}

	t.Run("same image twice", func(t *testing.T) {
		d.must("rmi", refA, refB, "busybox")
		for _, r := range parallel([]string{"pull", refA}, []string{"pull", refA}) {
			assert.Check(t, is.Equal(r.code, 0), "%s", r)
		}
		assert.Check(t, is.Equal(d.imageField(t, refA, "{{.Id}}"), idA))
		assert.Check(t, is.Equal(d.must("run", "--rm", refA), "image a\nbuilt\n"))
		assertImagesRun(t)
	})

	t.Run("pull during rmi", func(t *testing.T) {
		// B shares the busybox layer with A. Removing B removes that
		// layer unless the pull of A holds on to it.
		for range 4 {
			d.must("pull", refB)
			d.must("rmi", refA)
			results := parallel([]string{"pull", refA}, []string{"rmi", refB})
			for _, r := range results {
				assert.Check(t, is.Equal(r.code, 0), "%s", r)
			}
			assert.Check(t, is.Equal(d.must("run", "--rm", refA), "image a\nbuilt\n"))
			assertImagesRun(t)
		}
	})

	t.Run("push two tags", func(t *testing.T) {
		tag1, tag2 := reg.host+"/team/c:1", reg.host+"/team/c:2"
		d.must("tag", refA, tag1)
		d.must("tag", refA, tag2)
		for _, r := range parallel([]string{"push", tag1}, []string{"push", tag2}) {
			assert.Check(t, is.Equal(r.code, 0), "%s", r)
		}
		assert.Check(t, is.DeepEqual(registryBlobs(t, reg, "team/c", "1"), registryBlobs(t, reg, "team/a", "1")))
		assert.Check(t, is.DeepEqual(registryBlobs(t, reg, "team/c", "2"), registryBlobs(t, reg, "team/a", "1")))
		d.must("rmi", tag1, tag2)
		d.must("pull", tag2)
		assertImagesRun(t)
	})
}

// restartWith restarts the daemon with extra flags.
func (d *daemon) restartWith(t *testing.T, args ...string) {
	t.Helper()
	d.stop()
	d.extraArgs = args
	d.start()
}

// testCA is a self-signed CA with one server certificate for an IP address.
type testCA struct {
	caPEM, certPEM, keyPEM []byte
	pool                   *x509.CertPool
}

func newTestCA(t *testing.T, ip net.IP) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	assert.NilError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	assert.NilError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assert.NilError(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: ip.String()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	assert.NilError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	assert.NilError(t, err)

	ca := &testCA{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pool:    x509.NewCertPool(),
	}
	ca.pool.AddCert(caCert)
	return ca
}

func TestPullTLSRegistry(t *testing.T) {
	d := newDaemon(t)
	certsDir := t.TempDir()
	d.restartWith(t, "--registry-certs-dir", certsDir)

	// The bridge gateway is a local address that is not loopback, so
	// berth must reach a registry there over verified TLS.
	gateway := d.bip.Addr()
	l, err := net.Listen("tcp", net.JoinHostPort(gateway.String(), "0"))
	assert.NilError(t, err)
	host := l.Addr().String()
	l.Close()
	ca := newTestCA(t, net.IP(gateway.AsSlice()))
	runRegistry(t, registryOptions{host: host, certPEM: ca.certPEM, keyPEM: ca.keyPEM})

	c := &regClient{base: "https://" + host, client: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12},
	}}}
	c.push(t, "team/tls", "1", handImage{arch: runtime.GOARCH, cmd: []string{"cat", "/id.txt"}, layers: []testLayer{
		busyboxLayer(t, "gzip"),
		compressed(t, tarOf(t, map[string]string{"id.txt": "over tls\n"}), "gzip"),
	}})
	ref := host + "/team/tls:1"

	t.Run("unknown CA", func(t *testing.T) {
		stderr := d.fails(t, 1, "pull", ref)
		assert.Check(t, is.Contains(stderr, "x509: certificate signed by unknown authority"))
		assert.Check(t, is.Equal(d.must("images", "-a", "-q"), ""))
	})

	t.Run("CA in certs dir", func(t *testing.T) {
		assert.NilError(t, os.MkdirAll(filepath.Join(certsDir, host), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(certsDir, host, "ca.crt"), ca.caPEM, 0o644))
		d.must("pull", ref)
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "over tls\n"))

		d.must("tag", ref, host+"/team/copy:1")
		d.must("push", host+"/team/copy:1")
		d.must("rmi", ref, host+"/team/copy:1")
	})

	t.Run("insecure registry", func(t *testing.T) {
		assert.NilError(t, os.RemoveAll(filepath.Join(certsDir, host)))
		d.restartWith(t, "--registry-certs-dir", certsDir, "--insecure-registry", host)
		d.must("pull", ref)
		assert.Check(t, is.Equal(d.must("run", "--rm", ref), "over tls\n"))
	})
}

// writeTar writes entries to a tar file at path. An entry with a Linkname
// and no body is a symlink, or a hard link when its Typeflag is TypeLink.
func writeTar(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	assert.NilError(t, err)
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Size = e.typeflag, e.link, 0
			if hdr.Typeflag == 0 {
				hdr.Typeflag = tar.TypeSymlink
			}
		}
		assert.NilError(t, tw.WriteHeader(hdr))
		_, err := tw.Write(e.body)
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
}

type tarEntry struct {
	name     string
	body     []byte
	link     string
	typeflag byte
}

// dockerArchive returns the entries of a docker save archive of one image
// with the given layer tars, tagged tag.
func dockerArchive(t *testing.T, tag string, layers [][]byte, diffIDs []digest.Digest, extra ...tarEntry) []tarEntry {
	t.Helper()
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"sh"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	assert.NilError(t, err)
	var names []string
	entries := []tarEntry{{name: "config.json", body: config}}
	for i, l := range layers {
		name := fmt.Sprintf("layer%d.tar", i)
		names = append(names, name)
		entries = append(entries, tarEntry{name: name, body: l})
	}
	manifest, err := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{tag}, "Layers": names}})
	assert.NilError(t, err)
	return append(append(entries, extra...), tarEntry{name: "manifest.json", body: manifest})
}

func TestLoadHostileArchives(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	dir := t.TempDir()
	busybox, err := os.ReadFile(busyboxTar)
	assert.NilError(t, err)
	base := digest.FromBytes(busybox)

	t.Run("docker save loads back", func(t *testing.T) {
		d.must("tag", "busybox", "saved:1")
		archive := filepath.Join(dir, "saved.tar")
		_, errOut, err := d.docker("save", "-o", archive, "saved:1")
		assert.NilError(t, err, errOut)
		d.must("rmi", "saved:1")
		assert.Check(t, is.Equal(d.must("load", "-i", archive), "Loaded image: saved:1\n"))
		assert.Check(t, is.Equal(d.must("run", "--rm", "saved:1", "echo", "ok"), "ok\n"))
	})

	before := d.must("images", "-a", "-q", "--no-trunc")

	t.Run("diff ID mismatch", func(t *testing.T) {
		top := tarOf(t, map[string]string{"x": "real\n"})
		archive := filepath.Join(dir, "mismatch.tar")
		writeTar(t, archive, dockerArchive(t, "mismatch:1", [][]byte{busybox, top},
			[]digest.Digest{base, digest.FromString("something else")}))
		stderr := d.fails(t, 1, "load", "-i", archive)
		assert.Check(t, is.Contains(stderr, "diff ID"))
		assert.Check(t, is.Equal(d.must("images", "-a", "-q", "--no-trunc"), before))
		assertNoPullLeftovers(t, d)
	})

	outside := t.TempDir()
	t.Run("archive entry names", func(t *testing.T) {
		rel, err := filepath.Rel(filepath.Join(d.dataRoot, "images", "load-x"), filepath.Join(outside, "rel"))
		assert.NilError(t, err)
		archive := filepath.Join(dir, "names.tar")
		writeTar(t, archive, dockerArchive(t, "names:1", [][]byte{busybox}, []digest.Digest{base},
			tarEntry{name: "../../etc/x", body: []byte("escaped\n")},
			tarEntry{name: rel, body: []byte("escaped\n")},
			tarEntry{name: filepath.Join(outside, "abs"), body: []byte("escaped\n")},
			tarEntry{name: "link", link: outside},
			tarEntry{name: "link/through", body: []byte("escaped\n")},
		))
		r, err := d.run("load", "-i", archive)
		assert.NilError(t, err)
		t.Logf("load: %s", r)
		for _, name := range []string{"rel", "abs", "through"} {
			_, err := os.Stat(filepath.Join(outside, name))
			assert.Check(t, os.IsNotExist(err), "%s written outside the load directory", name)
		}
		_, err = os.Stat(filepath.Join(d.dataRoot, "etc", "x"))
		assert.Check(t, os.IsNotExist(err))
		assertNoPullLeftovers(t, d)
	})

	t.Run("manifest names outside", func(t *testing.T) {
		before := d.must("images", "-a", "-q", "--no-trunc")
		// A layer that no image has, so a load must read it.
		secretLayer := tarOf(t, map[string]string{"secret": "host file\n"})
		secret := filepath.Join(outside, "secret.tar")
		assert.NilError(t, os.WriteFile(secret, secretLayer, 0o600))
		for name, layerEntry := range map[string]tarEntry{
			"traversal": {name: "layer.tar", link: "../../../../../../../../" + strings.TrimPrefix(secret, "/")},
			"absolute":  {name: "layer.tar", link: secret},
			"hard link": {name: "layer.tar", link: secret, typeflag: tar.TypeLink},
		} {
			t.Run(name, func(t *testing.T) {
				config, err := json.Marshal(map[string]any{"architecture": runtime.GOARCH, "os": "linux",
					"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.FromBytes(secretLayer)}}})
				assert.NilError(t, err)
				manifest := `[{"Config":"config.json","RepoTags":["sneaky:1"],"Layers":["layer.tar"]}]`
				archive := filepath.Join(dir, "sneaky.tar")
				writeTar(t, archive, []tarEntry{{name: "config.json", body: config}, layerEntry, {name: "manifest.json", body: []byte(manifest)}})
				stderr := d.fails(t, 1, "load", "-i", archive)
				assert.Check(t, is.Contains(stderr, "missing from the archive"), "a link out of the archive is not followed")
				assert.Check(t, is.Equal(d.must("images", "-a", "-q", "--no-trunc"), before))
			})
		}
	})

	t.Run("layer symlink escape", func(t *testing.T) {
		// The layer makes a symlink to a host directory, then a file
		// through it, and a hard link to a host file.
		hostFile := filepath.Join(outside, "host-secret")
		assert.NilError(t, os.WriteFile(hostFile, []byte("host secret\n"), 0o600))
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777}))
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "escape/pwned", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4}))
		_, err := tw.Write([]byte("pwn\n"))
		assert.NilError(t, err)
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../../../../.." + hostFile}))
		assert.NilError(t, tw.Close())
		layer := buf.Bytes()

		archive := filepath.Join(dir, "escape.tar")
		writeTar(t, archive, dockerArchive(t, "escape:1", [][]byte{busybox, layer}, []digest.Digest{base, digest.FromBytes(layer)}))
		r, err := d.run("load", "-i", archive)
		assert.NilError(t, err)
		t.Logf("load: %s", r)
		_, err = os.Stat(filepath.Join(outside, "pwned"))
		assert.Check(t, os.IsNotExist(err), "a file was written through a layer symlink")
		data, err := os.ReadFile(hostFile)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(data), "host secret\n"))
		if r.code == 0 {
			out, _ := d.run("run", "--rm", "escape:1", "cat", "/hard")
			assert.Check(t, !strings.Contains(out.stdout, "host secret"), "a layer hard link reads a host file")
		}
		assertNoPullLeftovers(t, d)
	})
}

func TestRegistryBadInput(t *testing.T) {
	reg := startRegistry(t, nil)
	d := newDaemon(t)
	d.importBusybox()
	validDigest := digest.FromString("x").String()

	t.Run("invalid references", func(t *testing.T) {
		for _, ref := range []string{"Busybox:latest", reg.host + "/Team/app:1", "busybox@sha256:xyz", "busy box"} {
			stderr := d.fails(t, 1, "pull", ref)
			assert.Check(t, is.Contains(stderr, "invalid reference format"), ref)
		}
		stderr := d.fails(t, 1, "pull", "Busybox")
		assert.Check(t, is.Contains(stderr, "must be lowercase"))
	})

	t.Run("tag and digest", func(t *testing.T) {
		// Docker pulls name:tag@digest by its digest.
		ref := reg.host + "/team/app:1"
		d.must("tag", "busybox", ref)
		d.must("push", ref)
		manifest := strings.TrimPrefix(d.imageField(t, ref, "{{index .RepoDigests 0}}"), reg.host+"/team/app@")
		d.must("rmi", ref)
		out := d.must("pull", ref+"@"+manifest)
		assert.Check(t, is.Contains(out, "Digest: "+manifest))

		stderr := d.fails(t, 1, "pull", ref+"@"+validDigest)
		assert.Check(t, is.Contains(stderr, "not found"))
	})

	t.Run("push digest reference", func(t *testing.T) {
		stderr := d.fails(t, 1, "push", reg.host+"/team/app@"+validDigest)
		assert.Check(t, is.Contains(stderr, "cannot push a digest reference"))
		_, errOut, err := d.docker("push", reg.host+"/team/app@"+validDigest)
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "cannot push a digest reference"))
	})

	t.Run("push missing image", func(t *testing.T) {
		stderr := d.fails(t, 1, "push", reg.host+"/team/nope:1")
		assert.Check(t, is.Contains(stderr, "An image does not exist locally with the tag: "+reg.host+"/team/nope"))
		_, errOut, err := d.docker("push", reg.host+"/team/nope:1")
		assert.Check(t, err != nil)
		assert.Check(t, is.Contains(errOut, "An image does not exist locally with the tag: "+reg.host+"/team/nope"))
	})

	configDir := t.TempDir()
	t.Run("login to stopped registry", func(t *testing.T) {
		host := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		r, err := d.runInput("pw\n", "--config", configDir, "login", "-u", "bob", "--password-stdin", host)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 1), "%s", r)
		assert.Check(t, is.Contains(r.stderr, host))
		assert.Check(t, is.Contains(r.stderr, "connection refused"))
		_, statErr := os.Stat(filepath.Join(configDir, "config.json"))
		assert.Check(t, os.IsNotExist(statErr), "a failed login stores nothing")
	})

	t.Run("logout when logged out", func(t *testing.T) {
		r, err := d.run("--config", configDir, "logout", reg.host)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 0), "%s", r)
		assert.Check(t, is.Equal(r.stdout, "Not logged in to "+reg.host+"\n"))
	})
}
