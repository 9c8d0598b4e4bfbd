package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
)

// owner is a numeric user and group.
type owner struct {
	UID, GID int
}

// layerWriter writes a layer tar that changes a parent image's file system.
// Layer entries replace the parent's, so whenever it writes a path it also
// writes every ancestor directory: existing ones with the parent's
// metadata, so that directories such as /tmp keep their mode, and missing
// ones with mode 0755.
type layerWriter struct {
	tw     *tar.Writer
	parent *fsTree
	// written holds the headers written so far by clean relative path.
	written map[string]*tar.Header
	// now is the modification time of directories the layer creates.
	now time.Time
	// chmod, when set, replaces the permission bits of the files and
	// directories that copies write (COPY --chmod).
	chmod *int64
}

func newLayerWriter(w io.Writer, parent *fsTree, now time.Time) *layerWriter {
	return &layerWriter{tw: tar.NewWriter(w), parent: parent, written: map[string]*tar.Header{}, now: now}
}

// close writes the end of the archive.
func (w *layerWriter) close() error {
	return w.tw.Close()
}

// lookup returns the header at the clean relative path p in the parent
// image with this layer applied, or nil.
func (w *layerWriter) lookup(p string) *tar.Header {
	if h, ok := w.written[p]; ok {
		return h
	}
	if n := w.parent.lookup(p); n != nil {
		return n.hdr
	}
	return nil
}

// resolve follows symlinks in the absolute image path p, as a process in
// the container would, and returns the clean relative path it leads to.
func (w *layerWriter) resolve(p string, followLast bool) (string, error) {
	return resolveLinks(p, followLast, true, func(rel string) (string, bool) {
		h := w.lookup(rel)
		if h == nil || h.Typeflag != tar.TypeSymlink {
			return "", false
		}
		return h.Linkname, true
	})
}

func (w *layerWriter) isDir(p string) bool {
	if p == "" {
		return true
	}
	h := w.lookup(p)
	return h != nil && h.Typeflag == tar.TypeDir
}

// mkdirAll writes directory p and its ancestors. Directories the parent
// image lacks get mode 0755 and owner o.
func (w *layerWriter) mkdirAll(p string, o owner) error {
	if p == "" {
		return nil
	}
	if h, ok := w.written[p]; ok && h.Typeflag == tar.TypeDir {
		return nil
	}
	if err := w.mkdirAll(parentPath(p), o); err != nil {
		return err
	}

	if h := w.lookup(p); h != nil {
		if h.Typeflag != tar.TypeDir {
			return fmt.Errorf("create directory /%s: a file that is not a directory exists there: %w",
				p, errdefs.ErrInvalidArgument)
		}
		existing := *h
		existing.Name = p
		return w.writeHeader(&existing, nil)
	}
	return w.writeHeader(w.newDir(p, o), nil)
}

func (w *layerWriter) newDir(p string, o owner) *tar.Header {
	return &tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755, Uid: o.UID, Gid: o.GID, ModTime: w.now}
}

// writeHeader writes hdr, whose Name is a clean relative path, and content
// for regular files. Like a process in the container, it follows symlinks
// in the parent directories, and creates missing ones owned by root.
func (w *layerWriter) writeHeader(hdr *tar.Header, content io.Reader) error {
	dir, err := w.resolve(parentPath(hdr.Name), true)
	if err != nil {
		return err
	}
	if err := w.mkdirAll(dir, owner{}); err != nil {
		return err
	}
	name := path.Join(dir, path.Base(hdr.Name))

	out := &tar.Header{
		Name:     name,
		Typeflag: hdr.Typeflag,
		Mode:     hdr.Mode,
		Uid:      hdr.Uid,
		Gid:      hdr.Gid,
		ModTime:  hdr.ModTime,
		Linkname: hdr.Linkname,
		Devmajor: hdr.Devmajor,
		Devminor: hdr.Devminor,
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		out.Name += "/"
	case tar.TypeReg:
		out.Size = hdr.Size
	}
	if err := w.tw.WriteHeader(out); err != nil {
		return fmt.Errorf("write layer entry %s: %w", name, err)
	}
	if hdr.Typeflag == tar.TypeReg && content != nil {
		if _, err := io.CopyN(w.tw, content, hdr.Size); err != nil {
			return fmt.Errorf("write layer entry %s: %w", name, err)
		}
	}

	stored := *out
	stored.Name = name
	w.written[name] = &stored
	return nil
}

// writeNode writes a node of a source tree at target with owner o, or with
// the node's own owner when o is nil.
//
// NOTE: hard links among the sources become separate copies, and extended
// attributes are not copied.
func (w *layerWriter) writeNode(n *fsNode, target string, o *owner) error {
	hdr := *n.hdr
	hdr.Name = target
	if o != nil {
		hdr.Uid, hdr.Gid = o.UID, o.GID
	}
	w.applyChmod(&hdr)
	if hdr.Typeflag != tar.TypeReg {
		return w.writeHeader(&hdr, nil)
	}

	f, err := n.content.open()
	if err != nil {
		return fmt.Errorf("open content of %s: %w", n.hdr.Name, err)
	}
	defer f.Close()
	return w.writeHeader(&hdr, f)
}

