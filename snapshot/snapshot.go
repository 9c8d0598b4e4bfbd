// Package snapshot stores image layers as overlayfs lower directories and
// container root filesystems as overlayfs mounts on top of them.
//
// Layout under the data root:
//
//	layers/<chain-id-hex>/diff        unpacked layer content, overlay whiteout format
//	layers/<chain-id-hex>/layer.json  chain ID, diff ID, parent, size, short link
//	layers/l/<link>                   symlink to ../<chain-id-hex>/diff
//	layers/tmp/                       layers being unpacked or removed
//	snapshots/<key>/upper, work       overlay upper and work directories
//	snapshots/<key>/merged            mount point of the overlay
//	snapshots/<key>/empty             lower directory of a snapshot without parent
//	snapshots/<key>/snapshot.json     parent chain ID
//
// Layers are unpacked into layers/tmp and renamed into place once complete,
// so a crash never leaves a partial layer under its chain ID.
package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/internal/log"
)

// Layer is a read-only layer identified by its chain ID.
type Layer struct {
	ChainID digest.Digest // identity of this layer and all layers below it
	DiffID  digest.Digest // sha256 of the uncompressed layer tar
	Parent  digest.Digest // chain ID of the layer below, "" for a base layer
	Size    int64         // bytes in the unpacked layer, hard links counted once
}

// Snapshot is a read-write container root filesystem.
type Snapshot struct {
	Key    string
	Parent digest.Digest // chain ID of the top read-only layer, "" for an empty rootfs
}

// ChainID returns the chain ID of the layer diffID applied on top of the layer
// parent, as defined by the OCI image specification: diffID itself for a base
// layer, otherwise the sha256 of "<parent> <diffID>".
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// layerMetadata is the content of layers/<chain-id-hex>/layer.json.
type layerMetadata struct {
	ChainID digest.Digest `json:"chainID"`
	DiffID  digest.Digest `json:"diffID"`
	Parent  digest.Digest `json:"parent,omitempty"`
	Size    int64         `json:"size"`
	Link    string        `json:"link"` // name of the short symlink in layers/l
}

func (m *layerMetadata) layer() Layer {
	return Layer{ChainID: m.ChainID, DiffID: m.DiffID, Parent: m.Parent, Size: m.Size}
}

// snapshotMetadata is the content of snapshots/<key>/snapshot.json.
type snapshotMetadata struct {
	Parent digest.Digest `json:"parent,omitempty"`
}

// snapshotRecord is the in-memory state of one snapshot. mu serializes the
// operations on the snapshot. parent is guarded by Store.mu.
type snapshotRecord struct {
	mu      sync.Mutex
	key     string
	parent  digest.Digest
	removed bool // guarded by mu
}

// Store manages layers and snapshots under a data root. It is safe for
// concurrent use.
type Store struct {
	layersDir    string
	linksDir     string
	tmpDir       string
	snapshotsDir string

	mu        sync.Mutex
	layers    map[digest.Digest]*layerMetadata
	snapshots map[string]*snapshotRecord
}

// New opens the store under the data root, creating its directories. It
// removes layers whose unpacking or removal a crash interrupted and repairs
// the short links of the remaining layers.
func New(root string) (*Store, error) {
	ctx := context.Background()
	s := &Store{
		layersDir:    filepath.Join(root, "layers"),
		linksDir:     filepath.Join(root, "layers", "l"),
		tmpDir:       filepath.Join(root, "layers", "tmp"),
		snapshotsDir: filepath.Join(root, "snapshots"),
		layers:       map[digest.Digest]*layerMetadata{},
		snapshots:    map[string]*snapshotRecord{},
	}

	if err := os.RemoveAll(s.tmpDir); err != nil {
		return nil, fmt.Errorf("clean layer temp dir: %w", err)
	}
	for _, dir := range []string{s.layersDir, s.linksDir, s.tmpDir, s.snapshotsDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create snapshot store: %w", err)
		}
	}

	if err := s.loadLayers(ctx); err != nil {
		return nil, err
	}
	if err := s.repairLinks(ctx); err != nil {
		return nil, err
	}
	if err := s.loadSnapshots(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) layerDir(chainID digest.Digest) string {
	return filepath.Join(s.layersDir, chainID.Encoded())
}

func (s *Store) snapshotDir(key string) string {
	return filepath.Join(s.snapshotsDir, key)
}

func (s *Store) loadLayers(ctx context.Context) error {
	entries, err := os.ReadDir(s.layersDir)
	if err != nil {
		return fmt.Errorf("load layers: %w", err)
	}

	for _, e := range entries {
		chainID := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if !e.IsDir() || chainID.Validate() != nil {
			continue // l, tmp
		}
		meta, err := readLayerMetadata(filepath.Join(s.layersDir, e.Name()))
		if err == nil && meta.ChainID != chainID {
			err = fmt.Errorf("metadata names chain ID %s", meta.ChainID)
		}
		if err != nil {
			log.FromContext(ctx).Warn("skipping unreadable layer",
				"layer", chainID, log.Err(err))
			continue
		}
		s.layers[chainID] = meta
	}
	return nil
}

func readLayerMetadata(dir string) (*layerMetadata, error) {
	data, err := os.ReadFile(filepath.Join(dir, "layer.json"))
	if err != nil {
		return nil, err
	}

	var meta layerMetadata
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(dir, "layer.json"), err)
	}
	if meta.ChainID.Validate() != nil || meta.DiffID.Validate() != nil || !validLink(meta.Link) {
		return nil, fmt.Errorf("invalid layer metadata in %s", dir)
	}
	return &meta, nil
}

