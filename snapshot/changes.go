package snapshot

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/opencontainers/go-digest"
)

// ChangeKind describes how a path differs from the layers below a snapshot.
type ChangeKind int

// The kinds of change, in the order of Docker's container.ChangeType.
const (
	ChangeModify ChangeKind = iota
	ChangeAdd
	ChangeDelete
)

// Change is one path of a snapshot that differs from its layers.
type Change struct {
	Path string // absolute inside the root filesystem, such as "/etc/passwd"
	Kind ChangeKind
}

// Changes lists the paths that snapshot key adds, changes or deletes
// compared with its layers, sorted by path. A whiteout in the upper
// directory is a deletion, an entry that a lower layer has too a change,
// any other entry an addition. An opaque directory also deletes what the
// layers held beneath it. The snapshot may be mounted.
func (s *Store) Changes(ctx context.Context, key string) ([]Change, error) {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return nil, fmt.Errorf("changes %w", err)
	}
	upper := filepath.Join(s.snapshotDir(key), "upper")
	parent := s.parentOf(rec)
	rec.mu.Unlock()

	lowers, err := s.layerDiffDirs(parent)
	if err != nil {
		return nil, fmt.Errorf("changes of snapshot %s: %w", key, err)
	}
	var changes []Change
	seen := map[string]bool{}
	err = filepath.WalkDir(upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, path)
		if err != nil || rel == "." {
			return err
		}
		name := "/" + rel
		seen[name] = true
		info, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteoutInfo(info) {
			changes = append(changes, Change{Path: name, Kind: ChangeDelete})
			return nil
		}
		kind := ChangeAdd
		if existsBelow(lowers, rel) {
			kind = ChangeModify
		}
		changes = append(changes, Change{Path: name, Kind: kind})
		if d.IsDir() && kind == ChangeModify && isOpaque(path) {
			changes = append(changes, hiddenBelow(lowers, rel, upper)...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of snapshot %s: %w", key, err)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// layerDiffDirs returns the absolute diff directories of the layer
// parent and the layers below it, topmost first.
func (s *Store) layerDiffDirs(parent digest.Digest) ([]string, error) {
	links, err := s.lowerDirs(parent)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(links))
	for i, link := range links {
		dirs[i] = filepath.Join(s.layersDir, link)
	}
	return dirs, nil
}

// existsBelow reports whether the layers, topmost first, show rel: the
// topmost layer that has an entry for rel decides.
func existsBelow(lowers []string, rel string) bool {
	for _, dir := range lowers {
		info, err := os.Lstat(filepath.Join(dir, rel))
		if err != nil {
			continue
		}
		return !isWhiteoutInfo(info)
	}
	return false
}

// hiddenBelow returns deletions for what the layers show beneath the
// directory rel that the opaque upper directory does not have.
func hiddenBelow(lowers []string, rel, upper string) []Change {
	seen := map[string]bool{}
	var changes []Change
	for _, dir := range lowers {
		base := filepath.Join(dir, rel)
		_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil //nolint:nilerr // a layer without this directory hides nothing
			}
			sub, relErr := filepath.Rel(dir, path)
			if relErr != nil || path == base || seen[sub] {
				return nil
			}
			seen[sub] = true
			if _, err := os.Lstat(filepath.Join(upper, sub)); err == nil {
				return nil
			}
			if info, err := d.Info(); err == nil && !isWhiteoutInfo(info) {
				changes = append(changes, Change{Path: "/" + sub, Kind: ChangeDelete})
			}
			return nil
		})
	}
	return changes
}

// isWhiteoutInfo reports whether info is an overlay whiteout: a character
// device with device number 0/0.
func isWhiteoutInfo(info fs.FileInfo) bool {
	if info.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}
