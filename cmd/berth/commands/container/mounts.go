package container

import (
	"fmt"
	"strings"

	"github.com/docker/cli/opts"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/spf13/pflag"
)

// mountOptions are the run and create flags for mounts besides -v.
type mountOptions struct {
	mounts      opts.MountOpt
	tmpfs       []string
	volumesFrom []string
}

func addMountFlags(flags *pflag.FlagSet, o *mountOptions) {
	flags.Var(&o.mounts, "mount", "Attach a filesystem mount to the container (type=volume|bind|tmpfs,src=,dst=,...)")
	flags.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory (PATH[:OPTIONS])")
	flags.StringArrayVar(&o.volumesFrom, "volumes-from", nil, "Mount volumes from the specified container(s) (CONTAINER[:ro|rw])")
}

// applyMountOptions puts --mount, --tmpfs and --volumes-from into the host
// configuration.
func applyMountOptions(o *mountOptions, hc *containertypes.HostConfig) error {
	hc.Mounts = o.mounts.Value()
	hc.VolumesFrom = o.volumesFrom
	for _, value := range o.tmpfs {
		target, options, _ := strings.Cut(value, ":")
		if !strings.HasPrefix(target, "/") {
			return fmt.Errorf("invalid value for --tmpfs %q: the path must be absolute", value)
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs[target] = options
	}
	return nil
}
