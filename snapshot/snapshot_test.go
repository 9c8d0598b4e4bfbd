package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
)

// tarEntry is one entry of a test archive. Directories end in "/".
type tarEntry struct {
	name     string
	body     string
	symlink  string
	hardlink string
	mode     int64
}

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func buildTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, ModTime: testTime, Format: tar.FormatPAX}
		switch {
		case e.name[len(e.name)-1] == '/':
			hdr.Typeflag = tar.TypeDir
		case e.symlink != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.symlink
		case e.hardlink != "":
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = e.hardlink
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		assert.NilError(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(e.body))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	testutil.Requires(t, testutil.Root, testutil.Overlay)

	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)
	t.Cleanup(func() { unmountAll(t, s) })
	return s, root
}

// unmountAll unmounts every snapshot, so that t.TempDir can delete the root.
func unmountAll(t *testing.T, s *Store) {
	for _, snap := range s.Snapshots() {
		if err := s.Remove(context.Background(), snap.Key); err != nil {
			t.Errorf("remove snapshot %s: %v", snap.Key, err)
		}
	}
}

func applyTar(t *testing.T, s *Store, parent digest.Digest, data []byte) Layer {
	t.Helper()
	layer, err := s.ApplyLayer(context.Background(), parent, bytes.NewReader(data))
	assert.NilError(t, err)
	return layer
}

func mountNew(t *testing.T, s *Store, key string, parent digest.Digest) string {
	t.Helper()
	ctx := context.Background()
	assert.NilError(t, s.Prepare(ctx, key, parent))
	merged, err := s.Mount(ctx, key)
	assert.NilError(t, err)
	return merged
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	return string(data)
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	_, err := os.Lstat(path)
	assert.Check(t, errors.Is(err, os.ErrNotExist), "%s exists (err %v)", path, err)
}

// tarNames returns the entry names of a tar stream in order.
func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		assert.NilError(t, err)
		names = append(names, hdr.Name)
	}
}

var baseEntries = []tarEntry{
	{name: "bin/"},
	{name: "bin/sh", body: "#!shell\n", mode: 0o755},
	{name: "bin/link", symlink: "sh"},
	{name: "bin/hard", hardlink: "bin/sh", mode: 0o755},
	{name: "etc/"},
	{name: "etc/hostname", body: "box\n"},
	{name: "a/"},
	{name: "a/file1", body: "one"},
	{name: "a/file2", body: "two"},
	{name: "c/"},
	{name: "c/old", body: "old"},
}

func TestApplyLayerMount(t *testing.T) {
	s, root := newTestStore(t)
	data := buildTar(t, baseEntries...)

	layer := applyTar(t, s, "", data)
	assert.Check(t, is.Equal(layer.DiffID, digest.FromBytes(data)))
	assert.Check(t, is.Equal(layer.ChainID, layer.DiffID))
	assert.Check(t, is.Equal(layer.Parent, digest.Digest("")))
	assert.Check(t, is.Equal(layer.Size, int64(len("#!shell\n")+len("sh")+len("box\n")+len("one")+len("two")+len("old"))))

	merged := mountNew(t, s, "c1", layer.ChainID)
	assert.Check(t, is.Equal(merged, filepath.Join(root, "snapshots", "c1", "merged")))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/hostname")), "box\n"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "bin/hard")), "#!shell\n"))

	fi, err := os.Stat(filepath.Join(merged, "bin/sh"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o755)))
	assert.Check(t, fi.ModTime().Equal(testTime))

	target, err := os.Readlink(filepath.Join(merged, "bin/link"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(target, "sh"))

	again, err := s.Mount(context.Background(), "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again, merged))

	assert.NilError(t, s.Unmount(context.Background(), "c1"))
	assert.NilError(t, s.Unmount(context.Background(), "c1"))
	assertMissing(t, filepath.Join(merged, "etc/hostname"))
}

func TestApplyLayerExisting(t *testing.T) {
	s, _ := newTestStore(t)
	data := buildTar(t, baseEntries...)

	first := applyTar(t, s, "", data)
	r := bytes.NewReader(data)
	second, err := s.ApplyLayer(context.Background(), "", r)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(first, second))
	assert.Check(t, is.Equal(r.Len(), 0), "stream not drained")
	assert.Check(t, is.Len(s.Layers(), 1))
}

func TestApplyLayerTrailingData(t *testing.T) {
	s, _ := newTestStore(t)
	data := append(buildTar(t, baseEntries...), make([]byte, 4096)...)

	layer := applyTar(t, s, "", data)
	assert.Check(t, is.Equal(layer.DiffID, digest.FromBytes(data)))
}

