package volume

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags are the options of mount(8) that are flags rather than file
// system data.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"async":       {true, unix.MS_SYNCHRONOUS},
	"noatime":     {false, unix.MS_NOATIME},
	"atime":       {true, unix.MS_NOATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"defaults":    {false, 0},
}

// ParseMountOptions splits a mount(8) option string such as
// "ro,size=10m" into mount flags and the data the file system reads.
func ParseMountOptions(options string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range strings.Split(options, ",") {
		if o == "" {
			continue
		}
		f, ok := mountFlags[o]
		switch {
		case !ok:
			data = append(data, o)
		case f.clear:
			flags &^= f.flag
		default:
			flags |= f.flag
		}
	}
	return flags, strings.Join(data, ",")
}

// mountDevice mounts the device of a volume with the local driver's
// options on path, as `mount -t TYPE -o O DEVICE PATH` would.
func mountDevice(options map[string]string, path string) error {
	flags, data := ParseMountOptions(options["o"])
	device := options["device"]
	fsType := options["type"]
	// No mount helper runs, so an NFS volume needs addr=SERVER in its o
	// option, as with Docker's local driver.
	if err := unix.Mount(device, path, fsType, flags, data); err != nil {
		return fmt.Errorf("mount %s (type %q, options %q) on %s: %w", device, fsType, options["o"], path, err)
	}
	return nil
}
