package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An image archive, as docker save writes it since Docker 25, is an OCI
// image layout (oci-layout, index.json, blobs/<algorithm>/<hex>) with a
// Docker manifest.json beside it. Docker before 25 wrote only manifest.json,
// with configs and layer tars at other paths. Save writes the combined form,
// and Load reads all three.
const (
	archiveManifestFile = "manifest.json"
	ociLayoutFile       = "oci-layout"
	ociIndexFile        = "index.json"

	// annotationImageName is the full image name in an index entry, as
	// containerd and Docker write it.
	annotationImageName = "io.containerd.image.name"
)

// archiveManifestEntry is one image in manifest.json.
type archiveManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// LoadedImage is one image that Load stored.
type LoadedImage struct {
	ID   digest.Digest
	Tags []string // familiar names such as "busybox:latest"
}

// Load stores the images of the archive r, tags them as the archive names
// them, and returns them in archive order. It reads the Docker archive
// format with or without an OCI layout, and plain OCI layouts, where it
// picks the manifest for the daemon's platform from an index. A malformed
// archive fails with an error wrapping errdefs.ErrInvalidArgument. An
// image whose layers do not match its config is not stored.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]LoadedImage, error) {
	tmp, err := os.MkdirTemp(s.root, "load-")
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	defer os.RemoveAll(tmp)

	arch, err := extractArchive(ctx, r, tmp)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}

	var loaded []LoadedImage
	if arch.has(archiveManifestFile) {
		loaded, err = s.loadDockerArchive(ctx, arch)
	} else if arch.has(ociIndexFile) {
		loaded, err = s.loadOCILayout(ctx, arch)
	} else {
		err = fmt.Errorf("%w: the archive has neither manifest.json nor index.json; "+
			"it is not an image archive (use import for a root filesystem tarball)", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return loaded, fmt.Errorf("load images: %w", err)
	}
	return loaded, nil
}

// archive is an image archive unpacked into a temporary directory. Files
// are stored under numbered names and found by their cleaned archive path.
type archive struct {
	files map[string]string // archive path -> file in the temporary directory
	links map[string]string // archive path -> archive path of a symlink's or hard link's target
}

func (a *archive) has(name string) bool {
	_, err := a.resolve(name)
	return err == nil
}

// resolve returns the temporary file that holds the archive path name,
// following links inside the archive.
func (a *archive) resolve(name string) (string, error) {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	for range 16 {
		if file, ok := a.files[name]; ok {
			return file, nil
		}
		target, ok := a.links[name]
		if !ok {
			return "", fmt.Errorf("%w: %q is missing from the archive", errdefs.ErrInvalidArgument, name)
		}
		name = target
	}
	return "", fmt.Errorf("%w: too many links resolving %q in the archive", errdefs.ErrInvalidArgument, name)
}

func (a *archive) open(name string) (io.ReadCloser, error) {
	file, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return os.Open(file)
}

// readJSON decodes the archive file name into v.
func (a *archive) readJSON(name string, v any) error {
	file, err := a.resolve(name)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: decode %s: %w", errdefs.ErrInvalidArgument, name, err)
	}
	return nil
}

func (a *archive) readFile(name string) ([]byte, error) {
	file, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(file)
}

// extractArchive copies the regular files of the tar stream r into dir.
// Entry names are only keys: nothing is created at a path taken from the
// archive, so no name or link can reach outside dir.
func extractArchive(ctx context.Context, r io.Reader, dir string) (*archive, error) {
	arch := &archive{files: map[string]string{}, links: map[string]string{}}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, fmt.Errorf("%w: the archive is empty", errdefs.ErrInvalidArgument)
			}
			return arch, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read archive: %w", errdefs.ErrInvalidArgument, err)
		}

		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		switch hdr.Typeflag {
		case tar.TypeReg:
			file := filepath.Join(dir, fmt.Sprintf("file-%d", n))
			if err := copyToFile(file, tr); err != nil {
				return nil, fmt.Errorf("read archive entry %q: %w", hdr.Name, err)
			}
			arch.files[name] = file
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			arch.links[name] = path.Clean(strings.TrimPrefix(target, "/"))
		case tar.TypeLink:
			arch.links[name] = path.Clean(strings.TrimPrefix(hdr.Linkname, "/"))
		}
	}
}

