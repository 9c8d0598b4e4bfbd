package build

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/sys/user"
)

// copyRequest is a COPY or ADD instruction after variable expansion.
type copyRequest struct {
	// command is "COPY" or "ADD".
	command string
	sources []string
	dest    string
	chown   string
	// from names the stage or image COPY --from reads; "" is the context.
	from string
	// unpack makes ADD extract local tar archives.
	unpack bool
	// chmod is the --chmod mode of the copies; nil keeps the sources'.
	chmod *int64
	// link writes the layer without reading the parent image (--link),
	// so that it is the same whatever the parent holds.
	link bool
	// contents are the here-documents among the sources.
	contents []instructions.SourceContent
	// checksum is ADD --checksum, the expected digest of a URL source.
	checksum string
}

func copyRequestOf(cmd instructions.Command) (copyRequest, error) {
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		if err := checkCopyFlags("COPY", c.ExcludePatterns, c.Parents); err != nil {
			return copyRequest{}, err
		}
		mode, err := parseChmod(c.Chmod)
		if err != nil {
			return copyRequest{}, err
		}
		return copyRequest{
			command: "COPY", sources: c.SourcePaths, dest: c.DestPath, chown: c.Chown, from: c.From,
			chmod: mode, link: c.Link, contents: c.SourceContents,
		}, nil
	case *instructions.AddCommand:
		if err := checkCopyFlags("ADD", c.ExcludePatterns, false); err != nil {
			return copyRequest{}, err
		}
		if c.KeepGitDir != nil {
			return copyRequest{}, buildKitOnly("ADD --keep-git-dir")
		}
		mode, err := parseChmod(c.Chmod)
		if err != nil {
			return copyRequest{}, err
		}
		onlyURLs := len(c.SourceContents) == 0 && len(c.SourcePaths) > 0 &&
			!slices.ContainsFunc(c.SourcePaths, func(p string) bool { return !isURL(p) })
		if c.Checksum != "" && !onlyURLs {
			return copyRequest{}, fmt.Errorf("ADD failed: checksum can't be specified for non-HTTP(S) sources: %w",
				errdefs.ErrInvalidArgument)
		}
		unpack := c.Unpack == nil || *c.Unpack
		return copyRequest{
			command: "ADD", sources: c.SourcePaths, dest: c.DestPath, chown: c.Chown, unpack: unpack,
			chmod: mode, link: c.Link, contents: c.SourceContents, checksum: c.Checksum,
		}, nil
	}
	return copyRequest{}, fmt.Errorf("instruction %s does not copy files: %w", cmd.Name(), errdefs.ErrInvalidArgument)
}

func checkCopyFlags(command string, excludes []string, parents bool) error {
	switch {
	case len(excludes) > 0:
		return buildKitOnly(command + " --exclude")
	case parents:
		return buildKitOnly(command + " --parents")
	}
	return nil
}

// parseChmod parses the octal --chmod value; "" returns nil.
//
// NOTE: BuildKit also accepts symbolic modes such as u+x; they are
// rejected here.
func parseChmod(value string) (*int64, error) {
	if value == "" {
		return nil, nil
	}
	mode, err := strconv.ParseUint(value, 8, 32)
	if err != nil || mode > 0o7777 {
		return nil, fmt.Errorf("invalid --chmod value %q: want an octal mode such as 0755: %w",
			value, errdefs.ErrInvalidArgument)
	}
	m := int64(mode)
	return &m, nil
}

// buildKitOnly is the error for Dockerfile features that Docker's classic
// builder rejects as well.
func buildKitOnly(feature string) error {
	return fmt.Errorf("%s requires BuildKit, which this builder does not implement: %w",
		feature, errdefs.ErrNotImplemented)
}

// copySource is one resolved COPY or ADD source.
type copySource struct {
	// name is the base name of the source as written, which names the
	// copy when the destination is a directory.
	name string
	node *fsNode
	// inline marks a here-document or a downloaded file, which ADD never
	// extracts.
	inline bool
	// url is the address a downloaded source came from.
	url string
}

