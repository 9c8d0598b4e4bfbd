package engine

import (
	"debug/elf"
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/initproc"
	"github.com/berth-engine/berth/runtime/spec"
)

// wantsInit reports whether c runs with --init.
func wantsInit(c *ctr.Container) bool {
	return c.HostConfig.Init != nil && *c.HostConfig.Init
}

// addInit makes the berth binary, mounted read-only at initproc.Path, the
// container's PID 1 with the container's command as its child, as Docker
// does with its docker-init.
func (e *Engine) addInit(opts *spec.Options) error {
	if err := checkStatic(e.initBinary); err != nil {
		return err
	}
	opts.Args = append([]string{initproc.Path, "--"}, opts.Args...)
	opts.Mounts = append(opts.Mounts, specs.Mount{
		Destination: initproc.Path,
		Type:        "bind",
		Source:      e.initBinary,
		Options:     []string{"rbind", "rprivate", "ro"},
	})
	return nil
}

// checkStatic rejects a dynamically linked binary, which could not run in
// images that lack its C library.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("--init: read berth binary %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("--init needs a statically linked berth binary (build with CGO_ENABLED=0), but %s is dynamically linked: %w",
				path, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}
