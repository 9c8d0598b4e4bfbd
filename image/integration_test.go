package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/zstd"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
)

// tarEntry is one entry of a test archive. Directories end in "/".
type tarEntry struct {
	name    string
	body    string
	symlink string
	mode    int64
}

var entryTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func buildTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, ModTime: entryTime, Format: tar.FormatPAX}
		switch {
		case e.name[len(e.name)-1] == '/':
			hdr.Typeflag = tar.TypeDir
		case e.symlink != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.symlink
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

var rootfsEntries = []tarEntry{
	{name: "bin/"},
	{name: "bin/sh", body: "#!/bin/sh\n", mode: 0o755},
	{name: "etc/"},
	{name: "etc/os-release", body: "ID=test\n"},
	{name: "usr/"},
	{name: "usr/lib/"},
	{name: "usr/lib/libc.so", body: "libc"},
	{name: "lib", symlink: "usr/lib"},
}

func newRootStores(t *testing.T) testStores {
	t.Helper()
	testutil.Requires(t, testutil.Root, testutil.Overlay)
	st := newStores(t)
	t.Cleanup(func() {
		for _, snap := range st.snapshot.Snapshots() {
			if err := st.snapshot.Remove(context.Background(), snap.Key); err != nil {
				t.Errorf("remove snapshot %s: %v", snap.Key, err)
			}
		}
	})
	return st
}

func fixedConfig() dockerspec.DockerOCIImage {
	created := testCreated
	var cfg dockerspec.DockerOCIImage
	cfg.Created = &created
	cfg.Config.Cmd = []string{"/bin/sh"}
	return cfg
}

func importTar(t *testing.T, s *Store, data []byte) Image {
	t.Helper()
	img, err := s.Import(context.Background(), bytes.NewReader(data), fixedConfig())
	assert.NilError(t, err)
	return img
}

func mountImage(t *testing.T, st testStores, key string, img Image) string {
	t.Helper()
	ctx := context.Background()
	assert.NilError(t, st.snapshot.Prepare(ctx, key, img.ChainID()))
	merged, err := st.snapshot.Mount(ctx, key)
	assert.NilError(t, err)
	return merged
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	return string(data)
}

func compressWith(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case "none":
		return data
	case "gzip":
		gz := gzip.NewWriter(&buf)
		_, err := gz.Write(data)
		assert.NilError(t, err)
		assert.NilError(t, gz.Close())
	case "zstd":
		enc, err := zstd.NewWriter(&buf)
		assert.NilError(t, err)
		_, err = enc.Write(data)
		assert.NilError(t, err)
		assert.NilError(t, enc.Close())
	default: // bzip2, xz: only their command-line tools compress
		if _, err := exec.LookPath(kind); err != nil {
			t.Skipf("needs %s on PATH", kind)
		}
		cmd := exec.Command(kind, "-c")
		cmd.Stdin = bytes.NewReader(data)
		cmd.Stdout = &buf
		assert.NilError(t, cmd.Run())
	}
	return buf.Bytes()
}

// manifestOf returns the decoded manifest of img.
func manifestOf(t *testing.T, st testStores, img Image) ocispec.Manifest {
	t.Helper()
	var manifest ocispec.Manifest
	assert.NilError(t, json.Unmarshal(mustRead(t, st.content, img.Manifest), &manifest))
	return manifest
}

// assertLayerBlobs checks that each layer blob of img is gzip data whose
// uncompressed digest is the layer's DiffID.
func assertLayerBlobs(t *testing.T, st testStores, img Image) {
	t.Helper()
	manifest := manifestOf(t, st, img)
	assert.Check(t, is.Equal(manifest.Config.Digest, img.ID))
	assert.Assert(t, is.Len(manifest.Layers, len(img.Config.RootFS.DiffIDs)))

	for i, desc := range manifest.Layers {
		assert.Check(t, is.Equal(desc.MediaType, ocispec.MediaTypeImageLayerGzip))
		size, err := st.content.Size(desc.Digest)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(size, desc.Size))

		gz, err := gzip.NewReader(bytes.NewReader(mustRead(t, st.content, desc.Digest)))
		assert.NilError(t, err)
		data, err := io.ReadAll(gz)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(digest.FromBytes(data), img.Config.RootFS.DiffIDs[i]), "layer %d", i)
	}
}

