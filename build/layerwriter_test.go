package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// baseTree returns the file system of the fake base image.
func baseTree(t *testing.T) *imageTree {
	t.Helper()
	data := makeTar(t, baseEntries())
	tree, err := newImageTree(context.Background(), []layerRef{{
		Digest: digest.FromBytes(data),
		Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
	}})
	assert.NilError(t, err)
	return tree
}

// copyLayer runs writeCopy for req against the base image and returns the
// layer's entries.
func copyLayer(t *testing.T, ctxEntries []tarEntry, req copyRequest, workdir string, o *owner) ([]tarEntry, error) {
	t.Helper()
	ctxTree, err := readTestContext(t, ctxEntries)
	assert.NilError(t, err)
	sources, err := resolveSources(ctxTree, req, false)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	w := newLayerWriter(&buf, baseTree(t).fsTree, time.Unix(1, 0))
	if err := writeCopy(w, req, workdir, sources, o); err != nil {
		return nil, err
	}
	assert.NilError(t, w.close())
	return readTar(buf.Bytes())
}

func TestWriteCopy(t *testing.T) {
	ctxEntries := []tarEntry{
		{name: "run.sh", typ: tar.TypeReg, mode: 0o750, uid: 501, gid: 20, body: "#!"},
		file("a.txt", "a"),
		file("b.txt", "b"),
		dir("conf/", 0o700),
		file("conf/app.ini", "ini"),
		symlink("conf/current", "app.ini"),
		symlink("alias", "run.sh"),
	}
	type want struct {
		Name string
		Mode int64
		UID  int
	}
	tests := []struct {
		name    string
		sources []string
		dest    string
		workdir string
		owner   *owner
		want    []want
	}{
		{
			name: "file to new path", sources: []string{"run.sh"}, dest: "/usr/local/bin/start",
			want: []want{{"usr/", 0o755, 0}, {"usr/local/", 0o755, 0}, {"usr/local/bin/", 0o755, 0}, {"usr/local/bin/start", 0o750, 0}},
		},
		{
			name: "file into directory by trailing slash", sources: []string{"run.sh"}, dest: "/opt/",
			want: []want{{"opt/", 0o755, 0}, {"opt/run.sh", 0o750, 0}},
		},
		{
			name: "file into existing directory", sources: []string{"a.txt"}, dest: "/tmp",
			want: []want{{"tmp/", 0o1777, 0}, {"tmp/a.txt", 0o644, 0}},
		},
		{
			name: "relative to workdir", sources: []string{"a.txt"}, dest: "data/", workdir: "/srv",
			want: []want{{"srv/", 0o755, 0}, {"srv/data/", 0o755, 0}, {"srv/data/a.txt", 0o644, 0}},
		},
		{
			name: "through symlinked parent", sources: []string{"a.txt"}, dest: "/lib/a.txt",
			want: []want{{"usr/", 0o755, 0}, {"usr/lib/", 0o755, 0}, {"usr/lib/a.txt", 0o644, 0}},
		},
		{
			name: "directory copies its contents", sources: []string{"conf"}, dest: "/etc/app",
			want: []want{
				{"etc/", 0o755, 0}, {"etc/app/", 0o755, 0}, {"etc/app/app.ini", 0o644, 0}, {"etc/app/current", 0o777, 0},
			},
		},
		{
			name: "wildcard", sources: []string{"*.txt"}, dest: "/w/",
			want: []want{{"w/", 0o755, 0}, {"w/a.txt", 0o644, 0}, {"w/b.txt", 0o644, 0}},
		},
		{
			name: "symlink source is followed", sources: []string{"alias"}, dest: "/x/",
			want: []want{{"x/", 0o755, 0}, {"x/alias", 0o750, 0}},
		},
		{
			name: "chown", sources: []string{"conf"}, dest: "/new/conf", owner: &owner{UID: 7, GID: 8},
			want: []want{{"new/", 0o755, 0}, {"new/conf/", 0o755, 7}, {"new/conf/app.ini", 0o644, 7}, {"new/conf/current", 0o777, 7}},
		},
		{
			name: "keep owners", sources: []string{"run.sh"}, dest: "/k/",
			want: []want{{"k/", 0o755, 0}, {"k/run.sh", 0o750, 501}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.owner
			if o == nil && tc.name != "keep owners" {
				o = &owner{}
			}
			entries, err := copyLayer(t, ctxEntries, copyRequest{command: "COPY", sources: tc.sources, dest: tc.dest}, tc.workdir, o)
			assert.NilError(t, err)
			var got []want
			for _, e := range entries {
				got = append(got, want{e.name, e.mode, e.uid})
			}
			assert.Check(t, is.DeepEqual(got, tc.want))
		})
	}
}

func TestWriteCopyContent(t *testing.T) {
	entries, err := copyLayer(t, []tarEntry{file("a.txt", "hello")},
		copyRequest{command: "COPY", sources: []string{"a.txt"}, dest: "/a"}, "/", &owner{})
	assert.NilError(t, err)
	a := findEntry(t, entries, "a")
	assert.Check(t, is.Equal(a.body, "hello"))
	assert.Check(t, is.Equal(a.typ, byte(tar.TypeReg)))
}

func TestWriteCopyOntoFile(t *testing.T) {
	_, err := copyLayer(t, []tarEntry{file("a.txt", "a")},
		copyRequest{command: "COPY", sources: []string{"a.txt"}, dest: "/etc/passwd/x"}, "/", &owner{})
	assert.ErrorContains(t, err, "a file that is not a directory exists there")
}

func TestExtractArchiveRejectsEscape(t *testing.T) {
	archive := makeTar(t, []tarEntry{file("../../evil", "x")})
	_, err := copyLayer(t, []tarEntry{file("evil.tar", string(archive))},
		copyRequest{command: "ADD", sources: []string{"evil.tar"}, dest: "/x/", unpack: true}, "/", &owner{})
	assert.ErrorContains(t, err, `entry "../../evil" leads outside the destination`)
}

func TestImageTreeWhiteouts(t *testing.T) {
	lower := makeTar(t, []tarEntry{
		dir("a/", 0o755), file("a/old", "o"), file("a/keep", "k"), dir("b/", 0o755), file("b/x", "x"),
	})
	upper := makeTar(t, []tarEntry{
		file("a/.wh.old", ""), file("b/.wh..wh..opq", ""), file("b/new", "n"),
	})
	var layers []layerRef
	for _, data := range [][]byte{lower, upper} {
		layers = append(layers, layerRef{
			Digest: digest.FromBytes(data),
			Open:   func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		})
	}
	tree, err := newImageTree(context.Background(), layers)
	assert.NilError(t, err)

	assert.Check(t, tree.lookup("a/old") == nil)
	assert.Check(t, tree.lookup("a/keep") != nil)
	assert.Check(t, tree.lookup("b/x") == nil, "the opaque marker hides lower content")
	newFile := tree.lookup("b/new")
	assert.Assert(t, newFile != nil)
	assert.Check(t, is.Equal(newFile.layer, 1))

	blobs := &blobStore{dir: t.TempDir()}
	assert.NilError(t, tree.load(context.Background(), blobs, []*fsNode{newFile, tree.lookup("a/keep")}))
	assert.Check(t, newFile.sum != "")
	assert.Check(t, tree.lookup("a/keep").sum != "")
}
