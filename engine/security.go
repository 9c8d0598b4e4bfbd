package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/runtime/spec"
)

// addHostConfigOptions copies the HostConfig settings that specOptions does
// not carry into opts: /dev/shm size, sysctls, extra groups, ulimits and
// security options.
func addHostConfigOptions(c *ctr.Container, opts *spec.Options) error {
	hc := c.HostConfig
	opts.ShmSize = hc.ShmSize
	opts.Sysctls = hc.Sysctls
	opts.GroupAdd = hc.GroupAdd
	for _, u := range hc.Ulimits {
		opts.Rlimits = append(opts.Rlimits, specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Hard: uint64(u.Hard),
			Soft: uint64(u.Soft),
		})
	}
	for _, opt := range hc.SecurityOpt {
		if err := addSecurityOpt(opts, opt); err != nil {
			return err
		}
	}
	return nil
}

// addSecurityOpt applies one --security-opt value. AppArmor and SELinux
// label options are accepted and have no effect, because berth applies
// neither.
func addSecurityOpt(opts *spec.Options, opt string) error {
	key, value, hasValue := strings.Cut(opt, "=")
	if !hasValue {
		key, value, hasValue = strings.Cut(opt, ":")
	}
	switch key {
	case "no-new-privileges":
		enabled := true
		if hasValue {
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("invalid --security-opt %q: no-new-privileges takes true or false: %w", opt, errdefs.ErrInvalidArgument)
			}
			enabled = b
		}
		opts.NoNewPrivileges = enabled
	case "seccomp":
		if value == "unconfined" {
			opts.SeccompUnconfined = true
			return nil
		}
		// TODO: custom seccomp profiles (the JSON the docker CLI sends for
		// seccomp=PROFILE.json) are not applied yet.
		return fmt.Errorf("--security-opt seccomp=PROFILE is not supported yet; use seccomp=unconfined or the default profile: %w",
			errdefs.ErrNotImplemented)
	case "apparmor", "label":
	default:
		return fmt.Errorf("invalid --security-opt %q: use no-new-privileges, seccomp=unconfined, apparmor=... or label=...: %w",
			opt, errdefs.ErrInvalidArgument)
	}
	return nil
}
