package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/internal/rootarchive"
	"github.com/berth-engine/berth/volume"
)

// createMountPoints resolves the mounts of new container id and creates
// the volumes it names that do not exist yet, as Docker does at create
// time, and records id as their user. It returns the mount points and a
// function that undoes this, for a create that fails later.
func (e *Engine) createMountPoints(id string, config *container.Config, hc *container.HostConfig, hidden bool) ([]ctr.MountPoint, func(), error) {
	requests, err := e.collectMounts(config, hc, hidden)
	if err != nil {
		return nil, func() {}, err
	}
	var created, used []string
	undo := func() {
		for _, name := range used {
			e.volumes.RemoveUser(name, id)
		}
		for _, name := range created {
			if err := e.volumes.Remove(name, true); err != nil {
				log.FromContext(e.ctx).Warn("remove volume of a container that was not created", "volume", name, log.Err(err))
			}
		}
	}
	points := make([]ctr.MountPoint, 0, len(requests))
	for _, r := range requests {
		mp := r.MountPoint
		if mp.Type == mount.TypeVolume {
			v, isNew, err := e.volumes.CreateForUser(id, mp.Name, volume.LocalDriver, r.volumeLabels, r.volumeOptions)
			if err != nil {
				undo()
				return nil, func() {}, err
			}
			used = append(used, v.Name)
			if isNew && mp.Anonymous {
				created = append(created, v.Name)
			}
			mp.Name = v.Name
			mp.Driver = v.Driver
		}
		points = append(points, mp)
	}
	return points, undo, nil
}

// addVolumeUsers records that container id references its volumes.
func (e *Engine) addVolumeUsers(id string, points []ctr.MountPoint) {
	for _, mp := range points {
		if mp.Type != mount.TypeVolume {
			continue
		}
		if err := e.volumes.AddUser(mp.Name, id); err != nil {
			log.FromContext(e.ctx).Warn("volume of container is missing", log.KeyContainer, id, "volume", mp.Name, log.Err(err))
		}
	}
}

// releaseVolumes drops a removed container's references to its volumes
// and, with removeAnonymous, deletes its anonymous volumes that no other
// container uses, as rm -v and --rm do.
func (e *Engine) releaseVolumes(ctx context.Context, c *ctr.Container, removeAnonymous bool) {
	for _, mp := range c.MountPoints {
		if mp.Type != mount.TypeVolume {
			continue
		}
		e.volumes.RemoveUser(mp.Name, c.ID)
		if !removeAnonymous || !mp.Anonymous {
			continue
		}
		if err := e.volumes.Remove(mp.Name, true); err != nil {
			log.FromContext(ctx).Warn("keep anonymous volume of removed container", log.KeyContainer, c.ID,
				"volume", mp.Name, log.Err(err))
		}
	}
}

// sortedMountPoints orders mounts so that a mount comes after every mount
// whose destination contains it: by the number of path elements, as
// Docker sorts them.
func sortedMountPoints(points []ctr.MountPoint) []ctr.MountPoint {
	out := append([]ctr.MountPoint{}, points...)
	sort.SliceStable(out, func(i, j int) bool {
		return pathDepth(out[i].Destination) < pathDepth(out[j].Destination)
	})
	return out
}

