package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

// ApplyLayer unpacks the uncompressed OCI layer tar diff on top of the layer
// parent ("" for a base layer) and returns the new layer. Its DiffID is the
// sha256 of the whole stream. When a layer with the resulting chain ID
// exists already, ApplyLayer discards the new copy and returns the existing
// layer. A malformed archive yields an error wrapping
// errdefs.ErrInvalidArgument, a missing parent errdefs.ErrNotFound.
func (s *Store) ApplyLayer(ctx context.Context, parent digest.Digest, diff io.Reader) (Layer, error) {
	if parent != "" {
		if _, err := s.Layer(parent); err != nil {
			return Layer{}, fmt.Errorf("apply layer: parent %w", err)
		}
	}
	staged, err := s.StageLayer(ctx, diff)
	if err != nil {
		return Layer{}, fmt.Errorf("apply layer on %q: %w", parent, err)
	}
	defer staged.Discard()
	return s.PublishStaged(ctx, parent, staged)
}

// StagedLayer is a layer unpacked into a temporary directory but not yet in
// the store. Unpacking does not depend on the parent layer, so several
// layers of one image can be staged at once and published in order.
type StagedLayer struct {
	tmp    string
	DiffID digest.Digest // sha256 of the whole uncompressed stream
	size   int64
}

// StageLayer unpacks the uncompressed OCI layer tar diff into a temporary
// directory. The caller publishes it with PublishStaged or drops it with
// Discard. A malformed archive yields an error wrapping
// errdefs.ErrInvalidArgument.
func (s *Store) StageLayer(ctx context.Context, diff io.Reader) (*StagedLayer, error) {
	tmp, err := s.newTempDir()
	if err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	staged := &StagedLayer{tmp: tmp}
	ok := false
	defer func() {
		if !ok {
			staged.Discard()
		}
	}()

	dest := filepath.Join(tmp, "diff")
	if err := os.Mkdir(dest, 0o755); err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	digester := digest.SHA256.Digester()
	if err := unpack(ctx, io.TeeReader(diff, digester.Hash()), dest); err != nil {
		return nil, err
	}
	if staged.size, err = dirSize(ctx, dest); err != nil {
		return nil, fmt.Errorf("stage layer: %w", err)
	}
	staged.DiffID = digester.Digest()
	ok = true
	return staged, nil
}

// Discard removes the staged layer's files. It does nothing once the layer
// is published.
func (l *StagedLayer) Discard() {
	_ = os.RemoveAll(l.tmp) // no-op once the layer is published
}

// PublishStaged adds the staged layer to the store on top of parent and
// returns it. When a layer with the same chain ID exists already, that one
// is returned and the staged copy stays for Discard.
func (s *Store) PublishStaged(ctx context.Context, parent digest.Digest, l *StagedLayer) (Layer, error) {
	if parent != "" {
		if _, err := s.Layer(parent); err != nil {
			return Layer{}, fmt.Errorf("publish layer: parent %w", err)
		}
	}
	meta := &layerMetadata{
		ChainID: ChainID(parent, l.DiffID),
		DiffID:  l.DiffID,
		Parent:  parent,
		Size:    l.size,
	}
	return s.publishLayer(ctx, l.tmp, meta)
}