// repairLinks recreates missing short links and removes links that no layer
// records, such as the links of layers whose removal a crash interrupted.
func (s *Store) repairLinks(ctx context.Context) error {
	wanted := map[string]digest.Digest{}
	for chainID, meta := range s.layers {
		wanted[meta.Link] = chainID
	}

	entries, err := os.ReadDir(s.linksDir)
	if err != nil {
		return fmt.Errorf("load layer links: %w", err)
	}
	for _, e := range entries {
		chainID, ok := wanted[e.Name()]
		if ok {
			target, err := os.Readlink(filepath.Join(s.linksDir, e.Name()))
			if err == nil && target == linkTarget(chainID) {
				delete(wanted, e.Name())
				continue
			}
		}
		if err := os.RemoveAll(filepath.Join(s.linksDir, e.Name())); err != nil {
			return fmt.Errorf("remove stale layer link %s: %w", e.Name(), err)
		}
	}

	for link, chainID := range wanted {
		log.FromContext(ctx).Info("recreating layer link", "layer", chainID, "link", link)
		if err := os.Symlink(linkTarget(chainID), filepath.Join(s.linksDir, link)); err != nil {
			return fmt.Errorf("recreate link of layer %s: %w", chainID, err)
		}
	}
	return nil
}

func (s *Store) loadSnapshots(ctx context.Context) error {
	entries, err := os.ReadDir(s.snapshotsDir)
	if err != nil {
		return fmt.Errorf("load snapshots: %w", err)
	}

	for _, e := range entries {
		dir := filepath.Join(s.snapshotsDir, e.Name())
		if !validKey(e.Name()) {
			// Prepare and Remove stage their work in ".tmp-*" directories.
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove incomplete snapshot %s: %w", dir, err)
			}
			continue
		}

		var meta snapshotMetadata
		data, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
		if err == nil {
			err = json.Unmarshal(data, &meta)
		}
		if err != nil {
			log.FromContext(ctx).Warn("skipping unreadable snapshot",
				log.KeySnapshot, e.Name(), log.Err(err))
			continue
		}
		if meta.Parent != "" && s.layers[meta.Parent] == nil {
			log.FromContext(ctx).Warn("snapshot parent layer is missing",
				log.KeySnapshot, e.Name(), "layer", meta.Parent)
		}

		// A crash during Commit can leave the snapshot without its upper
		// directory, whose content then became the new layer.
		for sub, mode := range map[string]os.FileMode{"upper": 0o755, "work": 0o700, "merged": 0o755} {
			if err := os.MkdirAll(filepath.Join(dir, sub), mode); err != nil {
				return fmt.Errorf("repair snapshot %s: %w", e.Name(), err)
			}
		}
		s.snapshots[e.Name()] = &snapshotRecord{key: e.Name(), parent: meta.Parent}
	}
	return nil
}

// Layer returns the layer with the given chain ID. The error wraps
// errdefs.ErrNotFound when there is none.
func (s *Store) Layer(chainID digest.Digest) (Layer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	meta := s.layers[chainID]
	if meta == nil {
		return Layer{}, fmt.Errorf("layer %s: %w", chainID, errdefs.ErrNotFound)
	}
	return meta.layer(), nil
}

// Layers returns all layers, sorted by chain ID.
func (s *Store) Layers() []Layer {
	s.mu.Lock()
	defer s.mu.Unlock()

	layers := make([]Layer, 0, len(s.layers))
	for _, meta := range s.layers {
		layers = append(layers, meta.layer())
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].ChainID < layers[j].ChainID })
	return layers
}

// Snapshot returns the snapshot with the given key. The error wraps
// errdefs.ErrNotFound when there is none.
func (s *Store) Snapshot(key string) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	rec := s.snapshots[key]
	if rec == nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return Snapshot{Key: key, Parent: rec.parent}, nil
}

// Snapshots returns all snapshots, sorted by key.
func (s *Store) Snapshots() []Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()

	snapshots := make([]Snapshot, 0, len(s.snapshots))
	for key, rec := range s.snapshots {
		snapshots = append(snapshots, Snapshot{Key: key, Parent: rec.parent})
	}
	sort.Slice(snapshots, func(i, j int) bool { return snapshots[i].Key < snapshots[j].Key })
	return snapshots
}

// validKey reports whether key can name a snapshot directory: 1 to 255
// characters of [A-Za-z0-9_.-], starting with a letter or digit. The
// characters ',' and ':' are excluded because they separate overlay mount
// options.
//
// NOTE: a loop rather than a regexp, because the compiled form of the
// bounded repetition costs every berth process, shims included, about
// 240 KB of heap at start-up.
func validKey(key string) bool {
	if len(key) == 0 || len(key) > 255 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// linkAlphabet is the base32 alphabet without padding. Links are short so
// that the overlay option string of a deep image fits in one page.
const (
	linkAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	linkLength   = 12
)

func validLink(link string) bool {
	if len(link) != linkLength {
		return false
	}
	for _, c := range link {
		if !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func randomLink() string {
	b := make([]byte, linkLength)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	for i := range b {
		b[i] = linkAlphabet[int(b[i])%len(linkAlphabet)]
	}
	return string(b)
}

// linkTarget returns the relative target of a layer's short link.
func linkTarget(chainID digest.Digest) string {
	return filepath.Join("..", chainID.Encoded(), "diff")
}

// newTempDir creates a directory in layers/tmp.
func (s *Store) newTempDir() (string, error) {
	return os.MkdirTemp(s.tmpDir, "")
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}