func copyToFile(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadDockerArchive loads the images that manifest.json lists. An image
// whose manifest is also in the archive's OCI index, with all its blobs,
// keeps that manifest and its compressed blobs.
func (s *Store) loadDockerArchive(ctx context.Context, arch *archive) ([]LoadedImage, error) {
	var entries []archiveManifestEntry
	if err := arch.readJSON(archiveManifestFile, &entries); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no images", errdefs.ErrInvalidArgument)
	}
	manifests := indexedManifests(arch)

	var loaded []LoadedImage
	for _, entry := range entries {
		config, err := arch.readFile(entry.Config)
		if err != nil {
			return loaded, fmt.Errorf("image config: %w", err)
		}
		req := IngestRequest{Config: config}
		if m, ok := manifests[digest.FromBytes(config)]; ok && len(m.manifest.Layers) == len(entry.Layers) {
			req.Manifest = m.raw
			req.Layers = blobSources(arch, m.manifest.Layers)
		} else {
			for _, layer := range entry.Layers {
				req.Layers = append(req.Layers, LayerSource{Open: archiveOpener(arch, layer)})
			}
		}

		img, err := s.ingestAndTag(ctx, req, entry.RepoTags)
		if err != nil {
			return loaded, err
		}
		loaded = append(loaded, img)
	}
	return loaded, nil
}

// loadOCILayout loads every image that index.json names, picking the
// daemon's platform from nested indexes.
func (s *Store) loadOCILayout(ctx context.Context, arch *archive) ([]LoadedImage, error) {
	var index ocispec.Index
	if err := arch.readJSON(ociIndexFile, &index); err != nil {
		return nil, err
	}

	var loaded []LoadedImage
	for _, desc := range index.Manifests {
		m, err := readManifest(arch, desc)
		if err != nil {
			return loaded, err
		}
		config, err := readBlob(arch, m.manifest.Config)
		if err != nil {
			return loaded, fmt.Errorf("image config: %w", err)
		}
		req := IngestRequest{Config: config, Manifest: m.raw, Layers: blobSources(arch, m.manifest.Layers)}

		var tags []string
		if name := imageName(desc.Annotations); name != "" {
			tags = append(tags, name)
		}
		img, err := s.ingestAndTag(ctx, req, tags)
		if err != nil {
			return loaded, err
		}
		loaded = append(loaded, img)
	}
	if len(loaded) == 0 {
		return nil, fmt.Errorf("%w: index.json lists no images", errdefs.ErrInvalidArgument)
	}
	return loaded, nil
}

// imageName returns the name that an index entry's annotations give the
// image, "" if none. The OCI ref.name annotation is used only when it is a
// full reference, since a bare tag names no repository.
func imageName(annotations map[string]string) string {
	for _, name := range []string{annotations[annotationImageName], annotations[ocispec.AnnotationRefName]} {
		if name == "" {
			continue
		}
		if named, err := reference.ParseNormalizedNamed(name); err == nil {
			return reference.FamiliarString(reference.TagNameOnly(named))
		}
	}
	return ""
}

func (s *Store) ingestAndTag(ctx context.Context, req IngestRequest, tags []string) (LoadedImage, error) {
	img, err := s.Ingest(ctx, req)
	if err != nil {
		return LoadedImage{}, err
	}
	loaded := LoadedImage{ID: img.ID}
	for _, tag := range tags {
		named, err := reference.ParseNormalizedNamed(tag)
		if err != nil {
			return loaded, fmt.Errorf("%w: invalid tag %q in the archive: %w", errdefs.ErrInvalidArgument, tag, err)
		}
		named = reference.TagNameOnly(named)
		if err := s.Tag(ctx, img.ID, named.String()); err != nil {
			return loaded, err
		}
		loaded.Tags = append(loaded.Tags, reference.FamiliarString(named))
	}
	return loaded, nil
}

