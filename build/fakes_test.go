package build

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"

	"github.com/berth-engine/berth/image"
)

// fakeStore is an in-memory ImageStore and layerSource.
type fakeStore struct {
	mu     sync.Mutex
	images map[digest.Digest]*fakeImage
	tags   map[string]digest.Digest
	// created counts Create calls.
	created int
}

type fakeImage struct {
	img    image.Image
	layers [][]byte
}

func newFakeStore() *fakeStore {
	return &fakeStore{images: map[digest.Digest]*fakeImage{}, tags: map[string]digest.Digest{}}
}

func (s *fakeStore) Get(_ context.Context, nameOrID string) (image.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi, ok := s.images[digest.Digest(nameOrID)]; ok {
		return fi.img, nil
	}
	if named, err := reference.ParseNormalizedNamed(nameOrID); err == nil {
		if id, ok := s.tags[reference.TagNameOnly(named).String()]; ok {
			return s.images[id].img, nil
		}
	}
	return image.Image{}, errdefs.ErrNotFound.WithMessage("No such image: " + nameOrID)
}

func (s *fakeStore) Create(_ context.Context, parent digest.Digest, layer io.Reader, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created++

	var layers [][]byte
	cfg.RootFS = ocispec.RootFS{Type: "layers"}
	cfg.History = nil
	if parent != "" {
		p, ok := s.images[parent]
		if !ok {
			return image.Image{}, fmt.Errorf("parent %s: %w", parent, errdefs.ErrNotFound)
		}
		layers = slices.Clone(p.layers)
		cfg.RootFS.DiffIDs = slices.Clone(p.img.Config.RootFS.DiffIDs)
		cfg.History = slices.Clone(p.img.Config.History)
	}
	if layer != nil {
		data, err := io.ReadAll(layer)
		if err != nil {
			return image.Image{}, fmt.Errorf("read layer: %w", err)
		}
		if _, err := readTar(data); err != nil {
			return image.Image{}, fmt.Errorf("layer is not a valid tar: %w", err)
		}
		layers = append(layers, data)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(data))
	}
	h.EmptyLayer = layer == nil
	cfg.History = append(cfg.History, h)

	data, err := json.Marshal(cfg)
	if err != nil {
		return image.Image{}, err
	}
	img := image.Image{ID: digest.FromBytes(data), Config: cfg, Parent: parent}
	s.images[img.ID] = &fakeImage{img: img, layers: layers}
	return img, nil
}

func (s *fakeStore) Tag(_ context.Context, id digest.Digest, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.images[id]; !ok {
		return errdefs.ErrNotFound.WithMessage("No such image: " + id.String())
	}
	s.tags[ref] = id
	return nil
}

// Layers implements layerSource.
func (s *fakeStore) Layers(_ context.Context, img image.Image) ([]layerRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.images[img.ID]
	if !ok {
		return nil, fmt.Errorf("image %s: %w", img.ID, errdefs.ErrNotFound)
	}
	refs := make([]layerRef, 0, len(fi.layers))
	for _, data := range fi.layers {
		refs = append(refs, layerRef{Digest: digest.FromBytes(data), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}})
	}
	return refs, nil
}

// layer returns the last layer of the image.
func (s *fakeStore) layer(t *testing.T, id digest.Digest) []tarEntry {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.images[id]
	assert.Assert(t, ok, "image %s", id)
	assert.Assert(t, len(fi.layers) > 0, "image %s has no layers", id)
	entries, err := readTar(fi.layers[len(fi.layers)-1])
	assert.NilError(t, err)
	return entries
}

// layerHeaders returns the tar headers of the last layer of the image by
// entry name.
func (s *fakeStore) layerHeaders(t *testing.T, id digest.Digest) map[string]*tar.Header {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.images[id]
	assert.Assert(t, ok, "image %s", id)
	assert.Assert(t, len(fi.layers) > 0, "image %s has no layers", id)
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(fi.layers[len(fi.layers)-1]))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		assert.NilError(t, err)
		out[hdr.Name] = hdr
	}
}

