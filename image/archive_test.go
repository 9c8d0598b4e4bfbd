package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// legacyArchive builds an archive as Docker before 25 saved it: an
// uncompressed layer tar per directory, a config file, and manifest.json.
// The second image's layer is a symlink to the first one's, as docker save
// wrote for shared layers.
func legacyArchive(t *testing.T, layer []byte, config []byte) []byte {
	t.Helper()
	configName := digest.FromBytes(config).Encoded() + ".json"
	manifest, err := json.Marshal([]archiveManifestEntry{
		{Config: configName, RepoTags: []string{"team/app:1.0"}, Layers: []string{"aaa/layer.tar"}},
		{Config: configName, RepoTags: []string{"team/app:copy"}, Layers: []string{"bbb/layer.tar"}},
	})
	assert.NilError(t, err)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr *tar.Header, body []byte) {
		hdr.Size = int64(len(body))
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		assert.NilError(t, tw.WriteHeader(hdr))
		_, err := tw.Write(body)
		assert.NilError(t, err)
	}
	add(&tar.Header{Name: "aaa/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "aaa/layer.tar", Mode: 0o644}, layer)
	add(&tar.Header{Name: "bbb/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../aaa/layer.tar"}, nil)
	add(&tar.Header{Name: configName, Mode: 0o644}, config)
	add(&tar.Header{Name: "manifest.json", Mode: 0o644}, manifest)
	assert.NilError(t, tw.Close())
	return buf.Bytes()
}

func configFor(t *testing.T, layers ...[]byte) []byte {
	t.Helper()
	cfg := fixedConfig()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.RootFS.Type = "layers"
	for _, layer := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(layer))
	}
	data, err := json.Marshal(cfg)
	assert.NilError(t, err)
	return data
}

func TestLoadLegacyArchive(t *testing.T) {
	st := newRootStores(t)
	layer := buildTar(t, rootfsEntries...)
	config := configFor(t, layer)

	loaded, err := st.images.Load(context.Background(), bytes.NewReader(legacyArchive(t, layer, config)))
	assert.NilError(t, err)

	id := digest.FromBytes(config)
	assert.Check(t, is.DeepEqual(loaded, []LoadedImage{
		{ID: id, Tags: []string{"team/app:1.0"}},
		{ID: id, Tags: []string{"team/app:copy"}},
	}))
	img, err := st.images.Get(context.Background(), "team/app:1.0")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.ID, id), "the config is stored unchanged, so the ID is kept")
	assertLayerBlobs(t, st, img)
	merged := mountImage(t, st, "legacy", img)
	assert.Check(t, is.Equal(readFile(t, filepath.Join(merged, "etc/os-release")), "ID=test\n"))
}

func TestLoadRejectsWrongLayer(t *testing.T) {
	st := newRootStores(t)
	layer := buildTar(t, rootfsEntries...)
	other := buildTar(t, tarEntry{name: "other", body: "not the layer the config names"})
	config := configFor(t, layer)

	_, err := st.images.Load(context.Background(), bytes.NewReader(legacyArchive(t, other, config)))
	assert.Check(t, errors.Is(err, errdefs.ErrInvalidArgument), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "diff ID"))

	list, err := st.images.List(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 0))
	assert.Check(t, is.Len(st.snapshot.Layers(), 0), "the mismatched layer is removed")
	entries, err := os.ReadDir(filepath.Join(st.root, "images"))
	assert.NilError(t, err)
	for _, e := range entries {
		assert.Check(t, e.Name() == "metadata" || e.Name() == "repositories.json", "leftover %s", e.Name())
	}
}

