package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive"
	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

const (
	opaqueXattr   = "trusted.overlay.opaque"
	overlayXattrs = "trusted.overlay."
)

// unpack extracts the uncompressed OCI layer tar r into the empty directory
// dest, turning OCI whiteouts into overlay whiteouts: ".wh.<name>" becomes a
// 0/0 character device <name>, ".wh..wh..opq" an opaque xattr on its
// directory. It reads r to its end, also past the end-of-archive marker.
//
// The extraction runs chrooted into dest on a discarded thread, so neither
// "../" names nor symlinks in the archive can reach outside dest.
func unpack(ctx context.Context, r io.Reader, dest string) error {
	// Warm caches that would otherwise be filled from inside the chroot,
	// where /proc and /etc/localtime are missing: go-archive asks userns
	// whether to use user.overlay.* xattrs, and its log lines format local
	// times.
	userns.RunningInUserNS()
	_ = time.Now().Local().String()

	opts := &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat}
	cr := &contextReader{ctx: ctx, r: r}

	err := runIsolated(func() error {
		if err := unix.Chroot(dest); err != nil {
			return fmt.Errorf("chroot %s: %w", dest, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir to new root: %w", err)
		}
		return archive.Unpack(cr, "/", opts)
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if cr.err != nil {
			return cr.err
		}
		if isFormatError(err) {
			return fmt.Errorf("%w: unpack layer: %w", errdefs.ErrInvalidArgument, err)
		}
		return fmt.Errorf("unpack layer: %w", err)
	}

	// The digest covers the whole stream, including the padding after the
	// end-of-archive marker.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return err
	}
	return nil
}

// isFormatError reports whether an error of archive.Unpack comes from the
// archive rather than from the file system.
func isFormatError(err error) bool {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// go-archive returns these as unexported types or plain strings.
	msg := err.Error()
	for _, s := range []string{"is outside of", "invalid hardlink", "invalid symlink", "unhandled tar header type"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// contextReader stops reading once ctx is cancelled and keeps the first
// error of the underlying reader, so that read failures are not reported as
// malformed archives.
type contextReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// writeDiff writes the overlay upper directory dir to w as an OCI layer tar
// and returns the total size of the regular files written. Overlay
// whiteouts become ".wh.<name>" entries and opaque directories get a
// ".wh..wh..opq" entry. Entries are written in lexical order with
// modification times truncated to seconds and no access or change times, so
// the same tree always yields the same bytes.
func writeDiff(ctx context.Context, w io.Writer, dir string) (int64, error) {
	root, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()

	dw := &diffWriter{
		tw:       tar.NewWriter(w),
		root:     root,
		hardlink: map[inode]string{},
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		return dw.add(path, filepath.ToSlash(rel))
	})
	if err != nil {
		return 0, err
	}
	if err := dw.tw.Close(); err != nil {
		return 0, err
	}
	return dw.size, nil
}

type inode struct {
	dev, ino uint64
}

type diffWriter struct {
	tw       *tar.Writer
	root     *os.File
	hardlink map[inode]string // first name written for each multiply linked inode
	size     int64
}

func (dw *diffWriter) add(path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no system stat data", path)
	}
	if fi.Mode()&os.ModeSocket != 0 {
		return nil // sockets cannot be archived and are recreated by their servers
	}

	// Whiteouts come first: the kernel may hard link all whiteouts of an
	// upper directory to one inode, and each must stay a whiteout entry.
	if fi.Mode()&os.ModeCharDevice != 0 && st.Rdev == 0 {
		dirName, base := splitName(name)
		return dw.tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     dirName + archive.WhiteoutPrefix + base,
			Mode:     0o600,
			Uid:      int(st.Uid),
			Gid:      int(st.Gid),
			ModTime:  fi.ModTime().Truncate(time.Second),
			Format:   tar.FormatPAX,
		})
	}

	var link string
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := archive.FileInfoHeader(name, fi, link)
	if err != nil {
		return fmt.Errorf("tar header for %s: %w", path, err)
	}
	if err := archive.ReadSecurityXattrToTarHeader(path, hdr); err != nil {
		return err
	}

	if !fi.IsDir() && st.Nlink > 1 {
		key := inode{dev: st.Dev, ino: st.Ino}
		if first, ok := dw.hardlink[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
		} else {
			dw.hardlink[key] = name
		}
	}

	if err := dw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := dw.copyFile(name, hdr.Size); err != nil {
			return err
		}
		dw.size += hdr.Size
	}
	if fi.IsDir() {
		return dw.addOpaque(path, hdr)
	}
	return nil
}

// copyFile copies size bytes of the regular file name. The file is opened
// beneath the root without following symlinks, so a running container that
// swaps a file or directory for a symlink cannot make its diff contain host
// files.
func (dw *diffWriter) copyFile(name string, size int64) error {
	fd, err := unix.Openat2(int(dw.root.Fd()), name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.6 lack openat2.
		fd, err = unix.Openat(int(dw.root.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()

	if _, err := io.CopyN(dw.tw, f, size); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}

// addOpaque writes the opaque marker of the directory at path, if overlay
// marked it opaque.
func (dw *diffWriter) addOpaque(path string, dirHdr *tar.Header) error {
	value := make([]byte, 8)
	n, err := unix.Lgetxattr(path, opaqueXattr, value)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "lgetxattr", Path: path, Err: err}
	}
	if string(value[:n]) != "y" {
		return nil
	}

	return dw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     dirHdr.Name + archive.WhiteoutOpaqueDir,
		Mode:     dirHdr.Mode & int64(os.ModePerm),
		Uid:      dirHdr.Uid,
		Gid:      dirHdr.Gid,
		ModTime:  dirHdr.ModTime,
		Format:   tar.FormatPAX,
	})
}

// splitName splits a slash-separated name into its directory, with a
// trailing slash or empty, and its base name.
func splitName(name string) (string, string) {
	i := strings.LastIndex(name, "/")
	return name[:i+1], name[i+1:]
}

// dirSize returns the sum of the sizes of all non-directory entries below
// dir, counting hard-linked files once.
func dirSize(ctx context.Context, dir string) (int64, error) {
	var size int64
	seen := map[inode]bool{}

	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			key := inode{dev: st.Dev, ino: st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		size += fi.Size()
		return nil
	})
	return size, err
}

// stripOverlayXattrs removes the trusted.overlay.* xattrs that overlay keeps
// on upper entries for its own bookkeeping, leaving only opaque markers, so
// that a committed upper directory matches a layer unpacked from its tar.
func stripOverlayXattrs(ctx context.Context, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		names, err := listXattrs(path)
		if err != nil {
			return err
		}
		for _, name := range names {
			if !strings.HasPrefix(name, overlayXattrs) || (name == opaqueXattr && d.IsDir() && isOpaque(path)) {
				continue
			}
			if err := unix.Lremovexattr(path, name); err != nil && !errors.Is(err, unix.ENODATA) {
				return &os.PathError{Op: "lremovexattr " + name, Path: path, Err: err}
			}
		}
		return nil
	})
}

func isOpaque(path string) bool {
	value := make([]byte, 8)
	n, err := unix.Lgetxattr(path, opaqueXattr, value)
	return err == nil && string(value[:n]) == "y"
}

func listXattrs(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
		}
		var names []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
}