func TestImportCompressedRootfs(t *testing.T) {
	data := buildTar(t, rootfsEntries...)

	for _, kind := range []string{"none", "gzip", "bzip2", "xz", "zstd"} {
		t.Run(kind, func(t *testing.T) {
			st := newRootStores(t)
			img := importTar(t, st.images, compressWith(t, kind, data))

			assert.Check(t, is.DeepEqual(img.Config.RootFS.DiffIDs, []digest.Digest{digest.FromBytes(data)}))
			assert.Check(t, is.Equal(img.ChainID(), digest.FromBytes(data)))
			assert.Check(t, is.Equal(img.Config.OS, "linux"))
			assert.Check(t, is.DeepEqual(img.Config.Config.Cmd, []string{"/bin/sh"}))
			assert.Assert(t, is.Len(img.Config.History, 1))
			assert.Check(t, is.Equal(img.Config.History[0].Comment, "Imported from -"))
			assert.Check(t, is.Equal(img.Size, int64(len("#!/bin/sh\n")+len("ID=test\n")+len("libc")+len("usr/lib"))))
			assertLayerBlobs(t, st, img)

			merged := mountImage(t, st, "c1", img)
			assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/os-release")), "ID=test\n"))
			assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "lib/libc.so")), "libc"))
			target, err := os.Readlink(filepath.Join(merged, "lib"))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(target, "usr/lib"))
			fi, err := os.Stat(filepath.Join(merged, "bin/sh"))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o755)))
		})
	}
}

func TestImportIdenticalInputSameID(t *testing.T) {
	st := newRootStores(t)
	data := buildTar(t, rootfsEntries...)

	first := importTar(t, st.images, data)
	second := importTar(t, st.images, data)
	assert.Check(t, is.Equal(first.ID, second.ID))
	assert.Check(t, is.Equal(first.Manifest, second.Manifest))

	list, err := st.images.List(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 1))
}

func TestImportRejectsGarbage(t *testing.T) {
	st := newRootStores(t)
	_, err := st.images.Import(context.Background(), bytes.NewReader(bytes.Repeat([]byte("junk"), 300)), fixedConfig())
	assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument))

	list, err := st.images.List(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 0))
	assert.Check(t, is.Len(st.snapshot.Layers(), 0))
}

func TestCreateAppliesLayer(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))

	layer := buildTar(t,
		tarEntry{name: "etc/"},
		tarEntry{name: "etc/.wh.os-release"},
		tarEntry{name: "etc/motd", body: "hello"},
	)
	h := ocispec.History{CreatedBy: "/bin/sh -c echo hello > /etc/motd"}
	img, err := st.images.Create(ctx, base.ID, bytes.NewReader(layer), fixedConfig(), h)
	assert.NilError(t, err)

	assert.Check(t, is.Equal(img.Parent, base.ID))
	assert.Check(t, is.DeepEqual(img.Config.RootFS.DiffIDs, []digest.Digest{base.ChainID(), digest.FromBytes(layer)}))
	assert.Assert(t, is.Len(img.Config.History, 2))
	assert.Check(t, !img.Config.History[1].EmptyLayer)
	assert.Check(t, is.Equal(img.Config.History[1].CreatedBy, h.CreatedBy))
	assertLayerBlobs(t, st, img)

	merged := mountImage(t, st, "c1", img)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/motd")), "hello"))
	_, err = os.Stat(filepath.Join(merged, "etc/os-release"))
	assert.Check(t, os.IsNotExist(err))

	again, err := st.images.Create(ctx, base.ID, bytes.NewReader(layer), fixedConfig(), h)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.ID, img.ID))
}

// changeSnapshot mounts a new snapshot of img, makes the same changes every
// time, with fixed modification times, and unmounts it.
func changeSnapshot(t *testing.T, st testStores, key string, img Image) {
	t.Helper()
	merged := mountImage(t, st, key, img)
	motd := filepath.Join(merged, "etc/motd")
	assert.NilError(t, os.WriteFile(motd, []byte("committed"), 0o644))
	assert.NilError(t, os.Chtimes(motd, entryTime, entryTime))
	assert.NilError(t, os.Remove(filepath.Join(merged, "bin/sh")))
	for _, dir := range []string{"etc", "bin"} {
		assert.NilError(t, os.Chtimes(filepath.Join(merged, dir), entryTime, entryTime))
	}
	assert.NilError(t, st.snapshot.Unmount(context.Background(), key))
}

