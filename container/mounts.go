package container

import "github.com/moby/moby/api/types/mount"

// MountPoint is one volume, bind or tmpfs mount of a container, resolved
// at create time from Binds, Mounts, Tmpfs, VolumesFrom and the image's
// volumes.
type MountPoint struct {
	Type        mount.Type
	Name        string `json:",omitempty"` // volume name
	Source      string `json:",omitempty"` // host path of a bind mount
	Destination string
	Driver      string `json:",omitempty"`
	// Mode is the option string of a -v value ("ro,z"), as Docker shows it.
	Mode        string `json:",omitempty"`
	RW          bool
	Propagation mount.Propagation `json:",omitempty"`

	// CopyData fills an empty volume from the image's content at the
	// destination when the container starts, unless volume-nocopy was set.
	CopyData bool `json:",omitempty"`
	// CreateSource creates a missing bind source as a directory, as -v
	// does and --mount does not.
	CreateSource bool `json:",omitempty"`
	// Anonymous volumes are removed with the container by rm -v.
	Anonymous bool `json:",omitempty"`
	// TmpfsOptions is the mount data of a tmpfs mount, such as
	// "size=65536k,mode=1777".
	TmpfsOptions string `json:",omitempty"`
	// FromTmpfsFlag marks a HostConfig.Tmpfs mount, which Docker leaves out
	// of the Mounts list of inspect.
	FromTmpfsFlag bool `json:",omitempty"`
}
