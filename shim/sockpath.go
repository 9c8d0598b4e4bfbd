package shim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket address can hold.
var maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// withShortPath calls fn with a path naming the same socket file as path
// and short enough for a socket address. A path that is too long is reached
// through /proc/self/fd and an open descriptor of its directory, which the
// kernel resolves like the directory itself, so deep exec roots work.
func withShortPath(path string, fn func(string) error) error {
	if len(path) <= maxSocketPath {
		return fn(path)
	}
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open socket directory: %w", err)
	}
	defer dir.Close()

	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	if len(short) > maxSocketPath {
		return fmt.Errorf("socket name %s is longer than %d bytes", filepath.Base(path), maxSocketPath)
	}
	return fn(short)
}
