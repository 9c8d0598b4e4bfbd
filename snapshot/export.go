package snapshot

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/berth-engine/berth/internal/log"
)

// Export returns the whole root filesystem of snapshot key, its layers and
// its changes merged, as a tar. A snapshot that is not mounted is mounted
// while the tar is read and unmounted once it ends. Errors while reading
// surface from Read.
//
// NOTE: a container started while its snapshot is exported keeps the mount
// busy, so the unmount at the end fails and is only logged.
func (s *Store) Export(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.Snapshot(key); err != nil {
		return nil, fmt.Errorf("export %w", err)
	}
	mounted, err := isMountPoint(filepath.Join(s.snapshotDir(key), "merged"))
	if err != nil {
		return nil, fmt.Errorf("export snapshot %s: %w", key, err)
	}
	merged, err := s.Mount(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("export %w", err)
	}

	pr, pw := io.Pipe()
	go func() {
		// The merged view shows no whiteouts or opaque markers, so the diff
		// writer yields a plain tar of the whole tree.
		_, err := writeDiff(ctx, pw, merged)
		if err != nil {
			err = fmt.Errorf("export snapshot %s: %w", key, err)
		}
		if !mounted {
			if unmountErr := s.Unmount(context.WithoutCancel(ctx), key); unmountErr != nil {
				log.FromContext(ctx).Warn("failed to unmount exported snapshot", log.KeySnapshot, key, log.Err(unmountErr))
			}
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}
