package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// defaultDockerfile is the Dockerfile name used when Options.Dockerfile is empty.
const defaultDockerfile = "Dockerfile"

// Content held in memory: files up to maxMemoryBlob bytes, up to
// maxMemoryBlobs bytes per build. Creating one file per small source file
// costs about a millisecond each on some file systems, which dominated
// cached rebuilds of large contexts.
const (
	maxMemoryBlob  = 64 << 10
	maxMemoryBlobs = 256 << 20
)

// blob is the content of a regular file: in memory when small, otherwise
// in a file of the build's work directory.
type blob struct {
	// path is the file holding the content, "" when data holds it.
	path string
	data []byte
}

// open returns a reader of the content.
func (b *blob) open() (io.ReadCloser, error) {
	if b.path == "" {
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	return os.Open(b.path)
}

// readAll returns the content.
func (b *blob) readAll() ([]byte, error) {
	if b.path == "" {
		return b.data, nil
	}
	return os.ReadFile(b.path)
}

// size returns the content's length in bytes.
func (b *blob) size() (int64, error) {
	if b.path == "" {
		return int64(len(b.data)), nil
	}
	info, err := os.Stat(b.path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// blobStore keeps the regular file contents of a build, small ones in
// memory and the others in numbered files.
type blobStore struct {
	dir  string
	next int
	// inMemory is the number of bytes held in memory.
	inMemory int
}

// write stores the content r returns and returns it with its hex sha256.
func (s *blobStore) write(r io.Reader) (*blob, string, error) {
	h := sha256.New()
	var head bytes.Buffer
	if s.inMemory < maxMemoryBlobs {
		// Read one byte more than fits, to tell whether the content does.
		n, err := io.Copy(io.MultiWriter(&head, h), io.LimitReader(r, maxMemoryBlob+1))
		if err != nil {
			return nil, "", fmt.Errorf("read content: %w", err)
		}
		if n <= maxMemoryBlob {
			s.inMemory += int(n)
			return &blob{data: head.Bytes()}, hex.EncodeToString(h.Sum(nil)), nil
		}
	}

	s.next++
	name := filepath.Join(s.dir, strconv.Itoa(s.next))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", err
	}
	if _, err := f.Write(head.Bytes()); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return nil, "", err
	}
	return &blob{path: name}, hex.EncodeToString(h.Sum(nil)), nil
}

// readContext reads the build context tar stream, which may be compressed
// with gzip, bzip2, xz or zstd, into a tree whose file contents go to blobs.
// Entry names that are absolute or lead above the context root, hard links
// to such paths, and entries below a symlink are rejected.
func readContext(ctx context.Context, r io.Reader, blobs *blobStore) (*fsTree, error) {
	stream, err := compression.DecompressStream(r)
	if err != nil {
		return nil, fmt.Errorf("decompress build context: %w", err)
	}
	defer stream.Close()

	tree := newFSTree()
	tr := tar.NewReader(stream)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tree, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read build context: %w", err)
		}
		if err := addContextEntry(tree, hdr, tr, blobs); err != nil {
			return nil, err
		}
	}
}

func addContextEntry(tree *fsTree, hdr *tar.Header, r io.Reader, blobs *blobStore) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := contextPath(hdr.Name)
	if err != nil {
		return err
	}
	hdr.Name = name

	switch hdr.Typeflag {
	case tar.TypeDir:
		if name == "" {
			return nil
		}
	case tar.TypeLink:
		return addContextHardlink(tree, hdr)
	}
	if name == "" {
		return fmt.Errorf("invalid build context: entry %q replaces the root: %w",
			hdr.Name, errdefs.ErrInvalidArgument)
	}

	var node *fsNode
	node, err = tree.insert(hdr)
	if err != nil {
		return fmt.Errorf("invalid build context: %w", err)
	}
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
		hdr.Typeflag = tar.TypeReg
		node.content, node.sum, err = blobs.write(r)
		if err != nil {
			return fmt.Errorf("read build context file %s: %w", name, err)
		}
	}
	return nil
}

