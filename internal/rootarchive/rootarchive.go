// Package rootarchive reads and writes tar archives of paths inside a root
// directory, such as a container's root filesystem, without ever touching
// anything outside that root.
//
// It defends against a root whose contents are hostile. Every path is
// resolved with openat2(RESOLVE_IN_ROOT), so "..", absolute symlinks and
// relative symlinks all stay inside the root. The last step of every read
// or write works on a directory file descriptor and a single name without
// following symlinks, so a symlink swapped in by a running process or
// planted by an earlier entry of the same archive cannot lead out of the
// root.
package rootarchive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Stat is the description of one path that the X-Docker-Container-Path-Stat
// header carries.
type Stat struct {
	Name       string
	Size       int64
	Mode       os.FileMode
	Mtime      time.Time
	LinkTarget string
}

// openRoot opens dir, the root that every other path is resolved in.
func openRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open root %s: %w", dir, err)
	}
	return fd, nil
}

// openIn opens p as if rootfd were "/": symlinks, absolute or not, and ".."
// are resolved inside rootfd and can never leave it.
func openIn(rootfd int, p string, flags uint64) (int, error) {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(rootfd, p, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// splitPath splits a request path into the directory to resolve and the
// last name, which is not followed if it is a symlink. follow is true when
// the path ends in "/" or "/.", which Docker resolves fully.
func splitPath(p string) (dir, base string, follow bool) {
	follow = strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || p == "."
	clean := path.Clean("/" + p)
	if clean == "/" {
		return "/", ".", true
	}
	return path.Dir(clean), path.Base(clean), follow
}

// notFound returns Docker's error for a missing path.
func notFound(p string) error {
	return fmt.Errorf("Could not find the file %s: %w", p, errdefs.ErrNotFound)
}

func wrapPathErr(p string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return notFound(p)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s: not a directory: %w", p, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s: too many levels of symbolic links: %w", p, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %w", p, err)
}

// locate resolves p inside rootfd and returns a directory fd and a name in
// it. The name is "." when p names a directory that was fully resolved.
func locate(rootfd int, p string) (dirfd int, name string, err error) {
	dir, base, follow := splitPath(p)
	if follow {
		fd, err := openIn(rootfd, p, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, "", wrapPathErr(p, err)
		}
		return fd, ".", nil
	}
	fd, err := openIn(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, "", wrapPathErr(p, err)
	}
	return fd, base, nil
}

// StatPath describes path p inside root without following a final symlink,
// unless p ends in "/" or "/.".
func StatPath(root, p string) (Stat, error) {
	rootfd, err := openRoot(root)
	if err != nil {
		return Stat{}, err
	}
	defer unix.Close(rootfd)
	dirfd, name, err := locate(rootfd, p)
	if err != nil {
		return Stat{}, err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := fstatat(dirfd, name, &st); err != nil {
		return Stat{}, wrapPathErr(p, err)
	}
	s := Stat{
		Name:  entryName(p),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if s.LinkTarget, err = readlinkat(dirfd, name); err != nil {
			return Stat{}, wrapPathErr(p, err)
		}
	}
	return s, nil
}

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "." {
		flags |= unix.AT_EMPTY_PATH
		name = ""
	}
	return unix.Fstatat(dirfd, name, st, flags)
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// fileMode converts a stat mode to an os.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// entryName returns the name Docker gives path p in stats and archives.
// That is "." when p ends in "/.", so that an archive of "dir/." contains
// the contents of dir under "./". Otherwise it is the last element of p
// ("/" for the root).
func entryName(p string) string {
	if p == "." || strings.HasSuffix(p, "/.") {
		return "."
	}
	return path.Base(path.Clean("/" + p))
}

// WriteTar writes path p inside root to w as a tar whose top entry is named
// after the last element of p, or "." for the root and for a p that ends in
// "/.". A final symlink is archived as a link unless p ends in "/" or "/.".
func WriteTar(root, p string, w io.Writer) error {
	rootfd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	dirfd, name, err := locate(rootfd, p)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := fstatat(dirfd, name, &st); err != nil {
		return wrapPathErr(p, err)
	}
	top := entryName(p)
	if top == "/" {
		top = "."
	}
	tw := tar.NewWriter(w)
	if err := addEntry(tw, dirfd, name, top); err != nil {
		return err
	}
	return tw.Close()
}

// addEntry archives name in dirfd as tarName. Children are opened relative
// to their parent's fd with O_NOFOLLOW, so a symlink swapped in during the
// walk is archived as a link and never followed.
func addEntry(tw *tar.Writer, dirfd int, name, tarName string) error {
	var st unix.Stat_t
	if err := fstatat(dirfd, name, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed while archiving
		}
		return err
	}
	hdr := &tar.Header{
		Name:    tarName,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := readlinkat(dirfd, name)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		return tw.WriteHeader(hdr)
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		return tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return tw.WriteHeader(hdr)
	case unix.S_IFSOCK:
		return nil
	case unix.S_IFREG:
		fd, err := openAt(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), tarName)
		defer f.Close()
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil {
			return err
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fst.Size
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, fst.Size)
		return err
	case unix.S_IFDIR:
		fd, err := openAt(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), tarName)
		defer f.Close()
		hdr.Typeflag, hdr.Name = tar.TypeDir, tarName+"/"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, child := range names {
			if err := addEntry(tw, fd, child, tarName+"/"+child); err != nil {
				return err
			}
		}
	}
	return nil
}

func openAt(dirfd int, name string, flags int) (int, error) {
	if name == "." {
		flags &^= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}