// publishLayer makes the complete layer in the temporary directory tmp
// visible under its chain ID: it records the metadata and a short link,
// flushes the file system, and renames tmp into place. If the chain ID
// exists already, tmp is left for the caller to remove and the existing
// layer is returned.
func (s *Store) publishLayer(ctx context.Context, tmp string, meta *layerMetadata) (Layer, error) {
	if existing, err := s.Layer(meta.ChainID); err == nil {
		return existing, nil
	}

	link, err := s.createLink(meta.ChainID)
	if err != nil {
		return Layer{}, fmt.Errorf("publish layer %s: %w", meta.ChainID, err)
	}
	meta.Link = link
	published := false
	defer func() {
		if !published {
			_ = os.Remove(filepath.Join(s.linksDir, link))
		}
	}()

	if err := atomicfile.WriteJSON(filepath.Join(tmp, "layer.json"), meta, 0o600); err != nil {
		return Layer{}, fmt.Errorf("publish layer %s: %w", meta.ChainID, err)
	}
	if err := syncFS(tmp); err != nil {
		return Layer{}, fmt.Errorf("publish layer %s: %w", meta.ChainID, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if existing := s.layers[meta.ChainID]; existing != nil {
		return existing.layer(), nil
	}
	if meta.Parent != "" && s.layers[meta.Parent] == nil {
		return Layer{}, fmt.Errorf("publish layer %s: parent layer %s: %w",
			meta.ChainID, meta.Parent, errdefs.ErrNotFound)
	}
	if err := os.Rename(tmp, s.layerDir(meta.ChainID)); err != nil {
		return Layer{}, fmt.Errorf("publish layer %s: %w", meta.ChainID, err)
	}
	published = true
	if err := atomicfile.SyncDir(s.layersDir); err != nil {
		// The rename happened, so the layer exists for this process. A
		// crash before the directory reaches the disk loses it again.
		log.FromContext(ctx).Warn("syncing layers directory", "layer", meta.ChainID, log.Err(err))
	}
	s.layers[meta.ChainID] = meta
	log.FromContext(ctx).Debug("layer created", "layer", meta.ChainID, "diff_id", meta.DiffID, "size", meta.Size)
	return meta.layer(), nil
}

// createLink creates a short symlink in layers/l that points to the diff
// directory of chainID, which need not exist yet.
func (s *Store) createLink(chainID digest.Digest) (string, error) {
	for range 10 {
		link := randomLink()
		err := os.Symlink(linkTarget(chainID), filepath.Join(s.linksDir, link))
		if err == nil {
			return link, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("create layer link: no unused link name after 10 attempts")
}

// syncFS flushes the file system that contains path, so that data written
// by go-archive, which does not sync, is on disk before a rename publishes it.
func syncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: err}
	}
	return nil
}

// RemoveLayer deletes the layer chainID. The error wraps errdefs.ErrNotFound
// when there is no such layer and errdefs.ErrConflict while another layer or
// a snapshot is based on it.
func (s *Store) RemoveLayer(ctx context.Context, chainID digest.Digest) error {
	tmp, err := s.unlinkLayer(chainID)
	if err != nil {
		return err
	}

	if err := os.RemoveAll(tmp); err != nil {
		// The layer is gone from the store, and New removes the rest.
		log.FromContext(ctx).Warn("removing layer files", "layer", chainID, log.Err(err))
	}
	log.FromContext(ctx).Debug("layer removed", "layer", chainID)
	return nil
}

// unlinkLayer moves the layer chainID to a new directory in layers/tmp and
// returns that directory.
func (s *Store) unlinkLayer(chainID digest.Digest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	meta := s.layers[chainID]
	if meta == nil {
		return "", fmt.Errorf("remove layer %s: %w", chainID, errdefs.ErrNotFound)
	}
	for _, other := range s.layers {
		if other.Parent == chainID {
			return "", fmt.Errorf("remove layer %s: %w: layer %s is based on it",
				chainID, errdefs.ErrConflict, other.ChainID)
		}
	}
	for key, rec := range s.snapshots {
		if rec.parent == chainID {
			return "", fmt.Errorf("remove layer %s: %w: snapshot %s is based on it",
				chainID, errdefs.ErrConflict, key)
		}
	}

	tmp, err := s.newTempDir()
	if err != nil {
		return "", fmt.Errorf("remove layer %s: %w", chainID, err)
	}
	target := filepath.Join(tmp, "layer")
	if err := os.Rename(s.layerDir(chainID), target); err != nil {
		return "", fmt.Errorf("remove layer %s: %w", chainID, err)
	}
	delete(s.layers, chainID)

	// A link left behind dangles harmlessly, and New removes it.
	_ = os.Remove(filepath.Join(s.linksDir, meta.Link))
	return tmp, nil
}

// lowerDirs returns the short link paths, relative to layers/, of parent and
// all layers below it, top first.
func (s *Store) lowerDirs(parent digest.Digest) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var dirs []string
	for id := parent; id != ""; {
		meta := s.layers[id]
		if meta == nil {
			return nil, fmt.Errorf("layer %s: %w", id, errdefs.ErrNotFound)
		}
		dirs = append(dirs, filepath.Join("l", meta.Link))
		id = meta.Parent
	}
	return dirs, nil
}
