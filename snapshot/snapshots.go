package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

// Prepare creates the read-write snapshot key on top of the layer parent.
// With parent "" the snapshot starts as an empty root filesystem. The error
// wraps errdefs.ErrAlreadyExists when key is taken, errdefs.ErrNotFound when
// parent does not exist and errdefs.ErrInvalidArgument when key is not a
// valid name: 1 to 255 characters from [A-Za-z0-9_.-], not starting with
// '.', '_' or '-'.
func (s *Store) Prepare(ctx context.Context, key string, parent digest.Digest) error {
	if !validKey(key) {
		return fmt.Errorf("prepare snapshot %q: %w: invalid key: use 1 to 255 characters from [A-Za-z0-9_.-], starting with a letter or digit",
			key, errdefs.ErrInvalidArgument)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if s.snapshots[key] != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, errdefs.ErrAlreadyExists)
	}
	if parent != "" && s.layers[parent] == nil {
		return fmt.Errorf("prepare snapshot %s: parent layer %s: %w", key, parent, errdefs.ErrNotFound)
	}

	tmp, err := os.MkdirTemp(s.snapshotsDir, ".tmp-")
	if err != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, err)
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // no-op once renamed

	if err := createSnapshotDirs(tmp, parent); err != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, err)
	}
	meta := snapshotMetadata{Parent: parent}
	if err := atomicfile.WriteJSON(filepath.Join(tmp, "snapshot.json"), meta, 0o600); err != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, err)
	}
	if err := os.Rename(tmp, s.snapshotDir(key)); err != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, err)
	}
	if err := atomicfile.SyncDir(s.snapshotsDir); err != nil {
		return fmt.Errorf("prepare snapshot %s: %w", key, err)
	}

	s.snapshots[key] = &snapshotRecord{key: key, parent: parent}
	log.FromContext(ctx).Debug("snapshot prepared", log.KeySnapshot, key, "parent", parent)
	return nil
}

func createSnapshotDirs(dir string, parent digest.Digest) error {
	dirs := map[string]os.FileMode{"upper": 0o755, "work": 0o700, "merged": 0o755}
	if parent == "" {
		dirs["empty"] = 0o755
	}
	for name, mode := range dirs {
		if err := os.Mkdir(filepath.Join(dir, name), mode); err != nil {
			return err
		}
	}
	return nil
}

// lockSnapshot returns the record of key with its mutex held.
func (s *Store) lockSnapshot(key string) (*snapshotRecord, error) {
	s.mu.Lock()
	rec := s.snapshots[key]
	s.mu.Unlock()

	if rec == nil {
		return nil, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	rec.mu.Lock()
	if rec.removed {
		rec.mu.Unlock()
		return nil, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return rec, nil
}

func (s *Store) parentOf(rec *snapshotRecord) digest.Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rec.parent
}

// Mount mounts the overlay of snapshot key at snapshots/<key>/merged and
// returns that path. Mounting a mounted snapshot returns the path again.
func (s *Store) Mount(ctx context.Context, key string) (string, error) {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return "", fmt.Errorf("mount %w", err)
	}
	defer rec.mu.Unlock()

	dir := s.snapshotDir(key)
	merged := filepath.Join(dir, "merged")
	mounted, err := isMountPoint(merged)
	if err != nil {
		return "", fmt.Errorf("mount snapshot %s: %w", key, err)
	}
	if mounted {
		return merged, nil
	}

	// Paths are relative to layers/, where the mount runs.
	snapshotRel := filepath.Join("..", "snapshots", key)
	var lowerDirs []string
	if parent := s.parentOf(rec); parent != "" {
		if lowerDirs, err = s.lowerDirs(parent); err != nil {
			return "", fmt.Errorf("mount snapshot %s: %w", key, err)
		}
	} else {
		// Overlay needs a lower directory, so an empty rootfs gets an empty one.
		if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
			return "", fmt.Errorf("mount snapshot %s: %w", key, err)
		}
		lowerDirs = []string{filepath.Join(snapshotRel, "empty")}
	}

	upperDir := filepath.Join(snapshotRel, "upper")
	workDir := filepath.Join(snapshotRel, "work")
	if err := mountOverlay(s.layersDir, merged, lowerDirs, upperDir, workDir); err != nil {
		return "", fmt.Errorf("mount snapshot %s: %w", key, err)
	}
	log.FromContext(ctx).Debug("snapshot mounted", log.KeySnapshot, key, "layers", len(lowerDirs))
	return merged, nil
}

// Unmount unmounts snapshot key if it is mounted. The error wraps
// errdefs.ErrConflict when the mount is busy.
func (s *Store) Unmount(ctx context.Context, key string) error {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return fmt.Errorf("unmount %w", err)
	}
	defer rec.mu.Unlock()

	if err := unmount(filepath.Join(s.snapshotDir(key), "merged"), false); err != nil {
		return fmt.Errorf("unmount snapshot %s: %w", key, err)
	}
	log.FromContext(ctx).Debug("snapshot unmounted", log.KeySnapshot, key)
	return nil
}