// parsedManifest is an image manifest with its raw bytes.
type parsedManifest struct {
	raw      []byte
	manifest ocispec.Manifest
}

// indexedManifests returns the image manifests of the archive's OCI index
// whose blobs are all in the archive, by config digest.
func indexedManifests(arch *archive) map[digest.Digest]parsedManifest {
	found := map[digest.Digest]parsedManifest{}
	var index ocispec.Index
	if arch.readJSON(ociIndexFile, &index) != nil {
		return found
	}
	for _, desc := range index.Manifests {
		m, err := readManifest(arch, desc)
		if err != nil || !arch.has(blobPath(m.manifest.Config.Digest)) {
			continue
		}
		complete := true
		for _, layer := range m.manifest.Layers {
			complete = complete && arch.has(blobPath(layer.Digest))
		}
		if complete {
			found[m.manifest.Config.Digest] = m
		}
	}
	return found
}

// readManifest reads the image manifest that desc names, choosing the
// daemon's platform when desc is an index.
func readManifest(arch *archive, desc ocispec.Descriptor) (parsedManifest, error) {
	for range 4 {
		raw, err := readBlob(arch, desc)
		if err != nil {
			return parsedManifest{}, err
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
			var index ocispec.Index
			if err := json.Unmarshal(raw, &index); err != nil {
				return parsedManifest{}, fmt.Errorf("%w: decode index %s: %w", errdefs.ErrInvalidArgument, desc.Digest, err)
			}
			if desc, err = MatchPlatform(index.Manifests, DefaultPlatform()); err != nil {
				return parsedManifest{}, err
			}
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			var m ocispec.Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				return parsedManifest{}, fmt.Errorf("%w: decode manifest %s: %w", errdefs.ErrInvalidArgument, desc.Digest, err)
			}
			return parsedManifest{raw: raw, manifest: m}, nil
		default:
			return parsedManifest{}, fmt.Errorf("%w: unsupported media type %q for %s",
				errdefs.ErrInvalidArgument, desc.MediaType, desc.Digest)
		}
	}
	return parsedManifest{}, fmt.Errorf("%w: indexes nested too deeply", errdefs.ErrInvalidArgument)
}

// readBlob reads a blob of the archive's OCI layout and checks its digest.
func readBlob(arch *archive, desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: invalid digest %q: %w", errdefs.ErrInvalidArgument, desc.Digest, err)
	}
	data, err := arch.readFile(blobPath(desc.Digest))
	if err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("%w: blob %s has digest %s", errdefs.ErrInvalidArgument, desc.Digest, got)
	}
	return data, nil
}

func blobPath(d digest.Digest) string {
	return path.Join("blobs", string(d.Algorithm()), d.Encoded())
}

func blobSources(arch *archive, layers []ocispec.Descriptor) []LayerSource {
	sources := make([]LayerSource, len(layers))
	for i, layer := range layers {
		sources[i] = LayerSource{Blob: layer, Open: archiveOpener(arch, blobPath(layer.Digest))}
	}
	return sources
}

func archiveOpener(arch *archive, name string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		return arch.open(name)
	}
}

