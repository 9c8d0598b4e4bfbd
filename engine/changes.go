package engine

import (
	"context"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/snapshot"
)

// ContainerChanges lists the files the container added, changed or deleted
// compared with its image, sorted by path.
func (e *Engine) ContainerChanges(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	c, err := e.get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	key := c.SnapshotKey
	c.Unlock()
	changes, err := e.snapshots.Changes(ctx, key)
	if err != nil {
		return nil, err
	}
	changes = hideMountPoints(changes)
	out := make([]container.FilesystemChange, 0, len(changes))
	for _, ch := range changes {
		kind := container.ChangeModify
		switch ch.Kind {
		case snapshot.ChangeAdd:
			kind = container.ChangeAdd
		case snapshot.ChangeDelete:
			kind = container.ChangeDelete
		}
		out = append(out, container.FilesystemChange{Path: ch.Path, Kind: kind})
	}
	return out, nil
}

// mountPointFiles are the files berth bind mounts into every container.
// berth creates their mount points in the writable layer, and Docker in a
// separate init layer, so they are not changes made by the container.
var mountPointFiles = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

// hideMountPoints drops the mount point files from the sorted changes, and
// /etc too when nothing else beneath it changed.
//
// NOTE: a chmod or chown of /etc alone is hidden as well.
func hideMountPoints(changes []snapshot.Change) []snapshot.Change {
	remaining := changes[:0]
	etcChanged := false
	for _, ch := range changes {
		if mountPointFiles[ch.Path] {
			continue
		}
		if strings.HasPrefix(ch.Path, "/etc/") {
			etcChanged = true
		}
		remaining = append(remaining, ch)
	}
	if etcChanged {
		return remaining
	}
	out := remaining[:0]
	for _, ch := range remaining {
		if ch.Path == "/etc" && ch.Kind == snapshot.ChangeModify {
			continue
		}
		out = append(out, ch)
	}
	return out
}