func TestWhiteoutAndOpaqueHideFiles(t *testing.T) {
	s, root := newTestStore(t)
	base := applyTar(t, s, "", buildTar(t, baseEntries...))

	top := applyTar(t, s, base.ChainID, buildTar(t,
		tarEntry{name: "a/"},
		tarEntry{name: "a/.wh.file1"},
		tarEntry{name: "c/"},
		tarEntry{name: "c/.wh..wh..opq"},
		tarEntry{name: "c/new", body: "new"},
	))
	assert.Check(t, is.Equal(top.Parent, base.ChainID))
	assert.Check(t, is.Equal(top.ChainID, ChainID(base.ChainID, top.DiffID)))

	diffDir := filepath.Join(root, "layers", top.ChainID.Encoded(), "diff")
	var st unix.Stat_t
	assert.NilError(t, unix.Lstat(filepath.Join(diffDir, "a/file1"), &st))
	assert.Check(t, is.Equal(st.Mode&unix.S_IFMT, uint32(unix.S_IFCHR)))
	assert.Check(t, is.Equal(st.Rdev, uint64(0)))
	assert.Check(t, isOpaque(filepath.Join(diffDir, "c")))
	assertMissing(t, filepath.Join(diffDir, "a/.wh.file1"))

	merged := mountNew(t, s, "c1", top.ChainID)
	assertMissing(t, filepath.Join(merged, "a/file1"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "a/file2")), "two"))
	assertMissing(t, filepath.Join(merged, "c/old"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "c/new")), "new"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/hostname")), "box\n"))
}

func TestDiffWritesWhiteouts(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	merged := mountNew(t, s, "c1", base.ChainID)

	assert.NilError(t, os.Remove(filepath.Join(merged, "a/file1")))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "etc/new"), []byte("x"), 0o644))
	assert.NilError(t, os.RemoveAll(filepath.Join(merged, "c")))
	assert.NilError(t, os.Mkdir(filepath.Join(merged, "c"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "c/fresh"), []byte("y"), 0o644))

	rc, err := s.Diff(ctx, "c1")
	assert.NilError(t, err)
	names := tarNames(t, rc)
	assert.NilError(t, rc.Close())

	assert.Check(t, is.Contains(names, "a/.wh.file1"))
	assert.Check(t, is.Contains(names, "etc/new"))
	assert.Check(t, is.Contains(names, "c/.wh..wh..opq"))
	assert.Check(t, is.Contains(names, "c/fresh"))
	assert.Check(t, !contains(names, "a/file1"), "whiteout written as device: %v", names)
	assert.Check(t, !contains(names, "a/file2"), "unchanged file in diff: %v", names)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCommitCreatesLayer(t *testing.T) {
	s, root := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	merged := mountNew(t, s, "c1", base.ChainID)

	assert.NilError(t, os.Remove(filepath.Join(merged, "a/file1")))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "etc/new"), []byte("new file"), 0o644))

	var diff bytes.Buffer
	layer, err := s.CommitTo(ctx, "c1", &diff)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(layer.DiffID, digest.FromBytes(diff.Bytes())))
	assert.Check(t, is.Equal(layer.Parent, base.ChainID))
	assert.Check(t, is.Equal(layer.ChainID, ChainID(base.ChainID, layer.DiffID)))
	assert.Check(t, is.Equal(layer.Size, int64(len("new file"))))

	names := tarNames(t, bytes.NewReader(diff.Bytes()))
	assert.Check(t, is.Contains(names, "a/.wh.file1"))
	assert.Check(t, is.Contains(names, "etc/new"))

	snap, err := s.Snapshot("c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(snap.Parent, layer.ChainID))

	// The snapshot shows the same files, now from the layer.
	merged, err = s.Mount(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/new")), "new file"))
	assertMissing(t, filepath.Join(merged, "a/file1"))
	upper, err := os.ReadDir(filepath.Join(root, "snapshots", "c1", "upper"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(upper, 0))

	// The committed layer regenerates the same tar, so its DiffID holds.
	rc, err := s.Diff(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(tarNames(t, rc), []string(nil)))
	assert.NilError(t, rc.Close())
	again := applyTar(t, s, base.ChainID, diff.Bytes())
	assert.Check(t, is.DeepEqual(again, layer))

	fresh := mountNew(t, s, "c2", layer.ChainID)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(fresh, "etc/new")), "new file"))
	assertMissing(t, filepath.Join(fresh, "a/file1"))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(fresh, "a/file2")), "two"))
}

