package integration

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestBuildRunFeatures checks the RUN features that need the engine: a
// here-document script mounted at /dev/pipes, --network, --add-host, ADD
// of a URL and builder prune.
func TestBuildRunFeatures(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	t.Run("heredoc script", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\n" +
			"RUN <<EOF\n#!/bin/sh\necho from script > /script.txt\nEOF\n" +
			"RUN <<EOF cat > /doc.txt\nplain $HOSTNAME_UNSET doc\nEOF\n" +
			"COPY <<EOF /copied.txt\ncopied\nEOF\n" +
			"RUN ls /dev/pipes > /pipes.txt 2>&1 || echo none > /pipes.txt\n"})
		d.must("build", "-t", "heredoc:1", dir)
		out := d.must("run", "--rm", "heredoc:1", "cat", "/script.txt", "/doc.txt", "/copied.txt", "/pipes.txt")
		assert.Check(t, is.Equal(out, "from script\nplain  doc\ncopied\nnone\n"))
	})

	t.Run("network none", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN ip -o link | grep -c ': ' > /links\n"})
		d.must("build", "--network", "none", "-t", "nonet:1", dir)
		out := d.must("run", "--rm", "nonet:1", "cat", "/links")
		assert.Check(t, is.Equal(strings.TrimSpace(out), "1"), "only the loopback link is expected")
	})

	t.Run("add host", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN grep myhost /etc/hosts > /found\n"})
		d.must("build", "--add-host", "myhost:10.1.2.3", "-t", "hosts:1", dir)
		out := d.must("run", "--rm", "hosts:1", "cat", "/found")
		assert.Check(t, is.Equal(out, "10.1.2.3\tmyhost\n"))
	})

	t.Run("add url", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		assert.NilError(t, err)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("downloaded\n"))
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()

		url := "http://" + ln.Addr().String() + "/files/got.txt"
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" +
			digest.FromString("downloaded\n").String() + " " + url + " /dl/\n"})
		d.must("build", "-t", "url:1", dir)
		out := d.must("run", "--rm", "url:1", "cat", "/dl/got.txt")
		assert.Check(t, is.Equal(out, "downloaded\n"))

		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nADD --checksum=" +
			digest.FromString("other").String() + " " + url + " /dl/\n"})
		r, err := d.run("build", dir)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0)
		assert.Check(t, is.Contains(r.stderr, url))
		assert.Check(t, is.Contains(r.stderr, digest.FromString("other").String()))
	})

	t.Run("failed run leaves no container", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo last words; exit 3\n"})
		r, err := d.run("build", dir)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0)
		assert.Check(t, is.Contains(r.stderr, "Dockerfile:2: The command '/bin/sh -c echo last words; exit 3' returned a non-zero code: 3"))
		assert.Check(t, is.Contains(r.stderr, "last words"))
		entries, err := os.ReadDir(filepath.Join(d.dataRoot, "containers"))
		assert.NilError(t, err)
		assert.Check(t, is.Len(entries, 0), "build containers left behind")
		snapshots, err := os.ReadDir(filepath.Join(d.dataRoot, "snapshots"))
		assert.NilError(t, err)
		assert.Check(t, is.Len(snapshots, 0), "build snapshots left behind")
		tmp, err := os.ReadDir(filepath.Join(d.dataRoot, "layers", "tmp"))
		if err == nil {
			assert.Check(t, is.Len(tmp, 0), "half-made layers left behind")
		}
	})

	t.Run("failed copy leaves no layer", func(t *testing.T) {
		layersBefore, err := os.ReadDir(filepath.Join(d.dataRoot, "layers"))
		assert.NilError(t, err)
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"Dockerfile": "FROM busybox\nCOPY a.txt b.txt /new/\nCOPY sub /bin/sh\n",
			"a.txt":      "a", "b.txt": "b", "sub/c.txt": "c",
		})
		r, err := d.run("build", dir)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0)
		assert.Check(t, is.Contains(r.stderr, "Dockerfile:3: COPY failed:"))
		layersAfter, err := os.ReadDir(filepath.Join(d.dataRoot, "layers"))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(len(layersAfter), len(layersBefore)+1),
			"only the first COPY may add a layer")
		tmp, err := os.ReadDir(filepath.Join(d.dataRoot, "layers", "tmp"))
		if err == nil {
			assert.Check(t, is.Len(tmp, 0), "half-made layers left behind")
		}
	})

	t.Run("builder prune", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo cached > /c\n"})
		d.must("build", dir)
		again := d.must("build", dir)
		assert.Check(t, is.Contains(again, "Using cache"))
		pruned := d.must("builder", "prune", "-f")
		assert.Check(t, is.Contains(pruned, "Deleted build cache objects:"))
		after := d.must("build", dir)
		assert.Check(t, !strings.Contains(after, "Using cache"), "a pruned cache served a step:\n%s", after)

		stdout, stderr, err := d.docker("builder", "prune", "-f")
		assert.NilError(t, err, stderr)
		assert.Check(t, is.Contains(stdout, "Total reclaimed space"))
		last := d.must("build", dir)
		assert.Check(t, !strings.Contains(last, "Using cache"), "docker builder prune left the cache:\n%s", last)
	})
}

// TestBuildPullsImages checks that a build pulls the FROM and COPY --from
// images missing from the store, with the client's stored credentials,
// and pulls present ones again with --pull.
func TestBuildPullsImages(t *testing.T) {
	reg := startRegistry(t, map[string]string{"alice": "s3cret"})
	d := newDaemon(t)
	d.importBusybox()
	configDir := t.TempDir()
	withConfig := func(args ...string) []string { return append([]string{"--config", configDir}, args...) }
	_, err := d.runInput("s3cret\n", withConfig("login", "-u", "alice", "--password-stdin", reg.host)...)
	assert.NilError(t, err)

	ref := reg.host + "/alice/base:1"
	d.buildLayered(t, ref, "from the registry")
	d.must(withConfig("push", ref)...)
	d.must("rmi", ref)

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\n" +
		"COPY --from=" + ref + " /data.txt /copied.txt\n"})

	r, err := d.run("build", "-t", "pulled:1", dir)
	assert.NilError(t, err)
	assert.Check(t, r.code != 0, "a build without credentials must not pull a private image")

	out := d.must(withConfig("build", "-t", "pulled:1", dir)...)
	assert.Check(t, is.Contains(out, "Status: Downloaded newer image for "+ref))
	got := d.must("run", "--rm", "pulled:1", "cat", "/copied.txt")
	assert.Check(t, is.Equal(got, "from the registry\nbuilt\n"))

	again := d.must(withConfig("build", "--pull", "-t", "pulled:1", dir)...)
	assert.Check(t, is.Contains(again, "Status: Image is up to date for "+ref))

	t.Run("docker CLI", func(t *testing.T) {
		d.must("rmi", "pulled:1", ref)
		out, errOut, err := d.docker("--config", configDir, "build", "-t", "pulled:2", dir)
		assert.NilError(t, err, errOut)
		assert.Check(t, is.Contains(out, "Downloaded newer image for "+ref))
	})
}
