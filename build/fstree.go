package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// maxSymlinkFollows bounds symlink resolution, like the kernel's ELOOP limit
// for a path walk (40 on Linux).
const maxSymlinkFollows = 40

// errOutsideRoot is returned when a path or symlink leads above the tree root.
var errOutsideRoot = errors.New("path leads outside the root")

// fsNode is one file, directory or link in an fsTree.
type fsNode struct {
	// hdr holds the metadata; hdr.Name is the clean path relative to the root.
	hdr      *tar.Header
	children map[string]*fsNode
	// layer is the index of the image layer whose tar holds the content.
	layer int
	// linkTarget is, for a hard link read from an image layer, the regular
	// file in the same layer whose content it shares.
	linkTarget string
	// content is a regular file's data; nil until loaded.
	content *blob
	// sum is the hex sha256 of the content; "" until computed.
	sum string
}

func (n *fsNode) isDir() bool {
	return n.hdr.Typeflag == tar.TypeDir
}

func (n *fsNode) isSymlink() bool {
	return n.hdr.Typeflag == tar.TypeSymlink
}

// fsTree is an in-memory view of a file system built from tar streams: the
// build context, or the union of an image's layers. Regular file contents
// live in separate files on disk, so no path from a tar is ever created on
// the host.
type fsTree struct {
	root *fsNode
}

func newFSTree() *fsTree {
	return &fsTree{root: &fsNode{
		hdr:      &tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)},
		children: map[string]*fsNode{},
	}}
}

// cleanRel cleans p into a path relative to the root: "" is the root itself.
// With clamp, ".." components at the root are dropped, as in a chroot.
// Without it they make cleanRel fail with errOutsideRoot.
func cleanRel(p string, clamp bool) (string, error) {
	if !clamp && !path.IsAbs(p) {
		c := path.Clean(p)
		if c == ".." || strings.HasPrefix(c, "../") {
			return "", errOutsideRoot
		}
	}
	c := path.Clean("/" + p)
	return strings.TrimPrefix(c, "/"), nil
}

// lookup returns the node at the clean relative path p without following
// symlinks, or nil.
func (t *fsTree) lookup(p string) *fsNode {
	n := t.root
	if p == "" {
		return n
	}
	for name := range strings.SplitSeq(p, "/") {
		if n.children == nil {
			return nil
		}
		n = n.children[name]
		if n == nil {
			return nil
		}
	}
	return n
}

// parentOf returns the directory node that holds p, or nil.
func (t *fsTree) parentOf(p string) *fsNode {
	dir := path.Dir(p)
	if dir == "." {
		dir = ""
	}
	n := t.lookup(dir)
	if n == nil || !n.isDir() {
		return nil
	}
	return n
}

// insert adds or replaces the node for hdr.Name, which must be clean and
// relative. A directory replacing a directory keeps its children. Missing
// parent directories are created with mode 0755. Inserting below a
// symlink or a file fails.
func (t *fsTree) insert(hdr *tar.Header) (*fsNode, error) {
	name := hdr.Name
	if name == "" {
		t.root.hdr = hdr
		return t.root, nil
	}
	dir := t.root
	parts := strings.Split(name, "/")
	for i, part := range parts[:len(parts)-1] {
		child := dir.children[part]
		if child == nil {
			child = &fsNode{
				hdr: &tar.Header{
					Name: strings.Join(parts[:i+1], "/"), Typeflag: tar.TypeDir,
					Mode: 0o755, ModTime: hdr.ModTime,
				},
				children: map[string]*fsNode{},
			}
			dir.children[part] = child
		}
		if !child.isDir() {
			return nil, fmt.Errorf("insert %s: %s is not a directory: %w",
				name, child.hdr.Name, errdefs.ErrInvalidArgument)
		}
		dir = child
	}

	base := parts[len(parts)-1]
	node := &fsNode{hdr: hdr}
	if hdr.Typeflag == tar.TypeDir {
		node.children = map[string]*fsNode{}
		if old := dir.children[base]; old != nil && old.isDir() {
			node.children = old.children
		}
	}
	dir.children[base] = node
	return node, nil
}

// remove deletes the node at p and everything below it.
func (t *fsTree) remove(p string) {
	if p == "" {
		t.root.children = map[string]*fsNode{}
		return
	}
	if dir := t.parentOf(p); dir != nil {
		delete(dir.children, path.Base(p))
	}
}

// walk calls fn for the node at p and every node below it, parents before
// children and siblings in lexical order. fn returning fs.SkipDir skips a
// directory's children.
func (t *fsTree) walk(p string, fn func(n *fsNode) error) error {
	n := t.lookup(p)
	if n == nil {
		return nil
	}
	err := walkNode(n, fn)
	if errors.Is(err, fs.SkipDir) {
		return nil
	}
	return err
}

func walkNode(n *fsNode, fn func(n *fsNode) error) error {
	if err := fn(n); err != nil {
		return err
	}
	for _, name := range sortedNames(n) {
		err := walkNode(n.children[name], fn)
		if err != nil && !errors.Is(err, fs.SkipDir) {
			return err
		}
	}
	return nil
}

func sortedNames(n *fsNode) []string {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// resolve follows symlinks in p the way a process chrooted at the tree root
// would: absolute link targets start at the root. With clamp, ".." at the
// root stays at the root. Without it, a path or link leading above the root
// fails with errOutsideRoot. followLast controls whether a symlink in the
// last component is followed. Components that do not exist are appended
// unresolved, so the result names where a new file would be created.
func (t *fsTree) resolve(p string, followLast, clamp bool) (string, error) {
	return resolveLinks(p, followLast, clamp, func(rel string) (string, bool) {
		n := t.lookup(rel)
		if n == nil || !n.isSymlink() {
			return "", false
		}
		return n.hdr.Linkname, true
	})
}

// resolveLinks implements resolve for any tree: readlink returns the target
// of the symlink at a clean relative path, or false if it is not a symlink.
func resolveLinks(p string, followLast, clamp bool, readlink func(string) (string, bool)) (string, error) {
	pending := strings.Split(p, "/")
	var resolved []string
	follows := 0
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(resolved) == 0 {
				if !clamp {
					return "", errOutsideRoot
				}
				continue
			}
			resolved = resolved[:len(resolved)-1]
			continue
		}

		candidate := strings.Join(append(slices.Clone(resolved), part), "/")
		if len(pending) == 0 && !followLast {
			resolved = append(resolved, part)
			continue
		}
		target, isLink := readlink(candidate)
		if !isLink {
			resolved = append(resolved, part)
			continue
		}

		follows++
		if follows > maxSymlinkFollows {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links: %w",
				p, errdefs.ErrInvalidArgument)
		}
		if strings.HasPrefix(target, "/") {
			resolved = nil
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return strings.Join(resolved, "/"), nil
}