// Diff returns the changes of snapshot key as an OCI layer tar, in the same
// byte stream Commit hashes for the DiffID. The snapshot may be mounted.
// Errors while reading the snapshot surface from Read.
//
// NOTE: a running container can change its files while Diff reads them.
// Pause it first for a consistent tar.
func (s *Store) Diff(ctx context.Context, key string) (io.ReadCloser, error) {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return nil, fmt.Errorf("diff %w", err)
	}
	upper := filepath.Join(s.snapshotDir(key), "upper")
	rec.mu.Unlock()

	pr, pw := io.Pipe()
	go func() {
		_, err := writeDiff(ctx, pw, upper)
		if err != nil {
			err = fmt.Errorf("diff snapshot %s: %w", key, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// Commit turns the changes of snapshot key into a new layer on top of the
// snapshot's parent, like CommitTo with no copy of the tar.
func (s *Store) Commit(ctx context.Context, key string) (Layer, error) {
	return s.CommitTo(ctx, key, io.Discard)
}

// CommitTo turns the changes of snapshot key into a new layer on top of the
// snapshot's parent and writes the layer's OCI tar, the bytes hashed for its
// DiffID, to w. It unmounts the snapshot and moves the upper directory into
// the layer instead of copying it. Afterwards the snapshot is based on the
// new layer with an empty upper directory, so it shows the same files as
// before. When a layer with the same chain ID exists, the snapshot is based
// on that layer and its changes are dropped.
//
// No process may use the snapshot: stop the container first. A mount that
// is busy in this mount namespace yields an error wrapping
// errdefs.ErrConflict, but a container's own mount namespace keeps a
// running container's root filesystem alive where Commit cannot see it.
func (s *Store) CommitTo(ctx context.Context, key string, w io.Writer) (Layer, error) {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return Layer{}, fmt.Errorf("commit %w", err)
	}
	defer rec.mu.Unlock()

	dir := s.snapshotDir(key)
	upper := filepath.Join(dir, "upper")
	if err := unmount(filepath.Join(dir, "merged"), false); err != nil {
		return Layer{}, fmt.Errorf("commit snapshot %s: %w", key, err)
	}

	parent := s.parentOf(rec)
	digester := digest.SHA256.Digester()
	if _, err := writeDiff(ctx, io.MultiWriter(digester.Hash(), w), upper); err != nil {
		return Layer{}, fmt.Errorf("commit snapshot %s: %w", key, err)
	}
	diffID := digester.Digest()

	layer, err := s.moveUpperToLayer(ctx, upper, &layerMetadata{
		ChainID: ChainID(parent, diffID),
		DiffID:  diffID,
		Parent:  parent,
	})
	if err != nil {
		return Layer{}, fmt.Errorf("commit snapshot %s: %w", key, err)
	}

	if err := s.rebase(rec, layer.ChainID); err != nil {
		return Layer{}, fmt.Errorf("commit snapshot %s: %w", key, err)
	}
	log.FromContext(ctx).Debug("snapshot committed", log.KeySnapshot, key, "layer", layer.ChainID)
	return layer, nil
}

// moveUpperToLayer renames the upper directory into a temporary layer
// directory and publishes it. On failure the upper directory is moved back.
func (s *Store) moveUpperToLayer(ctx context.Context, upper string, meta *layerMetadata) (Layer, error) {
	tmp, err := s.newTempDir()
	if err != nil {
		return Layer{}, err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // no-op once the layer is published

	diffDir := filepath.Join(tmp, "diff")
	if err := os.Rename(upper, diffDir); err != nil {
		return Layer{}, err
	}

	layer, err := s.finishMovedLayer(ctx, tmp, meta)
	if err != nil {
		if restoreErr := os.Rename(diffDir, upper); restoreErr != nil {
			log.FromContext(ctx).Error("restoring upper directory after failed commit",
				"path", upper, log.Err(restoreErr))
		}
		return Layer{}, err
	}
	return layer, nil
}

func (s *Store) finishMovedLayer(ctx context.Context, tmp string, meta *layerMetadata) (Layer, error) {
	diffDir := filepath.Join(tmp, "diff")
	if err := stripOverlayXattrs(ctx, diffDir); err != nil {
		return Layer{}, err
	}

	size, err := dirSize(ctx, diffDir)
	if err != nil {
		return Layer{}, err
	}
	meta.Size = size
	return s.publishLayer(ctx, tmp, meta)
}

// rebase bases the snapshot on the layer parent with fresh upper and work
// directories.
func (s *Store) rebase(rec *snapshotRecord, parent digest.Digest) error {
	dir := s.snapshotDir(rec.key)
	if err := os.Mkdir(filepath.Join(dir, "upper"), 0o755); err != nil {
		return err
	}
	work := filepath.Join(dir, "work")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}

	meta := snapshotMetadata{Parent: parent}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "snapshot.json"), meta, 0o600); err != nil {
		return err
	}

	s.mu.Lock()
	rec.parent = parent
	s.mu.Unlock()
	return nil
}

