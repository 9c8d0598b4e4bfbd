package rootarchive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// ExtractOptions are the settings of Extract.
type ExtractOptions struct {
	// NoOverwriteDirNonDir rejects replacing a directory with a
	// non-directory or the other way round.
	NoOverwriteDirNonDir bool
	// Chown sets each entry's owner to the uid and gid in its header.
	Chown bool
	// Owner, when set with Chown, replaces the uid and gid of every entry.
	Owner *Owner
}

// Owner is a numeric user and group id.
type Owner struct {
	UID, GID int
}

// Extract unpacks the tar r into directory dir inside root.
//
// Entry names are cleaned lexically, so "../" entries stay under dir. The
// parent of each entry is resolved with RESOLVE_IN_ROOT, so symlinks that
// already exist or that earlier entries created resolve inside root. The
// entry itself replaces whatever was at its name and is created relative to
// the parent's fd with O_EXCL and O_NOFOLLOW, so no write goes through a
// symlink.
func Extract(root, dir string, r io.Reader, opts ExtractOptions) error {
	rootfd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	dir = path.Clean("/" + dir)
	dirfd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("extraction point is not a directory: %w", errdefs.ErrInvalidArgument)
		}
		return wrapPathErr(dir, err)
	}
	unix.Close(dirfd)

	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		rel := strings.TrimLeft(path.Clean("/"+hdr.Name), "/")
		if rel == "" {
			continue // the extraction directory itself
		}
		if opts.Owner != nil {
			hdr.Uid, hdr.Gid = opts.Owner.UID, opts.Owner.GID
		}
		if err := extractEntry(rootfd, dir, rel, hdr, tr, opts); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	}
}

// parentFD opens the parent of rel (relative to dir) inside root, creating
// missing directories one at a time relative to their parent's fd.
func parentFD(rootfd int, dir, rel string) (int, error) {
	cur := dir
	fd, err := openIn(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		cur = path.Join(cur, part)
		next, err := openIn(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			// mkdirat does not follow a symlink named part, so a
			// dangling link makes it fail with EEXIST.
			if err := unix.Mkdirat(fd, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, err
			}
			next, err = openIn(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

func extractEntry(rootfd int, dir, rel string, hdr *tar.Header, r io.Reader, opts ExtractOptions) error {
	pfd, err := parentFD(rootfd, dir, rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	name := path.Base(rel)

	var st unix.Stat_t
	exists := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := hdr.Typeflag == tar.TypeDir
	if exists {
		existingDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if opts.NoOverwriteDirNonDir && existingDir != isDir {
			if existingDir {
				return fmt.Errorf("cannot overwrite directory %q with non-directory: %w", "/"+rel, errdefs.ErrInvalidArgument)
			}
			return fmt.Errorf("cannot overwrite non-directory %q with directory: %w", "/"+rel, errdefs.ErrInvalidArgument)
		}
		if !(existingDir && isDir) {
			if err := removeAllAt(pfd, name); err != nil {
				return err
			}
		}
	}

	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		fd, err := openAt(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return setAttrs(fd, hdr, mode, opts)
	case tar.TypeReg, tar.TypeRegA:
		fd, err := openAt(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return err
		}
		if err := setAttrs(fd, hdr, mode, opts); err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		return unix.UtimesNanoAt(pfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeSymlink:
		// The target is stored unchanged. Only the container, or a
		// later RESOLVE_IN_ROOT lookup, resolves it, inside the root.
		if err := unix.Symlinkat(hdr.Linkname, pfd, name); err != nil {
			return err
		}
		if opts.Chown {
			return unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	case tar.TypeLink:
		srcRel := strings.TrimLeft(path.Clean("/"+hdr.Linkname), "/")
		if srcRel == "" {
			return fmt.Errorf("invalid hard link target %q: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
		}
		sfd, err := openIn(rootfd, path.Join(dir, path.Dir(srcRel)), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		defer unix.Close(sfd)
		// Without AT_SYMLINK_FOLLOW, linkat links a symlink itself and
		// not its target.
		return unix.Linkat(sfd, path.Base(srcRel), pfd, name, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := uint32(unix.S_IFIFO)
		if hdr.Typeflag == tar.TypeChar {
			kind = unix.S_IFCHR
		} else if hdr.Typeflag == tar.TypeBlock {
			kind = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, name, kind|mode, int(dev)); err != nil {
			return err
		}
		if opts.Chown {
			return unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	}
	return nil // other entry types (PAX globals and the like) are skipped
}

// setAttrs sets the owner and mode of an open fd. The mode is set last
// because chown clears the set-id bits.
func setAttrs(fd int, hdr *tar.Header, mode uint32, opts ExtractOptions) error {
	if opts.Chown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	}
	return unix.Fchmod(fd, mode)
}

// removeAllAt removes name in dirfd and, for a directory, everything in it.
// It walks by fd with O_NOFOLLOW, so it cannot leave dirfd.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := openAt(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, child := range names {
		if err := removeAllAt(fd, child); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}
