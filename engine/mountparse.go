package engine

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/volume"
)

// mountRequest is one mount of a create request before its volume exists,
// with the labels and driver options for a volume that --mount creates.
type mountRequest struct {
	ctr.MountPoint
	volumeLabels  map[string]string
	volumeOptions map[string]string
}

func invalidMount(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// checkMountTarget applies Docker's rules to a container path.
func checkMountTarget(spec, mountType, target string) error {
	if target == "" {
		return invalidMount("invalid mount config for type %q: field Target must not be empty", mountType)
	}
	if !path.IsAbs(target) {
		return invalidMount("invalid volume specification: '%s': invalid mount config for type %q: "+
			"invalid mount path: '%s' mount path must be absolute", spec, mountType, target)
	}
	if path.Clean(target) == "/" {
		return invalidMount("invalid specification: destination can't be '/'")
	}
	return nil
}

// parseBind parses one HostConfig.Binds entry: SOURCE:TARGET[:MODE], where
// SOURCE is an absolute host path (a bind mount) or a volume name, or a
// TARGET alone (an anonymous volume).
func parseBind(spec string) (mountRequest, error) {
	parts := strings.Split(spec, ":")
	var source, target, mode string
	switch len(parts) {
	case 1:
		target = parts[0]
	case 2:
		source, target = parts[0], parts[1]
	case 3:
		source, target, mode = parts[0], parts[1], parts[2]
	default:
		return mountRequest{}, invalidMount("invalid volume specification: '%s'", spec)
	}
	if len(parts) > 1 && source == "" {
		return mountRequest{}, invalidMount("invalid volume specification: '%s'", spec)
	}

	m := mountRequest{MountPoint: ctr.MountPoint{Destination: path.Clean(target), RW: true, Mode: mode}}
	switch {
	case source == "":
		m.Type = mount.TypeVolume
		m.Anonymous = true
		m.CopyData = true
	case path.IsAbs(source):
		m.Type = mount.TypeBind
		m.Source = path.Clean(source)
		m.CreateSource = true
		m.Propagation = mount.PropagationRPrivate
	default:
		m.Type = mount.TypeVolume
		m.Name = source
		m.CopyData = true
	}
	if err := checkMountTarget(spec, string(m.Type), target); err != nil {
		return mountRequest{}, err
	}

	for _, opt := range strings.Split(mode, ",") {
		switch opt {
		case "":
		case "ro":
			m.RW = false
		case "rw":
			m.RW = true
		case "z", "Z":
			// SELinux relabelling. berth runs no SELinux policy, so
			// there is nothing to relabel.
		case "nocopy":
			if m.Type != mount.TypeVolume {
				return mountRequest{}, invalidMount("invalid mode: %s", mode)
			}
			m.CopyData = false
		case "consistent", "cached", "delegated":
			// Docker for Mac options that Linux ignores.
		default:
			p := mount.Propagation(opt)
			if !slices.Contains(mount.Propagations, p) || m.Type != mount.TypeBind {
				return mountRequest{}, invalidMount("invalid mode: %s", mode)
			}
			m.Propagation = p
		}
	}
	if m.Type == mount.TypeVolume && m.Mode == "" {
		m.Mode = "z"
	}
	return m, nil
}

// parseMount checks one HostConfig.Mounts entry, with the messages of
// Docker Engine's mount validation.
func parseMount(mnt mount.Mount) (mountRequest, error) {
	typ := string(mnt.Type)
	spec := typ + ":" + mnt.Target
	if err := checkMountTarget(spec, typ, mnt.Target); err != nil {
		return mountRequest{}, err
	}
	m := mountRequest{MountPoint: ctr.MountPoint{
		Type:        mnt.Type,
		Destination: path.Clean(mnt.Target),
		RW:          !mnt.ReadOnly,
	}}
	if mnt.Type != mount.TypeBind && mnt.BindOptions != nil {
		return mountRequest{}, invalidMount("invalid mount config for type %q: bind options must not be set for type %q", typ, typ)
	}
	if mnt.Type != mount.TypeVolume && mnt.VolumeOptions != nil {
		return mountRequest{}, invalidMount("invalid mount config for type %q: volume options must not be set for type %q", typ, typ)
	}
	if mnt.Type != mount.TypeTmpfs && mnt.TmpfsOptions != nil {
		return mountRequest{}, invalidMount("invalid mount config for type %q: tmpfs options must not be set for type %q", typ, typ)
	}

	switch mnt.Type {
	case mount.TypeBind:
		if mnt.Source == "" {
			return mountRequest{}, invalidMount("invalid mount config for type \"bind\": field Source must not be empty")
		}
		if !path.IsAbs(mnt.Source) {
			return mountRequest{}, invalidMount("invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", mnt.Source)
		}
		m.Source = path.Clean(mnt.Source)
		m.Propagation = mount.PropagationRPrivate
		if opts := mnt.BindOptions; opts != nil {
			if opts.Propagation != "" {
				if !slices.Contains(mount.Propagations, opts.Propagation) {
					return mountRequest{}, invalidMount("invalid mount config for type \"bind\": invalid propagation mode: %s", opts.Propagation)
				}
				m.Propagation = opts.Propagation
			}
			m.CreateSource = opts.CreateMountpoint
		}
		if !m.CreateSource {
			if _, err := os.Stat(m.Source); err != nil {
				return mountRequest{}, invalidMount("invalid mount config for type \"bind\": bind source path does not exist: %s", m.Source)
			}
		}
	case mount.TypeVolume:
		m.Name = mnt.Source
		m.Anonymous = mnt.Source == ""
		m.CopyData = true
		m.Mode = "z"
		if opts := mnt.VolumeOptions; opts != nil {
			m.CopyData = !opts.NoCopy
			m.volumeLabels = opts.Labels
			if opts.Subpath != "" {
				return mountRequest{}, fmt.Errorf("volume subpaths are not supported by berth: %w", errdefs.ErrNotImplemented)
			}
			if d := opts.DriverConfig; d != nil {
				if d.Name != "" && d.Name != volume.LocalDriver {
					return mountRequest{}, fmt.Errorf("volume driver %q is not supported by berth; only %q is: %w",
						d.Name, volume.LocalDriver, errdefs.ErrNotFound)
				}
				m.volumeOptions = d.Options
			}
		}
	case mount.TypeTmpfs:
		if mnt.Source != "" {
			return mountRequest{}, invalidMount("invalid mount config for type \"tmpfs\": field Source must not be specified")
		}
		m.TmpfsOptions = tmpfsData(mnt.TmpfsOptions)
	default:
		return mountRequest{}, invalidMount("invalid mount config for type %q: mount type unknown", typ)
	}
	return m, nil
}

// tmpfsData turns TmpfsOptions into tmpfs mount data: size in bytes and
// the mode in octal.
func tmpfsData(opts *mount.TmpfsOptions) string {
	if opts == nil {
		return ""
	}
	var data []string
	if opts.SizeBytes > 0 {
		data = append(data, "size="+strconv.FormatInt(opts.SizeBytes, 10))
	}
	if opts.Mode != 0 {
		mode := uint64(opts.Mode.Perm())
		if opts.Mode&os.ModeSticky != 0 {
			mode |= 0o1000
		}
		data = append(data, "mode="+strconv.FormatUint(mode, 8))
	}
	for _, o := range opts.Options {
		data = append(data, strings.Join(o, "="))
	}
	return strings.Join(data, ",")
}

// parseTmpfs turns one HostConfig.Tmpfs entry into a mount.
func parseTmpfs(target, options string) (mountRequest, error) {
	if err := checkMountTarget("tmpfs:"+target, "tmpfs", target); err != nil {
		return mountRequest{}, err
	}
	m := mountRequest{MountPoint: ctr.MountPoint{
		Type:          mount.TypeTmpfs,
		Destination:   path.Clean(target),
		RW:            true,
		FromTmpfsFlag: true,
	}}
	var data []string
	for _, o := range strings.Split(options, ",") {
		switch o {
		case "":
		case "ro":
			m.RW = false
		case "rw":
			m.RW = true
		default:
			data = append(data, o)
		}
	}
	m.TmpfsOptions = strings.Join(data, ",")
	return m, nil
}

// parseVolumesFrom reads one VolumesFrom entry: CONTAINER[:ro|rw].
func parseVolumesFrom(spec string) (ref, mode string, err error) {
	ref, mode, _ = strings.Cut(spec, ":")
	if ref == "" {
		return "", "", invalidMount("invalid volumes-from specification: '%s'", spec)
	}
	switch mode {
	case "", "ro", "rw", "z", "Z", "ro,z", "rw,z", "ro,Z", "rw,Z":
		return ref, mode, nil
	}
	return "", "", invalidMount("invalid mode: %s", mode)
}

// collectMounts gathers the mounts of a new container in Docker's order of
// precedence: --volumes-from first, replaced by Binds, Mounts and Tmpfs on
// the same destination, then the anonymous volumes of Config.Volumes (the
// image's VOLUME and -v /path) where nothing else is mounted. Two mounts
// of the request on one destination are an error.
func (e *Engine) collectMounts(config *container.Config, hc *container.HostConfig, hidden bool) ([]mountRequest, error) {
	byDest := map[string]int{}
	var out []mountRequest
	add := func(m mountRequest, replace bool) error {
		if i, ok := byDest[m.Destination]; ok {
			if !replace {
				return invalidMount("Duplicate mount point: %s", m.Destination)
			}
			out[i] = m
			return nil
		}
		byDest[m.Destination] = len(out)
		out = append(out, m)
		return nil
	}

	for _, spec := range hc.VolumesFrom {
		ref, mode, err := parseVolumesFrom(spec)
		if err != nil {
			return nil, err
		}
		from, err := e.get(ref)
		if err != nil {
			return nil, err
		}
		from.Lock()
		points := slices.Clone(from.MountPoints)
		from.Unlock()
		for _, mp := range points {
			if mp.FromTmpfsFlag || mp.Type == mount.TypeTmpfs {
				continue
			}
			switch {
			case strings.HasPrefix(mode, "ro"):
				mp.RW = false
			case strings.HasPrefix(mode, "rw"):
				mp.RW = true
			}
			// The volume belongs to the other container: rm -v of this one
			// keeps it, and its content was copied up there.
			mp.Anonymous = false
			mp.CopyData = false
			byDest[mp.Destination] = len(out)
			out = append(out, mountRequest{MountPoint: mp})
		}
	}
	own := map[string]bool{}
	addOwn := func(m mountRequest) error {
		if own[m.Destination] {
			return invalidMount("Duplicate mount point: %s", m.Destination)
		}
		own[m.Destination] = true
		return add(m, true)
	}
	for _, spec := range hc.Binds {
		m, err := parseBind(spec)
		if err != nil {
			return nil, err
		}
		if err := addOwn(m); err != nil {
			return nil, err
		}
	}
	for _, mnt := range hc.Mounts {
		m, err := parseMount(mnt)
		if err != nil {
			return nil, err
		}
		if err := addOwn(m); err != nil {
			return nil, err
		}
	}
	for _, target := range slices.Sorted(maps.Keys(hc.Tmpfs)) {
		m, err := parseTmpfs(target, hc.Tmpfs[target])
		if err != nil {
			return nil, err
		}
		if err := addOwn(m); err != nil {
			return nil, err
		}
	}
	if hidden {
		// Build steps run without the image's volumes. The builder
		// discards what a step writes below them.
		return out, nil
	}
	for _, target := range slices.Sorted(maps.Keys(config.Volumes)) {
		dest := path.Clean(target)
		if err := checkMountTarget(target, "volume", target); err != nil {
			return nil, err
		}
		if _, ok := byDest[dest]; ok {
			continue
		}
		m := mountRequest{MountPoint: ctr.MountPoint{
			Type: mount.TypeVolume, Destination: dest, RW: true, Anonymous: true, CopyData: true,
		}}
		byDest[dest] = len(out)
		out = append(out, m)
	}
	return out, nil
}