// Docker's media types for manifests, which OCI layouts written by Docker
// and registries may contain.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Save writes the images that refs name to w as an image archive that
// docker load reads. A reference by name and tag saves that tag, by name
// alone every tag of the repository, and by ID the image without tags.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string) error {
	images, err := s.saveSelection(refs)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	written := map[digest.Digest]bool{}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	var entries []archiveManifestEntry
	for _, img := range images {
		if err := s.writeImageBlobs(ctx, tw, img.rec, written); err != nil {
			return err
		}

		entry := archiveManifestEntry{Config: blobPath(img.rec.id), RepoTags: []string{}}
		for _, layer := range img.rec.layers {
			entry.Layers = append(entry.Layers, blobPath(layer.Digest))
		}
		size, err := s.cs.Size(img.rec.manifest)
		if err != nil {
			return err
		}
		manifestDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: img.rec.manifest, Size: size}
		if len(img.tags) == 0 {
			index.Manifests = append(index.Manifests, manifestDesc)
		}
		for _, tag := range img.tags {
			named, _ := reference.ParseNormalizedNamed(tag)
			entry.RepoTags = append(entry.RepoTags, reference.FamiliarString(named))
			desc := manifestDesc
			desc.Annotations = map[string]string{annotationImageName: tag}
			if tagged, ok := named.(reference.Tagged); ok {
				desc.Annotations[ocispec.AnnotationRefName] = tagged.Tag()
			}
			index.Manifests = append(index.Manifests, desc)
		}
		entries = append(entries, entry)
	}

	layout := ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}
	for _, file := range []struct {
		name string
		v    any
	}{{ociLayoutFile, layout}, {ociIndexFile, index}, {archiveManifestFile, entries}} {
		if err := writeJSONEntry(tw, file.name, file.v); err != nil {
			return err
		}
	}
	return tw.Close()
}

// savedImage is an image to save with the tags to save it under.
type savedImage struct {
	rec  *record
	tags []string // normalized references
}

// saveSelection resolves refs to the images and tags to save, each image
// once, in the order of refs.
func (s *Store) saveSelection(refs []string) ([]*savedImage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var images []*savedImage
	byID := map[digest.Digest]*savedImage{}
	add := func(id digest.Digest, tag string) {
		img := byID[id]
		if img == nil {
			img = &savedImage{rec: s.images[id]}
			byID[id] = img
			images = append(images, img)
		}
		if tag != "" && !slices.Contains(img.tags, tag) {
			img.tags = append(img.tags, tag)
		}
	}

	for _, ref := range refs {
		if tags := s.repositoryTagsLocked(ref); len(tags) > 0 {
			for _, tag := range tags {
				add(s.tags[tag], tag)
			}
			continue
		}
		rec, err := s.resolveLocked(ref)
		if err != nil {
			return nil, err
		}
		var tag string
		if named, err := reference.ParseNormalizedNamed(ref); err == nil {
			if _, ok := named.(reference.Tagged); ok && s.tags[named.String()] == rec.id {
				tag = named.String()
			}
		}
		add(rec.id, tag)
	}
	return images, nil
}

// repositoryTagsLocked returns the sorted tags of the repository that ref
// names, when ref is a name without tag or digest.
func (s *Store) repositoryTagsLocked(ref string) []string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil || !reference.IsNameOnly(named) {
		return nil
	}
	var tags []string
	for tag := range s.tags {
		if tagged, err := reference.ParseNormalizedNamed(tag); err == nil && tagged.Name() == named.Name() {
			tags = append(tags, tag)
		}
	}
	sort.Strings(tags)
	return tags
}

// writeImageBlobs writes the config, manifest and layer blobs of rec that
// are not in written yet.
func (s *Store) writeImageBlobs(ctx context.Context, tw *tar.Writer, rec *record, written map[digest.Digest]bool) error {
	blobs := []digest.Digest{rec.id, rec.manifest}
	for _, layer := range rec.layers {
		blobs = append(blobs, layer.Digest)
	}
	for _, d := range blobs {
		if written[d] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.writeBlobEntry(tw, d); err != nil {
			return fmt.Errorf("save image %s: %w", rec.id, err)
		}
		written[d] = true
	}
	return nil
}

func (s *Store) writeBlobEntry(tw *tar.Writer, d digest.Digest) error {
	size, err := s.cs.Size(d)
	if err != nil {
		return err
	}
	rc, err := s.cs.Open(d)
	if err != nil {
		return err
	}
	defer rc.Close()

	hdr := archiveHeader(blobPath(d), size)
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, rc)
	return err
}

func writeJSONEntry(tw *tar.Writer, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(archiveHeader(name, int64(len(data)))); err != nil {
		return err
	}
	_, err = tw.Write(data)
	return err
}

// archiveHeader returns the header of a regular file in an image archive,
// with the fixed time and owner that make archives of the same images
// identical.
func archiveHeader(name string, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o444,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	}
}
