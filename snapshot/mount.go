package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// runIsolated runs fn on an OS thread whose filesystem attributes (root,
// working directory, umask) are unshared from the rest of the process, so fn
// may chdir or chroot. The thread is discarded when fn returns.
//
// fn never runs on the main thread: /proc/self shows the main thread's root
// and working directory, and the Go runtime parks a locked main thread instead
// of ending it, so the changed state would stay visible to the whole process.
func runIsolated(fn func() error) error {
	errc := make(chan error, 1)

	go func() {
		runtime.LockOSThread()

		if unix.Gettid() == unix.Getpid() {
			// While this goroutine holds the main thread, the new goroutine
			// is scheduled on another thread.
			errc <- runIsolated(fn)
			runtime.UnlockOSThread()
			return
		}

		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare filesystem attributes: %w", err)
			return
		}
		// The goroutine returns without unlocking, so the runtime ends the
		// thread together with its changed filesystem attributes.
		errc <- fn()
	}()

	return <-errc
}

// overlayOptions returns the options that switch off overlay features which
// would make the upper directory an incomplete diff: metacopy copies up only
// metadata, redirect_dir records directory renames as xattrs, and index ties
// upper entries to the inodes of lower layers. An option is only passed when
// the kernel module has the parameter, because older kernels reject unknown
// options.
//
// NOTE: before the first overlay mount loads the overlay module its
// parameters are not visible, so that mount runs with the kernel defaults,
// which have all three features off unless the kernel was built otherwise.
func overlayOptions() []string {
	var opts []string
	for _, name := range []string{"index", "metacopy", "redirect_dir"} {
		if _, err := os.Stat(filepath.Join("/sys/module/overlay/parameters", name)); err == nil {
			opts = append(opts, name+"=off")
		}
	}
	return opts
}

// mountOverlay mounts an overlay at target. lowerDirs (top first), upperDir
// and workDir are relative to dir, so the option string stays short enough
// for the one-page limit of mount(2) data with dozens of layers.
func mountOverlay(dir, target string, lowerDirs []string, upperDir, workDir string) error {
	opts := append([]string{
		"lowerdir=" + strings.Join(lowerDirs, ":"),
		"upperdir=" + upperDir,
		"workdir=" + workDir,
	}, overlayOptions()...)
	data := strings.Join(opts, ",")

	if pageSize := os.Getpagesize(); len(data) >= pageSize {
		return fmt.Errorf("%w: overlay options for %d layers are %d bytes, more than the %d-byte limit",
			errdefs.ErrInvalidArgument, len(lowerDirs), len(data), pageSize-1)
	}

	err := runIsolated(func() error {
		if err := unix.Chdir(dir); err != nil {
			return fmt.Errorf("chdir %s: %w", dir, err)
		}
		return unix.Mount("overlay", target, "overlay", 0, data)
	})
	if err != nil {
		return fmt.Errorf("mount overlay at %s (options %q): %w", target, data, err)
	}
	return nil
}

// isMountPoint reports whether path is the root of a mount, by comparing its
// device with the device of its parent directory.
func isMountPoint(path string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	if err := unix.Lstat(filepath.Dir(path), &parent); err != nil {
		return false, &os.PathError{Op: "lstat", Path: filepath.Dir(path), Err: err}
	}
	return st.Dev != parent.Dev, nil
}

// unmount unmounts path if it is a mount point. A busy mount yields an error
// wrapping errdefs.ErrConflict unless detach is set, which then detaches it
// lazily.
func unmount(path string, detach bool) error {
	mounted, err := isMountPoint(path)
	if isNotExist(err) {
		return nil
	}
	if err != nil || !mounted {
		return err
	}

	err = unix.Unmount(path, 0)
	if errors.Is(err, unix.EBUSY) && detach {
		err = unix.Unmount(path, unix.MNT_DETACH)
	}
	switch {
	case err == nil, errors.Is(err, unix.EINVAL): // EINVAL: not mounted any more
		return nil
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("unmount %s: %w: %w", path, errdefs.ErrConflict, err)
	default:
		return fmt.Errorf("unmount %s: %w", path, err)
	}
}