// resolveSources expands wildcards and follows symlinks in the source
// paths of req. clamp selects chroot semantics for ".." at the root (image
// sources) instead of rejecting the path (the build context).
func resolveSources(tree *fsTree, req copyRequest, clamp bool) ([]copySource, error) {
	var out []copySource
	for _, orig := range req.sources {
		if isURL(orig) {
			if req.command == "COPY" {
				return nil, fmt.Errorf("COPY failed: source can't be a URL for COPY: %w", errdefs.ErrInvalidArgument)
			}
			// ADD downloads URLs before resolving the other sources.
			continue
		}
		p := strings.TrimPrefix(orig, "/")
		p = strings.TrimPrefix(p, "./")
		if !hasWildcards(p) {
			src, err := resolveSource(tree, p, clamp, req.command)
			if err != nil {
				return nil, err
			}
			out = append(out, src)
			continue
		}

		err := tree.walk("", func(n *fsNode) error {
			if n.hdr.Name == "" {
				return nil
			}
			if ok, _ := filepath.Match(p, n.hdr.Name); !ok {
				return nil
			}
			src, err := resolveSource(tree, n.hdr.Name, clamp, req.command)
			if err != nil {
				return err
			}
			out = append(out, src)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 && !slices.ContainsFunc(req.sources, isURL) {
		return nil, fmt.Errorf("%s failed: no source files were specified: %w", req.command, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func resolveSource(tree *fsTree, p string, clamp bool, command string) (copySource, error) {
	resolved, err := tree.resolve(p, true, clamp)
	if errors.Is(err, errOutsideRoot) {
		return copySource{}, fmt.Errorf("%s failed: forbidden path outside the build context: %s: %w",
			command, p, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return copySource{}, fmt.Errorf("%s failed: %w", command, err)
	}
	n := tree.lookup(resolved)
	if n == nil {
		where := "file not found in build context or excluded by .dockerignore: "
		if clamp {
			where = ""
		}
		return copySource{}, fmt.Errorf("%s failed: %sstat %s: file does not exist: %w",
			command, where, displayPath(p), errdefs.ErrNotFound)
	}
	return copySource{name: path.Base(displayPath(p)), node: n}, nil
}

// heredocSources stores the here-documents of COPY or ADD as sources:
// regular files of mode 0644 named after their delimiter, as BuildKit
// writes them.
func heredocSources(blobs *blobStore, contents []instructions.SourceContent) ([]copySource, error) {
	var out []copySource
	for _, c := range contents {
		content, sum, err := blobs.write(strings.NewReader(c.Data))
		if err != nil {
			return nil, fmt.Errorf("store here-document %s: %w", c.Path, err)
		}
		hdr := &tar.Header{
			Name: c.Path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(c.Data)),
			ModTime: time.Unix(0, 0).UTC(),
		}
		out = append(out, copySource{name: c.Path, node: &fsNode{hdr: hdr, content: content, sum: sum}, inline: true})
	}
	return out, nil
}

// hasWildcards reports whether p contains an unescaped *, ? or [.
func hasWildcards(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// sourceFiles returns the regular files of the sources, for loading their
// contents from image layers.
func sourceFiles(sources []copySource) []*fsNode {
	var files []*fsNode
	for _, src := range sources {
		_ = walkNode(src.node, func(n *fsNode) error {
			if n.hdr.Typeflag == tar.TypeReg {
				files = append(files, n)
			}
			return nil
		})
	}
	return files
}

// sourceDigest returns the digest Docker's history shows for a source
// ("file:<hex>" or "dir:<hex>"). It covers the path, type, mode, owner,
// link target and content of every file, but not modification times.
// File contents must be loaded.
func sourceDigest(src copySource) (string, error) {
	h := sha256.New()
	err := walkNode(src.node, func(n *fsNode) error {
		rel := strings.TrimPrefix(strings.TrimPrefix(n.hdr.Name, src.node.hdr.Name), "/")
		fmt.Fprintf(h, "%q %c %o %d:%d %q %d,%d", path.Join(src.name, rel), n.hdr.Typeflag,
			n.hdr.Mode, n.hdr.Uid, n.hdr.Gid, n.hdr.Linkname, n.hdr.Devmajor, n.hdr.Devminor)
		if n.hdr.Typeflag == tar.TypeReg {
			if n.sum == "" {
				return fmt.Errorf("digest %s: content not loaded", n.hdr.Name)
			}
			fmt.Fprintf(h, " %s", n.sum)
		}
		fmt.Fprintln(h)
		return nil
	})
	if err != nil {
		return "", err
	}
	kind := "file"
	if src.node.isDir() {
		kind = "dir"
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)), nil
}

// combinedDigest returns the digest of several sources, like Docker's
// "multi:<hex>" history entry.
func combinedDigest(digests []string) string {
	if len(digests) == 1 {
		return digests[0]
	}
	sum := sha256.Sum256([]byte(strings.Join(digests, ",")))
	return "multi:" + hex.EncodeToString(sum[:])
}

// normalizeDest makes a COPY destination absolute against the working
// directory, keeping a trailing slash.
func normalizeDest(workdir, dest string) string {
	if path.IsAbs(dest) {
		return dest
	}
	abs := path.Join("/", workdir, dest)
	if strings.HasSuffix(dest, "/") && abs != "/" {
		abs += "/"
	}
	return abs
}

// writeCopy writes the layer of a COPY or ADD. o is the owner of the
// copies, or nil to keep the sources' owners (COPY --from without --chown).
func writeCopy(w *layerWriter, req copyRequest, workdir string, sources []copySource, o *owner) error {
	destAbs := normalizeDest(workdir, req.dest)
	dest, err := w.resolve(destAbs, true)
	if err != nil {
		return fmt.Errorf("%s failed: resolve destination %s: %w", req.command, req.dest, err)
	}
	toDir := strings.HasSuffix(destAbs, "/")

	for _, src := range sources {
		switch {
		case src.node.isDir():
			err = w.copyDir(src.node, dest, o)
		case req.unpack && !src.inline && src.node.hdr.Typeflag == tar.TypeReg && isArchive(src.node.content):
			err = w.extractArchive(src.node.content, src.name, dest)
		default:
			target := dest
			if toDir || w.isDir(dest) {
				if src.name == "" {
					return fmt.Errorf("%s failed: cannot determine filename from url: %s: %w",
						req.command, src.url, errdefs.ErrInvalidArgument)
				}
				target = path.Join(dest, src.name)
			}
			err = w.copyFile(src.node, target, o)
		}
		if err != nil {
			return fmt.Errorf("%s failed: %w", req.command, err)
		}
	}
	return nil
}

// parseChown returns the owner for --chown=USER[:GROUP]. Names are looked
// up with readFile, which returns the image's /etc/passwd or /etc/group;
// without a group, USER names the group as well, as in Docker.
func parseChown(spec string, readFile func(name string) ([]byte, error)) (owner, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if strings.Contains(groupPart, ":") || userPart == "" {
		return owner{}, fmt.Errorf("invalid --chown value %q: want USER[:GROUP]: %w", spec, errdefs.ErrInvalidArgument)
	}
	if !hasGroup {
		groupPart = userPart
	}

	uid, err := strconv.Atoi(userPart)
	if err != nil {
		uid, err = lookupID(readFile, "/etc/passwd", "user", userPart, func(data []byte) (int, bool, error) {
			users, err := user.ParsePasswdFilter(bytes.NewReader(data), func(u user.User) bool { return u.Name == userPart })
			if err != nil || len(users) == 0 {
				return 0, false, err
			}
			return users[0].Uid, true, nil
		})
		if err != nil {
			return owner{}, err
		}
	}
	gid, err := strconv.Atoi(groupPart)
	if err != nil {
		gid, err = lookupID(readFile, "/etc/group", "group", groupPart, func(data []byte) (int, bool, error) {
			groups, err := user.ParseGroupFilter(bytes.NewReader(data), func(g user.Group) bool { return g.Name == groupPart })
			if err != nil || len(groups) == 0 {
				return 0, false, err
			}
			return groups[0].Gid, true, nil
		})
		if err != nil {
			return owner{}, err
		}
	}
	return owner{UID: uid, GID: gid}, nil
}

// lookupID finds the id of the user or group (kind) called name in file.
func lookupID(readFile func(string) ([]byte, error), file, kind, name string, find func([]byte) (int, bool, error)) (int, error) {
	data, err := readFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("look up %s %s in %s: %w", kind, name, file, err)
	}
	id, ok, err := find(data)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", file, err)
	}
	if !ok {
		return 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: no such %s: %s: %w",
			kind, name, errdefs.ErrInvalidArgument)
	}
	return id, nil
}