// copyDir writes the contents of directory node src below dest, as Docker
// copies a directory: dest is created if missing (owned by o, or root),
// and dest itself keeps its metadata if it exists.
func (w *layerWriter) copyDir(src *fsNode, dest string, o *owner) error {
	switch {
	case w.isDir(dest):
		if err := w.mkdirAll(dest, owner{}); err != nil {
			return err
		}
	case w.lookup(dest) != nil:
		return fmt.Errorf("copy directory %s to /%s: destination is not a directory: %w",
			displayPath(src.hdr.Name), dest, errdefs.ErrInvalidArgument)
	default:
		if err := w.mkdirAll(parentPath(dest), owner{}); err != nil {
			return err
		}
		dirOwner := owner{}
		if o != nil {
			dirOwner = *o
		}
		dir := w.newDir(dest, dirOwner)
		w.applyChmod(dir)
		if err := w.writeHeader(dir, nil); err != nil {
			return err
		}
	}

	return walkNode(src, func(n *fsNode) error {
		if n == src {
			return nil
		}
		rel := strings.TrimPrefix(n.hdr.Name, src.hdr.Name+"/")
		if src.hdr.Name == "" {
			rel = n.hdr.Name
		}
		return w.writeNode(n, path.Join(dest, rel), o)
	})
}

// applyChmod sets the --chmod permission bits on hdr unless it is a
// symlink, whose mode has no effect.
func (w *layerWriter) applyChmod(hdr *tar.Header) {
	if w.chmod == nil || hdr.Typeflag == tar.TypeSymlink {
		return
	}
	hdr.Mode = hdr.Mode&^0o7777 | *w.chmod
}

// copyFile writes regular file, symlink or device node src at target.
// Missing parent directories are owned by o, or by root.
func (w *layerWriter) copyFile(src *fsNode, target string, o *owner) error {
	dirOwner := owner{}
	if o != nil {
		dirOwner = *o
	}
	if err := w.mkdirAll(parentPath(target), dirOwner); err != nil {
		return err
	}
	return w.writeNode(src, target, o)
}

// isArchive reports whether the file at name is a tar archive, possibly
// compressed, which ADD extracts.
func isArchive(content *blob) bool {
	f, err := content.open()
	if err != nil {
		return false
	}
	defer f.Close()
	stream, err := compression.DecompressStream(f)
	if err != nil {
		return false
	}
	defer stream.Close()
	_, err = tar.NewReader(stream).Next()
	return err == nil
}

// extractArchive writes the entries of the tar archive (possibly
// compressed) at name below dest, keeping their owners, as ADD does.
// Entries leading above dest are rejected. Whiteout entries are skipped.
func (w *layerWriter) extractArchive(content *blob, displayName, dest string) error {
	f, err := content.open()
	if err != nil {
		return err
	}
	defer f.Close()
	stream, err := compression.DecompressStream(f)
	if err != nil {
		return fmt.Errorf("decompress archive %s: %w", displayName, err)
	}
	defer stream.Close()

	if err := w.mkdirAll(dest, owner{}); err != nil {
		return err
	}
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive %s: %w", displayName, err)
		}
		if err := w.extractEntry(hdr, tr, displayName, dest); err != nil {
			return err
		}
	}
}

func (w *layerWriter) extractEntry(hdr *tar.Header, r io.Reader, displayName, dest string) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := archivePath(hdr.Name)
	if err != nil {
		return fmt.Errorf("extract archive %s: entry %q leads outside the destination: %w",
			displayName, hdr.Name, errdefs.ErrInvalidArgument)
	}
	if rel == "" || strings.HasPrefix(path.Base(rel), whiteoutPrefix) {
		// NOTE: whiteouts in an archive would delete files of the image
		// instead of being extracted, so they are left out.
		return nil
	}

	out := *hdr
	out.Name = path.Join(dest, rel)
	switch hdr.Typeflag {
	case tar.TypeRegA:
		out.Typeflag = tar.TypeReg
	case tar.TypeLink:
		target, err := archivePath(hdr.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("extract archive %s: hard link %q points outside the destination: %w",
				displayName, hdr.Name, errdefs.ErrInvalidArgument)
		}
		out.Linkname = path.Join(dest, target)
	}
	return w.writeHeader(&out, r)
}

// archivePath cleans an archive entry name relative to the extraction
// directory. Absolute names are taken relative to it, like Docker does.
func archivePath(name string) (string, error) {
	if path.IsAbs(name) {
		return cleanRel(name, true)
	}
	return cleanRel(name, false)
}

func parentPath(p string) string {
	dir := path.Dir(p)
	if dir == "." || dir == "/" {
		return ""
	}
	return dir
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}
