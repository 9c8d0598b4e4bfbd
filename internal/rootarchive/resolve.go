package rootarchive

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// maxSymlinks is the number of symlinks a resolution follows before it
// fails with ELOOP, the same limit as Linux's path walk.
const maxSymlinks = 40

// Create is the kind of file ResolveIn creates for a missing last element
// of a path.
type Create int

const (
	// CreateNothing leaves a missing last element missing.
	CreateNothing Create = iota
	// CreateDir makes the last element a directory.
	CreateDir
	// CreateFile makes the last element an empty regular file.
	CreateFile
)

// ResolveIn resolves p inside root as if root were "/" and returns the
// resulting path relative to root, absolute and free of symlinks at the
// time of the call. Absolute and relative symlinks and ".." never lead
// out of root, as with openat2(RESOLVE_IN_ROOT). Missing parent
// directories are created with mode 0755, and the last element as the
// value of last selects. Every step works on directory file descriptors and single names,
// so a symlink swapped in by a process of the root cannot redirect a
// directory creation outside it.
func ResolveIn(root, p string, last Create) (string, error) {
	rootfd, err := openRoot(root)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootfd)

	resolved := []string{}
	pending := splitElems(p)
	links := 0
	for len(pending) > 0 {
		elem := pending[0]
		pending = pending[1:]
		switch elem {
		case ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}

		dirfd, err := openIn(rootfd, "/"+strings.Join(resolved, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return "", wrapPathErr(p, err)
		}
		var st unix.Stat_t
		err = fstatat(dirfd, elem, &st)
		if errors.Is(err, unix.ENOENT) {
			create := CreateDir
			if len(pending) == 0 {
				create = last
			}
			err = createAt(dirfd, elem, create)
			if err == nil && create != CreateNothing {
				err = fstatat(dirfd, elem, &st)
			}
		}
		if err != nil {
			unix.Close(dirfd)
			if errors.Is(err, unix.ENOENT) && len(pending) == 0 {
				return "/" + strings.Join(append(resolved, elem), "/"), nil
			}
			return "", wrapPathErr(p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			unix.Close(dirfd)
			if len(pending) > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return "", fmt.Errorf("%s: %s is not a directory: %w", p, elem, errdefs.ErrInvalidArgument)
			}
			resolved = append(resolved, elem)
			continue
		}

		target, err := readlinkat(dirfd, elem)
		unix.Close(dirfd)
		if err != nil {
			return "", wrapPathErr(p, err)
		}
		links++
		if links > maxSymlinks {
			return "", wrapPathErr(p, unix.ELOOP)
		}
		if strings.HasPrefix(target, "/") {
			resolved = resolved[:0]
		}
		pending = append(splitElems(target), pending...)
	}
	return "/" + strings.Join(resolved, "/"), nil
}

func splitElems(p string) []string {
	var out []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// createAt creates name in dirfd without following a symlink at name.
func createAt(dirfd int, name string, create Create) error {
	switch create {
	case CreateDir:
		if err := unix.Mkdirat(dirfd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	case CreateFile:
		fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o755)
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		if err != nil {
			return err
		}
		unix.Close(fd)
	default:
		return unix.ENOENT
	}
	return nil
}
