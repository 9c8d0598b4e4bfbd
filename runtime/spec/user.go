package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// resolveUser turns a Docker user string ("", "name", "uid", "name:group",
// "uid:gid") and additional group names or ids into the process user, using
// the rootfs's /etc/passwd and /etc/group. The files are opened inside rootfs
// so that symbolic links cannot point at the host's files. Missing files are
// fine for numeric ids and for "", which means root.
func resolveUser(rootfs, spec string, groupAdd []string) (specs.User, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return specs.User{}, fmt.Errorf("open rootfs %s: %w", rootfs, err)
	}
	defer root.Close()

	passwd, err := openOptional(root, "etc/passwd")
	if err != nil {
		return specs.User{}, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openOptional(root, "etc/group")
	if err != nil {
		return specs.User{}, err
	}
	if group != nil {
		defer group.Close()
	}

	execUser, err := user.GetExecUser(spec, nil, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		// The error names the user, in the words Docker shows: "unable to find
		// user NAME: no matching entries in passwd file".
		return specs.User{}, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}

	u := specs.User{
		UID:            uint32(execUser.Uid),
		GID:            uint32(execUser.Gid),
		AdditionalGids: []uint32{uint32(execUser.Gid)},
	}
	for _, gid := range execUser.Sgids {
		u.AdditionalGids = append(u.AdditionalGids, uint32(gid))
	}
	if len(groupAdd) == 0 {
		return u, nil
	}

	// GetExecUser read the group file to its end, so rewind it for GroupAdd.
	if group != nil {
		if _, err := group.Seek(0, io.SeekStart); err != nil {
			return specs.User{}, fmt.Errorf("read %s/etc/group: %w", rootfs, err)
		}
	}
	added, err := user.GetAdditionalGroups(groupAdd, readerOrNil(group))
	if err != nil {
		return specs.User{}, fmt.Errorf("resolve additional groups %q: %w: %w", groupAdd, err, errdefs.ErrInvalidArgument)
	}
	// GetAdditionalGroups returns the groups in map order, so sort them to
	// keep the spec the same on every run.
	slices.Sort(added)
	for _, gid := range added {
		u.AdditionalGids = append(u.AdditionalGids, uint32(gid))
	}
	return u, nil
}

// openOptional opens name inside root and returns nil when it does not exist.
//
// NOTE: os.Root rejects a symbolic link with an absolute target, such as
// etc/passwd -> /etc/passwd, although it would stay inside the container once
// it runs. Such a rootfs gets an error here.
func openOptional(root *os.Root, name string) (*os.File, error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	return f, nil
}

// readerOrNil returns f as an io.Reader, or a nil interface when f is nil:
// the user package tells "no file" from "empty file" by a nil reader.
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}

// ResolveUser turns a Docker user string, as given to exec, into the process
// user, reading /etc/passwd and /etc/group inside rootfs.
func ResolveUser(rootfs, user string) (specs.User, error) {
	return resolveUser(rootfs, user, nil)
}