// Remove unmounts and deletes snapshot key. Removing a snapshot that does not
// exist succeeds. A busy mount is detached lazily.
func (s *Store) Remove(ctx context.Context, key string) error {
	s.mu.Lock()
	rec := s.snapshots[key]
	s.mu.Unlock()
	if rec == nil {
		return nil
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.removed {
		return nil
	}

	dir := s.snapshotDir(key)
	merged := filepath.Join(dir, "merged")
	if err := unmount(merged, true); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	// Deleting through a mount would delete the container's files one by one
	// and write whiteouts, so make sure nothing is mounted any more.
	mounted, err := isMountPoint(merged)
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	if mounted {
		return fmt.Errorf("remove snapshot %s: %w: %s is still mounted", key, errdefs.ErrConflict, merged)
	}

	tmp, err := os.MkdirTemp(s.snapshotsDir, ".tmp-")
	if err != nil {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	// A missing directory was removed by someone else, so only the record
	// is left to drop.
	if err := os.Rename(dir, filepath.Join(tmp, "snapshot")); err != nil && !isNotExist(err) {
		_ = os.Remove(tmp)
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}

	s.mu.Lock()
	delete(s.snapshots, key)
	s.mu.Unlock()
	rec.removed = true

	if err := os.RemoveAll(tmp); err != nil {
		// The snapshot is gone from the store, and New removes the rest.
		log.FromContext(ctx).Warn("removing snapshot files", log.KeySnapshot, key, log.Err(err))
	}
	log.FromContext(ctx).Debug("snapshot removed", log.KeySnapshot, key)
	return nil
}

// Size returns the bytes used by the changes of snapshot key: the sizes of
// all non-directory entries in its upper directory, hard links counted once.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return 0, fmt.Errorf("size of %w", err)
	}
	defer rec.mu.Unlock()

	size, err := dirSize(ctx, filepath.Join(s.snapshotDir(key), "upper"))
	if err != nil {
		return 0, fmt.Errorf("size of snapshot %s: %w", key, err)
	}
	return size, nil
}

// DiscardChanges drops what the snapshot's upper layer holds below each
// directory in paths, so that the committed diff leaves those directories
// as the lower layers have them. The directories themselves stay, without
// an opaque marker. Docker's classic builder gets this result for the
// VOLUME paths of a RUN, whose writes go to volumes instead of the layer.
// The snapshot must not be mounted.
func (s *Store) DiscardChanges(ctx context.Context, key string, paths ...string) error {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return fmt.Errorf("discard changes %w", err)
	}
	defer rec.mu.Unlock()

	upper := filepath.Join(s.snapshotDir(key), "upper")
	for _, p := range paths {
		clean := filepath.Clean("/" + p)
		if clean == "/" {
			continue
		}
		target := filepath.Join(upper, clean)
		info, err := os.Lstat(target)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("discard changes below %s in snapshot %s: %w", p, key, err)
		}
		if !info.IsDir() {
			// A file or whiteout replaced the directory: the volume path
			// itself is not something the build step may change.
			if err := os.Remove(target); err != nil {
				return fmt.Errorf("discard changes below %s in snapshot %s: %w", p, key, err)
			}
			continue
		}
		entries, err := os.ReadDir(target)
		if err != nil {
			return fmt.Errorf("discard changes below %s in snapshot %s: %w", p, key, err)
		}
		for _, entry := range entries {
			if err := os.RemoveAll(filepath.Join(target, entry.Name())); err != nil {
				return fmt.Errorf("discard changes below %s in snapshot %s: %w", p, key, err)
			}
		}
		if err := unix.Lremovexattr(target, opaqueXattr); err != nil &&
			!errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("discard changes below %s in snapshot %s: %w", p, key, err)
		}
		log.FromContext(ctx).Debug("discarded snapshot changes", log.KeySnapshot, key, "path", p)
	}
	return nil
}

// DropMountPoints removes each of paths (relative to the root, such as
// "etc/hosts") from the upper directory of an unmounted snapshot when it is
// an empty regular file. The OCI runtime creates such files as targets for
// bind mounts that the image lacks, and they must not end up in a layer
// committed from the snapshot.
func (s *Store) DropMountPoints(ctx context.Context, key string, paths ...string) error {
	rec, err := s.lockSnapshot(key)
	if err != nil {
		return fmt.Errorf("drop mount points %w", err)
	}
	defer rec.mu.Unlock()

	upper := filepath.Join(s.snapshotDir(key), "upper")
	for _, p := range paths {
		target := filepath.Join(upper, filepath.Clean("/"+p))
		info, err := os.Lstat(target)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("drop mount point %s of snapshot %s: %w", p, key, err)
		}
		if !info.Mode().IsRegular() || info.Size() != 0 {
			continue
		}
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("drop mount point %s of snapshot %s: %w", p, key, err)
		}
		log.FromContext(ctx).Debug("dropped mount point from snapshot", log.KeySnapshot, key, "path", p)
	}
	return nil
}
