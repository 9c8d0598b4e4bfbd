package format

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/client/pkg/stringid"
)

// Ago returns how long ago t was, such as "2 minutes ago", measured from
// now.
func Ago(t, now time.Time) string {
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// Size returns a byte count in decimal units with three significant
// digits, such as "7.8MB".
func Size(bytes int64) string {
	return units.HumanSizeWithPrecision(float64(bytes), 3)
}

// TruncateID returns the first 12 hex digits of an ID, without any
// "sha256:" prefix.
func TruncateID(id string) string {
	return stringid.TruncateID(id)
}

// Ellipsis cuts s to at most width characters, ending it with "…" when it
// was cut.
func Ellipsis(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	if width <= 1 {
		return string([]rune(s)[:width])
	}
	return string([]rune(s)[:width-1]) + "…"
}

// StripNamePrefix removes the leading "/" that the API puts on container
// names.
func StripNamePrefix(name string) string {
	return strings.TrimPrefix(name, "/")
}
