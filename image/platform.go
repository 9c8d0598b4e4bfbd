package image

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultPlatform returns the platform of the daemon: linux and the
// architecture it was built for.
func DefaultPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// MatchPlatform returns the first descriptor in manifests for platform. An
// empty variant in either matches any variant.
func MatchPlatform(manifests []ocispec.Descriptor, platform ocispec.Platform) (ocispec.Descriptor, error) {
	var available []string
	for _, desc := range manifests {
		p := desc.Platform
		if p == nil {
			continue
		}
		if p.OS == platform.OS && p.Architecture == platform.Architecture &&
			(p.Variant == "" || platform.Variant == "" || p.Variant == platform.Variant) {
			return desc, nil
		}
		available = append(available, FormatPlatform(*p))
	}
	return ocispec.Descriptor{}, fmt.Errorf("no matching manifest for %s in the manifest list entries (available: %s): %w",
		FormatPlatform(platform), strings.Join(available, ", "), errdefs.ErrNotFound)
}

// FormatPlatform returns p as "os/architecture[/variant]".
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses "os[/architecture[/variant]]", such as
// "linux/arm64/v8". A missing architecture is the daemon's.
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || slices.Contains(parts, "") {
		return ocispec.Platform{}, fmt.Errorf("%w: invalid platform %q: use os[/architecture[/variant]], such as linux/amd64",
			errdefs.ErrInvalidArgument, s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: runtime.GOARCH}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}