// addBase stores an image with one layer under ref, like a pulled image.
func (s *fakeStore) addBase(t *testing.T, ref string, entries []tarEntry, cfg dockerspec.DockerOCIImageConfig) image.Image {
	t.Helper()
	img, err := s.Create(context.Background(), "", bytes.NewReader(makeTar(t, entries)),
		dockerspec.DockerOCIImage{Image: ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}}, Config: cfg},
		ocispec.History{CreatedBy: "base"})
	assert.NilError(t, err)
	named, err := reference.ParseNormalizedNamed(ref)
	assert.NilError(t, err)
	assert.NilError(t, s.Tag(context.Background(), img.ID, reference.TagNameOnly(named).String()))
	return img
}

// fakeRunner runs no command: it prints Docker's container lines and
// commits a layer holding /ran with the command line. A command ending in
// "false" prints its line and fails with exit code 1.
type fakeRunner struct {
	store    *fakeStore
	requests []RunRequest
}

func (r *fakeRunner) Run(ctx context.Context, req RunRequest) (image.Image, error) {
	r.requests = append(r.requests, req)
	fmt.Fprintf(req.Output, " ---> Running in 0123456789ab\n")
	fmt.Fprintf(req.Output, "output of %s\n", strings.Join(req.Cmd, " "))
	if strings.HasSuffix(strings.Join(req.Cmd, " "), "false") {
		return image.Image{}, &RunError{Cmd: req.Cmd, Code: 1}
	}
	fmt.Fprintf(req.Output, "Removing intermediate container 0123456789ab\n")

	layer := makeTar(nil, []tarEntry{{name: "ran", typ: tar.TypeReg, mode: 0o644, body: strings.Join(req.Cmd, " ")}})
	now := time.Now()
	return r.store.Create(ctx, req.Image.ID, bytes.NewReader(layer), req.Config,
		ocispec.History{Created: &now, CreatedBy: req.CreatedBy})
}

// tarEntry describes one tar entry in tests.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: time.Unix(1700000000, 0),
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil && t != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil && t != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil && t != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readTar(data []byte) ([]tarEntry, error) {
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, tarEntry{
			name: hdr.Name, typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid,
			body: string(body), link: hdr.Linkname,
		})
	}
}

func dir(name string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
}

func file(name, body string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}

func symlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}

// baseEntries is the file system of the fake "busybox" image.
func baseEntries() []tarEntry {
	return []tarEntry{
		dir("bin/", 0o755),
		{name: "bin/sh", typ: tar.TypeReg, mode: 0o755, body: "#!"},
		dir("etc/", 0o755),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		file("etc/group", "root:x:0:\nstaff:x:1001:\n"),
		dir("tmp/", 0o1777),
		dir("usr/", 0o755),
		dir("usr/lib/", 0o755),
		symlink("lib", "usr/lib"),
	}
}

// newTestBuilder returns a builder over a fake store holding "busybox".
func newTestBuilder(t *testing.T) (*Builder, *fakeStore, *fakeRunner) {
	t.Helper()
	store := newFakeStore()
	store.addBase(t, "busybox:latest", baseEntries(), dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}},
	})
	runner := &fakeRunner{store: store}
	b, err := newBuilder(store, runner, t.TempDir(), store)
	assert.NilError(t, err)
	return b, store, runner
}

// contextTar builds a build context holding the given files.
func contextTar(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var entries []tarEntry
	for _, name := range names {
		entries = append(entries, file(name, files[name]))
	}
	return bytes.NewReader(makeTar(t, entries))
}

// entryNames returns the names of the entries.
func entryNames(entries []tarEntry) []string {
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.name)
	}
	return names
}

func findEntry(t *testing.T, entries []tarEntry, name string) tarEntry {
	t.Helper()
	for _, e := range entries {
		if e.name == name {
			return e
		}
	}
	t.Fatalf("no entry %q in %v", name, entryNames(entries))
	return tarEntry{}
}