func TestLoadRejectsNonArchives(t *testing.T) {
	st := newStores(t)
	for name, data := range map[string][]byte{
		"empty tar":       buildTar(t),
		"rootfs tar":      buildTar(t, rootfsEntries...),
		"not a tar":       []byte("hello"),
		"bad manifest":    buildTar(t, tarEntry{name: "manifest.json", body: "{"}),
		"missing config":  buildTar(t, tarEntry{name: "manifest.json", body: `[{"Config":"c.json","Layers":[]}]`}),
		"escaping config": buildTar(t, tarEntry{name: "manifest.json", body: `[{"Config":"../../etc/passwd","Layers":[]}]`}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := st.images.Load(context.Background(), bytes.NewReader(data))
			assert.Check(t, errors.Is(err, errdefs.ErrInvalidArgument), "got %v", err)
		})
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	base := importTar(t, st.images, buildTar(t, rootfsEntries...))
	app, err := st.images.Create(ctx, base.ID, bytes.NewReader(buildTar(t, tarEntry{name: "app", body: "v1"})),
		fixedConfig(), ocispec.History{CreatedBy: "COPY app /"})
	assert.NilError(t, err)
	tag(t, st.images, base.ID, "base:1", "base:2", "other:1")
	tag(t, st.images, app.ID, "team/app:1.0")

	var archive bytes.Buffer
	assert.NilError(t, st.images.Save(ctx, &archive, []string{"base", "team/app:1.0", app.ID.String()}))

	names := archiveNames(t, archive.Bytes())
	assert.Check(t, names["manifest.json"] && names["index.json"] && names["oci-layout"])
	assert.Check(t, names[blobPath(app.Manifest)])

	dst := newRootStores(t)
	loaded, err := dst.images.Load(ctx, bytes.NewReader(archive.Bytes()))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(loaded, []LoadedImage{
		{ID: base.ID, Tags: []string{"base:1", "base:2"}},
		{ID: app.ID, Tags: []string{"team/app:1.0"}},
	}), "the repository name saves all its tags and only them")

	got, err := dst.images.Get(ctx, "team/app:1.0")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.Manifest, app.Manifest), "the manifest and its blobs are kept")
	_, err = dst.images.Get(ctx, "other:1")
	assert.Check(t, errdefs.IsNotFound(err))
}

func TestLoadOCILayoutIndex(t *testing.T) {
	st := newRootStores(t)
	ctx := context.Background()
	src := newRootStores(t)
	img := importTar(t, src.images, buildTar(t, rootfsEntries...))
	manifestSize, err := src.content.Size(img.Manifest)
	assert.NilError(t, err)

	platform := DefaultPlatform()
	// A nested index with another platform first, named only by annotations.
	platformIndex, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("elsewhere"), Size: 1,
				Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}},
			{MediaType: ocispec.MediaTypeImageManifest, Digest: img.Manifest, Size: manifestSize,
				Platform: &platform},
		},
	})
	assert.NilError(t, err)
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		Manifests: []ocispec.Descriptor{{
			MediaType:   ocispec.MediaTypeImageIndex,
			Digest:      digest.FromBytes(platformIndex),
			Size:        int64(len(platformIndex)),
			Annotations: map[string]string{ocispec.AnnotationRefName: "localhost:5000/team/app:2.0"},
		}},
	})
	assert.NilError(t, err)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range append([]digest.Digest{img.ID, img.Manifest}, manifestOf(t, src, img).Layers[0].Digest) {
		assert.NilError(t, src.images.writeBlobEntry(tw, d))
	}
	assert.NilError(t, writeJSONEntry(tw, ociLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}))
	assert.NilError(t, tw.WriteHeader(archiveHeader(blobPath(digest.FromBytes(platformIndex)), int64(len(platformIndex)))))
	_, err = tw.Write(platformIndex)
	assert.NilError(t, err)
	assert.NilError(t, tw.WriteHeader(archiveHeader(ociIndexFile, int64(len(index)))))
	_, err = tw.Write(index)
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())

	loaded, err := st.images.Load(ctx, &buf)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(loaded, []LoadedImage{{ID: img.ID, Tags: []string{"localhost:5000/team/app:2.0"}}}))
}

func archiveNames(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		assert.NilError(t, err)
		names[hdr.Name] = true
	}
}