func pathDepth(p string) int {
	p = path.Clean("/" + p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// parentMount returns the index in placed of the deepest mount whose
// destination contains dest, or -1.
func parentMount(placed []placedMount, dest string) int {
	best := -1
	for i, p := range placed {
		if strings.HasPrefix(dest, p.original+"/") && (best < 0 || len(p.original) > len(placed[best].original)) {
			best = i
		}
	}
	return best
}

// placedMount is a mount whose destination has been resolved.
type placedMount struct {
	original string // destination as requested
	resolved string // destination inside the root, free of symlinks
	source   string // host directory whose content appears there, "" for tmpfs
}

// setupMounts prepares the mounts of a starting container: it mounts its
// volumes, fills empty ones from the image, creates missing -v bind sources
// and the mount targets, and returns the OCI mounts in order. Targets are
// resolved inside rootfs, or inside the source of the mount that contains
// them, so that no symlink or ".." in a target leads out of the
// container's root. release undoes the volume mounts.
func (e *Engine) setupMounts(ctx context.Context, c *ctr.Container, rootfs string) (_ []specs.Mount, release func(), retErr error) {
	release = func() { e.unmountVolumes(ctx, c) }
	defer func() {
		if retErr != nil {
			release()
		}
	}()

	var placed []placedMount
	var out []specs.Mount
	for _, mp := range sortedMountPoints(c.MountPoints) {
		source, err := e.mountSource(c, mp)
		if err != nil {
			return nil, release, err
		}
		create := rootarchive.CreateDir
		if mp.Type == mount.TypeBind {
			if fi, err := os.Stat(source); err == nil && !fi.IsDir() {
				create = rootarchive.CreateFile
			}
		}

		var resolved string
		inRootfs := true
		if i := parentMount(placed, mp.Destination); i >= 0 {
			parent := placed[i]
			rel := strings.TrimPrefix(mp.Destination, parent.original)
			inRootfs = false
			if parent.source == "" {
				// The parent is a tmpfs, which exists only once the
				// container runs, so runc creates the target in it.
				resolved = path.Join(parent.resolved, rel)
			} else {
				sub, err := rootarchive.ResolveIn(parent.source, rel, create)
				if err != nil {
					return nil, release, fmt.Errorf("create mount target %s: %w", mp.Destination, err)
				}
				resolved = path.Join(parent.resolved, sub)
			}
		} else {
			resolved, err = rootarchive.ResolveIn(rootfs, mp.Destination, create)
			if err != nil {
				return nil, release, fmt.Errorf("create mount target %s: %w", mp.Destination, err)
			}
		}

		if mp.Type == mount.TypeVolume && mp.CopyData && inRootfs && e.volumes.IsEmpty(mp.Name) {
			if err := copyUp(rootfs, resolved, source); err != nil {
				return nil, release, fmt.Errorf("copy image content at %s into volume %s: %w", mp.Destination, mp.Name, err)
			}
		}
		out = append(out, ociMount(mp, source, resolved))
		if mp.Type == mount.TypeTmpfs {
			source = ""
		}
		placed = append(placed, placedMount{original: mp.Destination, resolved: resolved, source: source})
	}
	return out, release, nil
}

// mountSource returns the host path of a mount, mounting a volume's device
// or creating a missing -v bind source.
func (e *Engine) mountSource(c *ctr.Container, mp ctr.MountPoint) (string, error) {
	switch mp.Type {
	case mount.TypeVolume:
		return e.volumes.Mount(mp.Name, c.ID)
	case mount.TypeBind:
		_, err := os.Stat(mp.Source)
		if errors.Is(err, fs.ErrNotExist) && mp.CreateSource {
			err = os.MkdirAll(mp.Source, 0o755)
		}
		if err != nil {
			return "", fmt.Errorf("invalid mount config for type \"bind\": bind source path does not exist: %s", mp.Source)
		}
		return mp.Source, nil
	}
	return "tmpfs", nil
}

// ociMount returns the runtime spec mount of mp at destination.
func ociMount(mp ctr.MountPoint, source, destination string) specs.Mount {
	var options []string
	switch mp.Type {
	case mount.TypeTmpfs:
		options = []string{"noexec", "nosuid", "nodev"}
		if mp.TmpfsOptions != "" {
			options = append(options, strings.Split(mp.TmpfsOptions, ",")...)
		}
		if !mp.RW {
			options = append(options, "ro")
		}
		return specs.Mount{Destination: destination, Type: "tmpfs", Source: "tmpfs", Options: options}
	default:
		propagation := string(mp.Propagation)
		if propagation == "" {
			propagation = string(mount.PropagationRPrivate)
		}
		options = []string{"rbind", propagation}
		if !mp.RW {
			options = append(options, "ro")
		}
		return specs.Mount{Destination: destination, Type: "bind", Source: source, Options: options}
	}
}

// copyUp copies the content of dir inside rootfs into the volume
// directory target, keeping owners and modes, as Docker fills a new
// volume. A missing or non-directory dir copies nothing.
func copyUp(rootfs, dir, target string) error {
	st, err := rootarchive.StatPath(rootfs, dir+"/")
	if err != nil || !st.Mode.IsDir() {
		return nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(rootarchive.WriteTar(rootfs, dir+"/.", pw))
	}()
	err = rootarchive.Extract(target, "/", pr, rootarchive.ExtractOptions{Chown: true})
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	// Extract leaves the top directory alone, and the volume takes its
	// owner and mode from the image's directory, as in Docker. The
	// container does not run yet and dir was resolved free of symlinks,
	// so the joined path stays inside rootfs.
	var dirStat unix.Stat_t
	if err := unix.Lstat(filepath.Join(rootfs, dir), &dirStat); err != nil {
		return err
	}
	if err := os.Lchown(target, int(dirStat.Uid), int(dirStat.Gid)); err != nil {
		return err
	}
	return unix.Chmod(target, dirStat.Mode&0o7777)
}

// unmountVolumes undoes the volume mounts of a container whose process is
// gone. It is safe to call more than once.
func (e *Engine) unmountVolumes(ctx context.Context, c *ctr.Container) {
	for _, mp := range c.MountPoints {
		if mp.Type != mount.TypeVolume {
			continue
		}
		if err := e.volumes.Unmount(mp.Name, c.ID); err != nil {
			log.FromContext(ctx).Warn("unmount volume", log.KeyContainer, c.ID, "volume", mp.Name, log.Err(err))
		}
	}
}

// restoreVolumes rebuilds the references of containers to volumes after a
// daemon start and unmounts the volume devices that no running container
// uses any more.
func (e *Engine) restoreVolumes(ctx context.Context) {
	for _, c := range e.containers.List() {
		c.Lock()
		points := c.MountPoints
		running := c.State.IsRunning()
		c.Unlock()
		e.addVolumeUsers(c.ID, points)
		if !running {
			continue
		}
		for _, mp := range points {
			if mp.Type != mount.TypeVolume {
				continue
			}
			if _, err := e.volumes.Mount(mp.Name, c.ID); err != nil {
				log.FromContext(ctx).Warn("mount volume of running container", log.KeyContainer, c.ID,
					"volume", mp.Name, log.Err(err))
			}
		}
	}
	for _, err := range e.volumes.UnmountIdle() {
		log.FromContext(ctx).Warn("unmount unused volume", log.Err(err))
	}
}

// apiMountPoints returns the Mounts of inspect and ps.
func (e *Engine) apiMountPoints(c *ctr.Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, mp := range c.MountPoints {
		if mp.FromTmpfsFlag {
			continue
		}
		m := container.MountPoint{
			Type:        mp.Type,
			Name:        mp.Name,
			Source:      mp.Source,
			Destination: mp.Destination,
			Driver:      mp.Driver,
			Mode:        mp.Mode,
			RW:          mp.RW,
			Propagation: mp.Propagation,
		}
		if mp.Type == mount.TypeVolume {
			m.Source = e.volumes.Path(mp.Name)
		}
		out = append(out, m)
	}
	return out
}

// usesVolume reports whether c mounts volume value, given by name or by
// destination, for ps --filter volume=.
func usesVolume(c *ctr.Container, value string) bool {
	for _, mp := range c.MountPoints {
		if mp.Name == value || mp.Destination == value || (mp.Type == mount.TypeBind && mp.Source == value) {
			return true
		}
	}
	return false
}