func TestCommitDiffMatchesLayerTar(t *testing.T) {
	s, root := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	merged := mountNew(t, s, "c1", base.ChainID)
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "bin/sh"), []byte("changed"), 0o755))
	assert.NilError(t, os.Remove(filepath.Join(merged, "etc/hostname")))

	rc, err := s.Diff(ctx, "c1")
	assert.NilError(t, err)
	before, err := io.ReadAll(rc)
	assert.NilError(t, err)
	assert.NilError(t, rc.Close())

	layer, err := s.Commit(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(layer.DiffID, digest.FromBytes(before)))

	var after bytes.Buffer
	_, err = writeDiff(ctx, &after, filepath.Join(root, "layers", layer.ChainID.Encoded(), "diff"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(digest.FromBytes(after.Bytes()), layer.DiffID))
}

func TestScratchSnapshot(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	merged := mountNew(t, s, "scratch", "")

	entries, err := os.ReadDir(merged)
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0))
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "hello"), []byte("hi"), 0o644))

	layer, err := s.Commit(ctx, "scratch")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(layer.Parent, digest.Digest("")))
	assert.Check(t, is.Equal(layer.ChainID, layer.DiffID))

	merged, err = s.Mount(ctx, "scratch")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "hello")), "hi"))
}

func TestMountManyLayers(t *testing.T) {
	const layers = 40
	s, _ := newTestStore(t)

	var parent digest.Digest
	for i := range layers {
		layer := applyTar(t, s, parent, buildTar(t,
			tarEntry{name: fmt.Sprintf("f%02d", i), body: fmt.Sprint(i)},
			tarEntry{name: "top", body: fmt.Sprint(i)},
		))
		parent = layer.ChainID
	}

	merged := mountNew(t, s, "deep", parent)
	for i := range layers {
		assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, fmt.Sprintf("f%02d", i))), fmt.Sprint(i)))
	}
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "top")), fmt.Sprint(layers-1)))
}

func TestRemoveLayerConflicts(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	top := applyTar(t, s, base.ChainID, buildTar(t, tarEntry{name: "x", body: "x"}))
	assert.NilError(t, s.Prepare(ctx, "c1", top.ChainID))

	err := s.RemoveLayer(ctx, base.ChainID)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrConflict))
	err = s.RemoveLayer(ctx, top.ChainID)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrConflict))

	assert.NilError(t, s.Remove(ctx, "c1"))
	assert.NilError(t, s.Remove(ctx, "c1"))
	assert.NilError(t, s.RemoveLayer(ctx, top.ChainID))
	assert.NilError(t, s.RemoveLayer(ctx, base.ChainID))

	_, err = s.Layer(base.ChainID)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	err = s.RemoveLayer(ctx, base.ChainID)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	assert.Check(t, is.Len(s.Layers(), 0))
}

func TestPrepareErrors(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	assert.NilError(t, s.Prepare(ctx, "taken", ""))

	tests := []struct {
		name    string
		key     string
		parent  digest.Digest
		wantErr error
	}{
		{name: "existing key", key: "taken", wantErr: errdefs.ErrAlreadyExists},
		{name: "missing parent", key: "new", parent: digest.FromString("nope"), wantErr: errdefs.ErrNotFound},
		{name: "slash in key", key: "a/b", wantErr: errdefs.ErrInvalidArgument},
		{name: "colon in key", key: "a:b", wantErr: errdefs.ErrInvalidArgument},
		{name: "dot key", key: "..", wantErr: errdefs.ErrInvalidArgument},
		{name: "empty key", key: "", wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Prepare(ctx, tc.key, tc.parent)
			assert.Check(t, is.ErrorIs(err, tc.wantErr))
		})
	}

	_, err := s.Mount(ctx, "unknown")
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
}

func TestApplyLayerStaysInside(t *testing.T) {
	s, root := newTestStore(t)
	outside := t.TempDir()

	tests := []struct {
		name    string
		entries []tarEntry
	}{
		{name: "dotdot name", entries: []tarEntry{{name: "../../escape", body: "x"}}},
		{name: "absolute symlink parent", entries: []tarEntry{
			{name: "link", symlink: outside},
			{name: "link/escape", body: "x"},
		}},
		{name: "relative symlink parent", entries: []tarEntry{
			{name: "link", symlink: "../../../../../../../../../../" + outside},
			{name: "link/escape", body: "x"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Unpacking runs chrooted into the layer, so "../" and symlinks
			// resolve inside it: the entry fails or lands in the layer.
			layer, err := s.ApplyLayer(context.Background(), "", bytes.NewReader(buildTar(t, tc.entries...)))
			if err == nil {
				escaped := filepath.Join(root, "layers", layer.ChainID.Encoded(), "diff", "escape")
				assert.Check(t, is.Equal(readFile(t, escaped), "x"))
			}

			assertMissing(t, filepath.Join(outside, "escape"))
			assertMissing(t, filepath.Join(root, "escape"))
			assertMissing(t, filepath.Join(filepath.Dir(root), "escape"))
			tmp, err := os.ReadDir(filepath.Join(root, "layers", "tmp"))
			assert.NilError(t, err)
			assert.Check(t, is.Len(tmp, 0))
		})
	}
}

func TestApplyLayerMalformed(t *testing.T) {
	s, root := newTestStore(t)
	data := buildTar(t, baseEntries...)

	_, err := s.ApplyLayer(context.Background(), "", bytes.NewReader(data[:700]))
	assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument))
	assert.Check(t, is.Len(s.Layers(), 0))
	tmp, err := os.ReadDir(filepath.Join(root, "layers", "tmp"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(tmp, 0))
}

