// Package detachkeys parses Docker's notation for the key sequence that
// detaches a client from a container's terminal, such as "ctrl-p,ctrl-q".
package detachkeys

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// Default is the sequence Docker uses when none is given: ctrl-p, ctrl-q.
const Default = "ctrl-p,ctrl-q"

// Parse returns the bytes a terminal sends for a detach sequence. Each
// comma-separated key is a single character or "ctrl-" followed by a letter
// or one of @ [ \ ] ^ _. An empty string means Default. Errors wrap
// errdefs.ErrInvalidArgument.
func Parse(s string) ([]byte, error) {
	if s == "" {
		s = Default
	}

	var keys []byte
	for _, key := range strings.Split(s, ",") {
		if len(key) == 1 {
			keys = append(keys, key[0])
			continue
		}
		code, ok := controlCode(key)
		if !ok {
			return nil, &InvalidError{Keys: s, Key: key}
		}
		keys = append(keys, code)
	}
	return keys, nil
}

// InvalidError reports a key that is neither a single character nor a
// ctrl-<key> combination. It is an errdefs invalid-argument error.
type InvalidError struct {
	Keys string // the whole sequence
	Key  string // the key that is not valid
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid detach keys (%s) provided: %q is neither a single character nor ctrl-<key>",
		e.Keys, e.Key)
}

// Unwrap classifies the error as an invalid argument.
func (e *InvalidError) Unwrap() error { return errdefs.ErrInvalidArgument }

// controlCode returns the byte a terminal sends for "ctrl-<key>".
func controlCode(key string) (byte, bool) {
	name, ok := strings.CutPrefix(strings.ToLower(key), "ctrl-")
	if !ok || len(name) != 1 {
		return 0, false
	}
	switch c := name[0]; {
	case c >= 'a' && c <= 'z':
		return c - 'a' + 1, true
	case c == '@':
		return 0, true
	case c >= '[' && c <= '_':
		// '[' '\' ']' '^' '_' are 27 to 31.
		return c - '[' + 27, true
	default:
		return 0, false
	}
}