func TestCommitSnapshotSameInputSameID(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))
	h := ocispec.History{CreatedBy: "/bin/sh -c change"}

	changeSnapshot(t, st, "c1", base)
	first, err := st.images.CommitSnapshot(ctx, base.ID, "c1", fixedConfig(), h)
	assert.NilError(t, err)
	assert.Check(t, is.Len(first.Config.RootFS.DiffIDs, 2))
	assert.Check(t, is.Equal(first.Parent, base.ID))
	assertLayerBlobs(t, st, first)

	changeSnapshot(t, st, "c2", base)
	second, err := st.images.CommitSnapshot(ctx, base.ID, "c2", fixedConfig(), h)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(second.ID, first.ID))
	assert.Check(t, is.Equal(second.Manifest, first.Manifest))

	merged := mountImage(t, st, "c3", first)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/motd")), "committed"))
	_, err = os.Stat(filepath.Join(merged, "bin/sh"))
	assert.Check(t, os.IsNotExist(err))
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/os-release")), "ID=test\n"))

	// The committed snapshot keeps showing its files, now from the layer.
	snap, err := st.snapshot.Snapshot("c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(snap.Parent, first.ChainID()))
}

func TestCommitSnapshotWrongParent(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))
	assert.NilError(t, st.snapshot.Prepare(ctx, "c1", ""))

	_, err := st.images.CommitSnapshot(ctx, base.ID, "c1", fixedConfig(), ocispec.History{})
	assert.Check(t, is.ErrorContains(err, "snapshot is based on layer"))
}

func TestDeleteSharedLayers(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))
	tag(t, st.images, base.ID, "base")
	child, err := st.images.Create(ctx, base.ID, bytes.NewReader(buildTar(t, tarEntry{name: "new", body: "x"})),
		fixedConfig(), ocispec.History{CreatedBy: "ADD new"})
	assert.NilError(t, err)
	tag(t, st.images, child.ID, "child")
	baseBlob := manifestOf(t, st, base).Layers[0].Digest
	childBlob := manifestOf(t, st, child).Layers[1].Digest

	resp, err := st.images.Delete(ctx, "child", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{
		untagged("child:latest"), deleted(child.ID), deleted(child.ChainID()),
	}))
	_, err = st.snapshot.Layer(base.ChainID())
	assert.Check(t, err)
	assert.Check(t, st.content.Has(baseBlob))
	assert.Check(t, !st.content.Has(childBlob))
	merged := mountImage(t, st, "c1", base)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/os-release")), "ID=test\n"))
	assert.NilError(t, st.snapshot.Remove(ctx, "c1"))

	resp, err = st.images.Delete(ctx, "base", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{
		untagged("base:latest"), deleted(base.ID), deleted(base.ChainID()),
	}))
	assert.Check(t, is.Len(st.snapshot.Layers(), 0))
	assert.Check(t, !st.content.Has(baseBlob))
}

func TestDeleteKeepsLayersOfSnapshots(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	img := importTar(t, st.images, buildTar(t, rootfsEntries...))
	assert.NilError(t, st.snapshot.Prepare(ctx, "c1", img.ChainID()))

	resp, err := st.images.Delete(ctx, img.ID.String(), true, func(digest.Digest) bool { return true })
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{deleted(img.ID)}))
	_, err = st.snapshot.Layer(img.ChainID())
	assert.Check(t, err)

	merged, err := st.snapshot.Mount(ctx, "c1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/os-release")), "ID=test\n"))

	assert.NilError(t, st.snapshot.Remove(ctx, "c1"))
	removed, err := st.images.PruneLayers(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(removed, []digest.Digest{img.ChainID()}))
}

func TestImageManyLayersMount(t *testing.T) {
	const layers = 40
	st := newRootStores(t)
	ctx := context.Background()

	var parent digest.Digest
	var img Image
	for i := range layers {
		layer := buildTar(t, tarEntry{name: fmt.Sprintf("f%02d", i), body: fmt.Sprint(i)})
		var err error
		img, err = st.images.Create(ctx, parent, bytes.NewReader(layer), fixedConfig(), ocispec.History{})
		assert.NilError(t, err)
		parent = img.ID
	}
	assert.Check(t, is.Len(img.Config.RootFS.DiffIDs, layers))

	merged := mountImage(t, st, "deep", img)
	for i := range layers {
		assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, fmt.Sprintf("f%02d", i))), fmt.Sprint(i)))
	}
}

func TestConcurrentImportDelete(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))
	tag(t, st.images, base.ID, "base")

	const workers = 6
	errs := make(chan error, workers)
	for i := range workers {
		layer := buildTar(t, tarEntry{name: fmt.Sprintf("w%d", i), body: "x"})
		go func() {
			img, err := st.images.Create(ctx, base.ID, bytes.NewReader(layer), fixedConfig(), ocispec.History{})
			if err == nil {
				_, err = st.images.List(ctx)
			}
			if err == nil {
				_, err = st.images.Delete(ctx, img.ID.String(), false, nil)
			}
			errs <- err
		}()
	}
	for range workers {
		assert.Check(t, <-errs)
	}

	list, err := st.images.List(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 1))
	assert.Check(t, is.Len(st.snapshot.Layers(), 1))
}