func TestNewRestoresState(t *testing.T) {
	s, root := newTestStore(t)
	ctx := context.Background()
	base := applyTar(t, s, "", buildTar(t, baseEntries...))
	assert.NilError(t, s.Prepare(ctx, "c1", base.ChainID))

	// Leftovers of a crash: a half-unpacked layer, a half-prepared
	// snapshot, and a lost link.
	half := filepath.Join(root, "layers", "tmp", "123", "diff")
	assert.NilError(t, os.MkdirAll(half, 0o755))
	halfSnapshot := filepath.Join(root, "snapshots", ".tmp-456")
	assert.NilError(t, os.MkdirAll(halfSnapshot, 0o755))
	links, err := filepath.Glob(filepath.Join(root, "layers", "l", "*"))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(links, 1))
	assert.NilError(t, os.Remove(links[0]))
	stale := filepath.Join(root, "layers", "l", "AAAAAAAAAAAA")
	assert.NilError(t, os.Symlink("../nothing/diff", stale))

	reopened, err := New(root)
	assert.NilError(t, err)
	t.Cleanup(func() { unmountAll(t, reopened) })

	layer, err := reopened.Layer(base.ChainID)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(layer, base))
	snap, err := reopened.Snapshot("c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(snap.Parent, base.ChainID))
	assertMissing(t, filepath.Join(root, "layers", "tmp", "123"))
	assertMissing(t, halfSnapshot)
	assertMissing(t, stale)

	merged, err := reopened.Mount(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/hostname")), "box\n"))
}

func TestSnapshotSize(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	merged := mountNew(t, s, "c1", "")
	assert.NilError(t, os.WriteFile(filepath.Join(merged, "f"), make([]byte, 1000), 0o644))
	assert.NilError(t, os.Link(filepath.Join(merged, "f"), filepath.Join(merged, "g")))

	size, err := s.Size(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(size, int64(1000)))
}

func TestChainID(t *testing.T) {
	a := digest.FromString("a")
	b := digest.FromString("b")

	assert.Check(t, is.Equal(ChainID("", a), a))
	assert.Check(t, is.Equal(ChainID(a, b), digest.FromString(a.String()+" "+b.String())))
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{key: "abc", want: true},
		{key: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", want: true},
		{key: "build-1.step_2", want: true},
		{key: ""},
		{key: ".tmp-1"},
		{key: "a/b"},
		{key: "a,b"},
		{key: "a:b"},
		{key: "a", want: true},
		{key: "-a"},
		{key: strings.Repeat("k", 255), want: true},
		{key: strings.Repeat("k", 256)},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			assert.Check(t, is.Equal(validKey(tc.key), tc.want))
		})
	}
}

func TestLayersSorted(t *testing.T) {
	s, _ := newTestStore(t)
	for i := range 3 {
		applyTar(t, s, "", buildTar(t, tarEntry{name: fmt.Sprint(i), body: "x"}))
	}
	layers := s.Layers()
	assert.Check(t, is.Len(layers, 3))
	assert.Check(t, sort.SliceIsSorted(layers, func(i, j int) bool { return layers[i].ChainID < layers[j].ChainID }))
}

func TestApplyLayerConcurrent(t *testing.T) {
	s, root := newTestStore(t)
	data := buildTar(t, baseEntries...)

	const workers = 4
	results := make(chan Layer, workers)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			layer, err := s.ApplyLayer(context.Background(), "", bytes.NewReader(data))
			results <- layer
			errs <- err
		}()
	}
	for range workers {
		assert.Check(t, is.Nil(<-errs))
		assert.Check(t, is.Equal((<-results).DiffID, digest.FromBytes(data)))
	}

	assert.Check(t, is.Len(s.Layers(), 1))
	links, err := os.ReadDir(filepath.Join(root, "layers", "l"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(links, 1))
}