// contextPath validates a tar entry name from the build context.
func contextPath(name string) (string, error) {
	if path.IsAbs(name) {
		return "", fmt.Errorf("invalid build context: entry %q is an absolute path: %w",
			name, errdefs.ErrInvalidArgument)
	}
	clean, err := cleanRel(name, false)
	if err != nil {
		return "", fmt.Errorf("invalid build context: entry %q leads outside the context: %w",
			name, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// addContextHardlink stores a hard link as a regular file sharing the
// content of its target, which must be an earlier regular file entry.
func addContextHardlink(tree *fsTree, hdr *tar.Header) error {
	target, err := contextPath(hdr.Linkname)
	if err != nil {
		return err
	}
	src := tree.lookup(target)
	if src == nil || src.hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("invalid build context: hard link %s points to %q, which is not an earlier regular file: %w",
			hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	link := *src.hdr
	link.Name = hdr.Name
	node, err := tree.insert(&link)
	if err != nil {
		return fmt.Errorf("invalid build context: %w", err)
	}
	node.content, node.sum = src.content, src.sum
	return nil
}

// readDockerfile returns the Dockerfile named by name (relative to the
// context root). The default name falls back to "dockerfile" like Docker.
func readDockerfile(tree *fsTree, name string) ([]byte, error) {
	data, err := readContextFile(tree, name)
	if errors.Is(err, fs.ErrNotExist) && name == defaultDockerfile {
		data, err = readContextFile(tree, strings.ToLower(name))
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOutsideRoot) {
		return nil, errdefs.ErrInvalidArgument.WithMessage("Cannot locate specified Dockerfile: " + name)
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(
			fmt.Sprintf("the Dockerfile (%s) cannot be empty", name))
	}
	return data, nil
}

// readContextFile returns the content of the regular file at name, following
// symlinks inside the context. It fails with fs.ErrNotExist when there is no
// such file.
func readContextFile(tree *fsTree, name string) ([]byte, error) {
	resolved, err := tree.resolve(name, true, false)
	if err != nil {
		return nil, err
	}
	n := tree.lookup(resolved)
	if n == nil || n.hdr.Typeflag != tar.TypeReg {
		return nil, fs.ErrNotExist
	}
	return n.content.readAll()
}

// ignorePatterns returns the .dockerignore patterns for the Dockerfile at
// dockerfile: "<Dockerfile>.dockerignore" next to it when present, else
// .dockerignore at the context root, else none.
func ignorePatterns(tree *fsTree, dockerfile string) ([]string, error) {
	for _, name := range []string{dockerfile + ".dockerignore", ".dockerignore"} {
		data, err := readContextFile(tree, name)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errOutsideRoot) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, invalid(err))
		}
		return patterns, nil
	}
	return nil, nil
}

// applyIgnore removes the entries matched by .dockerignore patterns from
// the tree. A directory excluded by a pattern stays only if an exception
// ("!pattern") keeps something below it.
func applyIgnore(tree *fsTree, patterns []string) error {
	if len(patterns) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("parse .dockerignore: %w", invalid(err))
	}
	_, err = ignoreChildren(tree.root, pm, patternmatcher.MatchInfo{})
	return err
}

// ignoreChildren removes the ignored children of dir and reports whether
// dir has children left.
func ignoreChildren(dir *fsNode, pm *patternmatcher.PatternMatcher, parent patternmatcher.MatchInfo) (bool, error) {
	for _, name := range sortedNames(dir) {
		child := dir.children[name]
		excluded, info, err := pm.MatchesUsingParentResults(child.hdr.Name, parent)
		if err != nil {
			return false, fmt.Errorf("match .dockerignore patterns on %s: %w", child.hdr.Name, err)
		}
		if !child.isDir() {
			if excluded {
				delete(dir.children, name)
			}
			continue
		}
		if excluded && !pm.Exclusions() {
			delete(dir.children, name)
			continue
		}
		kept, err := ignoreChildren(child, pm, info)
		if err != nil {
			return false, err
		}
		if excluded && !kept {
			delete(dir.children, name)
		}
	}
	return len(dir.children) > 0, nil
}
