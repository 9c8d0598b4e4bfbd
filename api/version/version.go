// Package version parses and compares Engine API versions such as "1.47".
//
// Clients name the API version in the first path segment ("/v1.47/info").
// The server parses it into a Version and stores it in the request context,
// so handlers can change their behaviour for older clients.
package version

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// Version is an Engine API version: Major.Minor.
type Version struct {
	Major int
	Minor int
}

// Min returns the oldest API version the server accepts. Docker Engine 28
// accepts the same minimum.
func Min() Version {
	return Version{Major: 1, Minor: 24}
}

// Max returns the newest API version the server speaks. It equals the
// MaxAPIVersion of the moby Go client v0.6.3 (module github.com/moby/moby/client).
func Max() Version {
	return Version{Major: 1, Minor: 57}
}

// Parse parses "N" or "N.M" with decimal components. A missing minor
// component is 0. Errors wrap errdefs.ErrInvalidArgument.
func Parse(s string) (Version, error) {
	majorText, minorText, hasMinor := strings.Cut(s, ".")

	major, err := parseComponent(majorText)
	if err != nil {
		return Version{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid API version %q", s))
	}
	if !hasMinor {
		return Version{Major: major}, nil
	}
	minor, err := parseComponent(minorText)
	if err != nil {
		return Version{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid API version %q", s))
	}
	return Version{Major: major, Minor: minor}, nil
}

func parseComponent(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

// String formats v as "Major.Minor".
func (v Version) String() string {
	return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
}

// Compare returns -1 when v is older than o, 0 when they are equal and +1
// when v is newer.
func (v Version) Compare(o Version) int {
	switch {
	case v.Major != o.Major:
		return cmpInt(v.Major, o.Major)
	default:
		return cmpInt(v.Minor, o.Minor)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	default:
		return 0
	}
}

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	return v.Compare(o) < 0
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	return v.Compare(o) >= 0
}

// CheckSupported returns an error wrapping errdefs.ErrInvalidArgument when v
// is outside Min()..Max(). The messages are the ones Docker Engine sends, so
// clients that match on them keep working.
func CheckSupported(v Version) error {
	if v.Less(Min()) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too old. "+
			"Minimum supported API version is %s, please upgrade your client to a newer version",
			v, Min()))
	}
	if Max().Less(v) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"client version %s is too new. Maximum supported API version is %s", v, Max()))
	}
	return nil
}

type contextKey struct{}

// WithContext returns a copy of ctx that carries v.
func WithContext(ctx context.Context, v Version) context.Context {
	return context.WithValue(ctx, contextKey{}, v)
}

// FromContext returns the version stored by WithContext, or Max() when ctx
// carries none (requests without a /vN.M prefix use the newest version).
func FromContext(ctx context.Context) Version {
	if v, ok := ctx.Value(contextKey{}).(Version); ok {
		return v
	}
	return Max()
}
