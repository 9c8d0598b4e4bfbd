package container

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/internal/rootarchive"
)

type cpOptions struct {
	archive    bool
	followLink bool
}

// NewCpCommand returns "cp": copy files between a container and the host.
func NewCpCommand(c *cli.CLI) *cobra.Command {
	var opts cpOptions
	var quiet bool
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Long: "Copy files/folders between a container and the local filesystem\n\n" +
			"Use '-' as the source to read a tar archive from stdin\n" +
			"and extract it to a directory destination in a container.\n" +
			"Use '-' as the destination to stream a tar archive of a\n" +
			"container source to stdout.",
		Args: cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcCtr, src := splitCpArg(args[0])
			dstCtr, dst := splitCpArg(args[1])
			if src == "" {
				return errdefs.ErrInvalidArgument.WithMessage("source can not be empty")
			}
			if dst == "" {
				return errdefs.ErrInvalidArgument.WithMessage("destination can not be empty")
			}
			switch {
			case srcCtr != "" && dstCtr != "":
				return errdefs.ErrInvalidArgument.WithMessage("copying between containers is not supported")
			case srcCtr == "" && dstCtr == "":
				return errdefs.ErrInvalidArgument.WithMessage("must specify at least one container source")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			if srcCtr != "" {
				return copyFromContainer(cmd.Context(), c, apiClient, srcCtr, src, dst, opts)
			}
			return copyToContainer(cmd.Context(), c, apiClient, src, dstCtr, dst, opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	flags.BoolVarP(&opts.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Suppress progress output during copy")
	return cmd
}

// splitCpArg splits "CONTAINER:PATH". An absolute path, or one whose part
// before ":" starts with ".", is local, as in Docker.
func splitCpArg(arg string) (container, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	name, rest, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(name, ".") {
		return "", arg
	}
	return name, rest
}

// copiesContents reports whether p ends in "/.", which copies the contents
// of a directory rather than the directory itself.
func copiesContents(p string) bool {
	return p == "." || strings.HasSuffix(p, "/.")
}

// resolveContainerLink follows a symlink p whose target is target, the way
// Docker's -L does: relative targets are relative to p's directory.
func resolveContainerLink(p, target string) string {
	if path.IsAbs(target) {
		return target
	}
	return path.Join(path.Dir(path.Clean(p)), target)
}

func copyFromContainer(ctx context.Context, c *cli.CLI, apiClient *client.Client, ctr, src, dst string, opts cpOptions) error {
	if opts.followLink {
		res, err := apiClient.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: src})
		if err != nil {
			return err
		}
		if res.Stat.Mode&os.ModeSymlink != 0 {
			src = resolveContainerLink(src, res.Stat.LinkTarget)
		}
	}
	res, err := apiClient.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dst == "-" {
		_, err := io.Copy(c.Out(), res.Content)
		return err
	}

	srcIsDir := res.Stat.Mode.IsDir()
	target := dst
	if fi, err := os.Stat(dst); err == nil {
		switch {
		case fi.IsDir() && !(srcIsDir && copiesContents(src)):
			target = filepath.Join(dst, res.Stat.Name)
		case !fi.IsDir() && srcIsDir:
			return errdefs.ErrInvalidArgument.WithMessage("cannot copy a directory to a file: " + dst)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	} else if !srcIsDir && strings.HasSuffix(dst, string(filepath.Separator)) {
		return errdefs.ErrNotFound.WithMessage("destination directory " + dst + " does not exist")
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	// The archive comes from the container, so it is unpacked with the
	// same confinement as uploads: nothing lands outside abs's parent.
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(renameTar(res.Content, pw, filepath.Base(abs)))
	}()
	err = rootarchive.Extract(filepath.Dir(abs), "/", pr, rootarchive.ExtractOptions{NoOverwriteDirNonDir: true, Chown: opts.archive})
	pr.CloseWithError(err)
	return err
}

func copyToContainer(ctx context.Context, c *cli.CLI, apiClient *client.Client, src, ctr, dst string, opts cpOptions) error {
	if src == "-" {
		_, err := apiClient.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
			DestinationPath: dst, Content: c.In(), CopyUIDGID: opts.archive,
		})
		return err
	}
	contents := copiesContents(src)
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	if opts.followLink {
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	srcIsDir := fi.IsDir()

	// Where to extract, and the name the source gets there.
	dir, name := dst, filepath.Base(abs)
	res, err := apiClient.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dst})
	if err == nil && res.Stat.Mode&os.ModeSymlink != 0 {
		dst = resolveContainerLink(dst, res.Stat.LinkTarget)
		dir = dst
		res, err = apiClient.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dst})
	}
	switch {
	case err == nil && res.Stat.Mode.IsDir():
		if srcIsDir && contents {
			name = "."
		}
	case err == nil:
		if srcIsDir {
			return errdefs.ErrInvalidArgument.WithMessage("cannot copy a directory to a file: " + dst)
		}
		dir, name = path.Dir(dst), path.Base(dst)
	case errdefs.IsNotFound(err):
		if !srcIsDir && strings.HasSuffix(dst, "/") {
			return errdefs.ErrNotFound.WithMessage("destination directory " + dst + " does not exist")
		}
		dir, name = path.Dir(path.Clean(dst)), path.Base(path.Clean(dst))
	default:
		return err
	}

	pr, pw := io.Pipe()
	go func() {
		tr, tw := io.Pipe()
		go func() {
			var root, p string
			if abs == "/" {
				root, p = "/", "/"
			} else {
				root, p = filepath.Dir(abs), filepath.Base(abs)
			}
			tw.CloseWithError(rootarchive.WriteTar(root, p, tw))
		}()
		err := renameTar(tr, pw, name)
		tr.CloseWithError(err)
		pw.CloseWithError(err)
	}()
	_, err = apiClient.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: dir, Content: pr, CopyUIDGID: opts.archive,
	})
	pr.CloseWithError(err)
	return err
}

// renameTar copies the tar r to w with the first element of every entry
// name (and of hard link targets) replaced by name. Owners stay as they
// are: Docker's CLI 28 sends the host's owners with or without -a, and the
// daemon decides what to keep.
func renameTar(r io.Reader, w io.Writer, name string) error {
	rename := func(n string) string {
		_, rest, _ := strings.Cut(n, "/")
		if rest == "" && strings.HasSuffix(n, "/") {
			return name + "/"
		}
		if rest == "" && !strings.Contains(n, "/") {
			return name
		}
		return name + "/" + rest
	}
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		hdr.Name = rename(hdr.Name)
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = rename(hdr.Linkname)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
