package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/internal/rootarchive"
	"github.com/berth-engine/berth/runtime/spec"
)

// withRootfs calls fn with the path of container ref's mounted root
// filesystem. For a running container that is /proc/PID/root, the root as
// its processes see it, so paths in volumes and bind mounts reach the
// mounted data. A container without a process gets its snapshot mounted
// for the call and unmounted afterwards. Its op lock is held throughout, so
// it cannot start meanwhile and have its root unmounted under it.
// NOTE: for a stopped container, paths below a volume or bind mount reach
// the mount point in the snapshot, not the mounted data.
func (e *Engine) withRootfs(ctx context.Context, ref string, fn func(c *ctr.Container, root string) error) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}

	t := e.task(c.ID)
	t.op.Lock()
	c.Lock()
	status, pid := c.State.Status, c.State.Pid
	c.Unlock()
	switch status {
	case ctr.Removing, ctr.Dead:
		t.op.Unlock()
		return fmt.Errorf("container %s is marked for removal: %w", c.ID, errdefs.ErrConflict)
	case ctr.Running, ctr.Paused, ctr.Restarting:
		t.op.Unlock()
		if pid > 0 && status != ctr.Restarting {
			return fn(c, fmt.Sprintf("/proc/%d/root", pid))
		}
		root, err := e.snapshots.Mount(ctx, c.SnapshotKey)
		if err != nil {
			return fmt.Errorf("mount root filesystem: %w", err)
		}
		return fn(c, root)
	}

	defer t.op.Unlock()
	root, err := e.snapshots.Mount(ctx, c.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mount root filesystem: %w", err)
	}
	defer func() {
		if err := e.snapshots.Unmount(context.WithoutCancel(ctx), c.SnapshotKey); err != nil {
			log.FromContext(ctx).Warn("unmount root filesystem", log.KeyContainer, c.ID, log.Err(err))
		}
	}()
	return fn(c, root)
}

// ContainerStatPath describes path p in container ref without following a
// final symlink. Paths resolve inside the container's root.
func (e *Engine) ContainerStatPath(ctx context.Context, ref, p string) (container.PathStat, error) {
	var stat container.PathStat
	err := e.withRootfs(ctx, ref, func(c *ctr.Container, root string) error {
		st, err := rootarchive.StatPath(root, p)
		if err != nil {
			return containerPathErr(ref, p, err)
		}
		stat = container.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, LinkTarget: st.LinkTarget}
		return nil
	})
	return stat, err
}

// ContainerArchivePath checks path p in container ref, calls start with its
// description and then writes it to the writer start returns as a tar.
func (e *Engine) ContainerArchivePath(ctx context.Context, ref, p string, start func(container.PathStat) (io.Writer, error)) error {
	return e.withRootfs(ctx, ref, func(c *ctr.Container, root string) error {
		st, err := rootarchive.StatPath(root, p)
		if err != nil {
			return containerPathErr(ref, p, err)
		}
		w, err := start(container.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, LinkTarget: st.LinkTarget})
		if err != nil {
			return err
		}
		return rootarchive.WriteTar(root, p, w)
	})
}

// ContainerExtractToDir unpacks the tar r into directory p of container
// ref. Every entry stays inside the container's root.
func (e *Engine) ContainerExtractToDir(ctx context.Context, ref, p string, noOverwriteDirNonDir, copyUIDGID bool, r io.Reader) error {
	return e.withRootfs(ctx, ref, func(c *ctr.Container, root string) error {
		opts := rootarchive.ExtractOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, Chown: true}
		c.Lock()
		user := c.Config.User
		c.Unlock()
		// With copyUIDGID the files go to the container's configured user,
		// as in Docker Engine. Without a configured user, and without
		// copyUIDGID, they keep the archive's owners.
		if copyUIDGID && user != "" {
			// NOTE: Docker Engine (daemon/archive_tarcopyoptions_unix.go)
			// looks user and group names up in the host's databases. berth reads the container's /etc/passwd and
			// /etc/group, which gives the same ids for numeric users.
			u, err := spec.ResolveUser(root, user)
			if err != nil {
				return err
			}
			opts.Owner = &rootarchive.Owner{UID: int(u.UID), GID: int(u.GID)}
		}
		if err := rootarchive.Extract(root, p, r, opts); err != nil {
			return containerPathErr(ref, p, err)
		}
		return nil
	})
}

// containerPathErr rewords a missing path error the way Docker does.
func containerPathErr(ref, p string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("Could not find the file %s in container %s: %w", p, ref, errdefs.ErrNotFound)
	}
	return err
}
