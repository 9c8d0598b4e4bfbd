package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func readTestContext(t *testing.T, entries []tarEntry) (*fsTree, error) {
	t.Helper()
	return readContext(context.Background(), bytes.NewReader(makeTar(t, entries)), &blobStore{dir: t.TempDir()})
}

func TestReadContextRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{
			name:    "parent directory",
			entries: []tarEntry{file("../evil", "x")},
			want:    `entry "../evil" leads outside the context`,
		},
		{
			name:    "nested parent directory",
			entries: []tarEntry{file("a/../../evil", "x")},
			want:    `entry "a/../../evil" leads outside the context`,
		},
		{
			name:    "absolute path",
			entries: []tarEntry{file("/etc/evil", "x")},
			want:    `entry "/etc/evil" is an absolute path`,
		},
		{
			name:    "through symlink",
			entries: []tarEntry{symlink("etc", "/etc"), file("etc/passwd", "x")},
			want:    "etc is not a directory",
		},
		{
			name:    "hard link outside",
			entries: []tarEntry{{name: "link", typ: tar.TypeLink, link: "../../etc/passwd"}},
			want:    `entry "../../etc/passwd" leads outside the context`,
		},
		{
			name:    "hard link to nothing",
			entries: []tarEntry{{name: "link", typ: tar.TypeLink, link: "missing"}},
			want:    "not an earlier regular file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readTestContext(t, tc.entries)
			assert.ErrorContains(t, err, tc.want)
			assert.Check(t, errdefs.IsInvalidArgument(err))
		})
	}
}

func TestReadContextEntries(t *testing.T) {
	tree, err := readTestContext(t, []tarEntry{
		dir("./", 0o755),
		file("./a/b.txt", "b"),
		{name: "a/hard", typ: tar.TypeLink, link: "a/b.txt"},
		symlink("a/link", "/a/b.txt"),
		{name: "run.sh", typ: tar.TypeReg, mode: 0o755, body: "#!"},
	})
	assert.NilError(t, err)

	b := tree.lookup("a/b.txt")
	assert.Assert(t, b != nil)
	data, err := b.content.readAll()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "b"))

	hard := tree.lookup("a/hard")
	assert.Assert(t, hard != nil)
	assert.Check(t, is.Equal(hard.hdr.Typeflag, byte(tar.TypeReg)))
	assert.Check(t, is.Equal(hard.sum, b.sum))

	assert.Check(t, tree.lookup("a").isDir(), "missing parents are created")
	assert.Check(t, is.Equal(tree.lookup("run.sh").hdr.Mode, int64(0o755)))

	resolved, err := tree.resolve("a/link", true, false)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(resolved, "a/b.txt"), "absolute link targets start at the context root")
}

func TestResolveLinks(t *testing.T) {
	tree, err := readTestContext(t, []tarEntry{
		dir("usr/lib/", 0o755),
		symlink("lib", "usr/lib"),
		symlink("abs", "/usr"),
		symlink("up", "../.."),
		symlink("loop", "loop"),
	})
	assert.NilError(t, err)

	tests := []struct {
		path       string
		followLast bool
		clamp      bool
		want       string
		wantErr    string
	}{
		{path: "lib/x.so", followLast: true, want: "usr/lib/x.so"},
		{path: "lib", followLast: false, want: "lib"},
		{path: "lib", followLast: true, want: "usr/lib"},
		{path: "abs/lib", followLast: true, want: "usr/lib"},
		{path: "up/etc", followLast: true, wantErr: "path leads outside the root"},
		{path: "up/etc", followLast: true, clamp: true, want: "etc"},
		{path: "../x", followLast: true, wantErr: "path leads outside the root"},
		{path: "/../x", followLast: true, clamp: true, want: "x"},
		{path: "loop", followLast: true, wantErr: "too many levels of symbolic links"},
		{path: "missing/lib", followLast: true, want: "missing/lib"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := tree.resolve(tc.path, tc.followLast, tc.clamp)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
}

func TestApplyIgnore(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{
			name:     "file pattern",
			patterns: []string{"*.log"},
			want:     []string{"a", "a/keep.txt", "a/x.log", "b", "b/c", "b/c/d.txt", "top.txt"},
		},
		{
			name:     "directory",
			patterns: []string{"b"},
			want:     []string{"a", "a/keep.txt", "a/x.log", "top.txt", "x.log"},
		},
		{
			name:     "exception inside excluded directory",
			patterns: []string{"b", "!b/c/d.txt"},
			want:     []string{"a", "a/keep.txt", "a/x.log", "b", "b/c", "b/c/d.txt", "top.txt", "x.log"},
		},
		{
			name:     "double star",
			patterns: []string{"**/*.txt", "!a/keep.txt"},
			want:     []string{"a", "a/keep.txt", "a/x.log", "b", "b/c", "x.log"},
		},
	}
	entries := []tarEntry{
		file("a/keep.txt", "k"), file("a/x.log", "l"), file("b/c/d.txt", "d"), file("top.txt", "t"), file("x.log", "x"),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := readTestContext(t, entries)
			assert.NilError(t, err)
			assert.NilError(t, applyIgnore(tree, tc.patterns))
			var names []string
			assert.NilError(t, tree.walk("", func(n *fsNode) error {
				if n.hdr.Name != "" {
					names = append(names, n.hdr.Name)
				}
				return nil
			}))
			assert.Check(t, is.DeepEqual(names, tc.want))
		})
	}
}

func TestBlobStoreMemoryAndFiles(t *testing.T) {
	dir := t.TempDir()
	blobs := &blobStore{dir: dir}

	small, sum, err := blobs.write(strings.NewReader("small"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(small.path, ""), "small content stays in memory")
	assert.Check(t, is.Equal(sum, digest.FromString("small").Encoded()))

	bigData := strings.Repeat("x", maxMemoryBlob+1)
	big, bigSum, err := blobs.write(strings.NewReader(bigData))
	assert.NilError(t, err)
	assert.Check(t, big.path != "", "large content goes to a file")
	assert.Check(t, is.Equal(bigSum, digest.FromString(bigData).Encoded()))
	data, err := big.readAll()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), bigData))
	size, err := big.size()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(size, int64(len(bigData))))

	blobs.inMemory = maxMemoryBlobs
	spilled, _, err := blobs.write(strings.NewReader("small"))
	assert.NilError(t, err)
	assert.Check(t, spilled.path != "", "content goes to files once the memory budget is used")
	reader, err := spilled.open()
	assert.NilError(t, err)
	defer reader.Close()
	got, err := io.ReadAll(reader)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got), "small"))
}
