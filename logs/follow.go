package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often a follower checks the file when inotify is not
// available or the file does not exist yet.
const pollInterval = 100 * time.Millisecond

// follow reads entries appended after the existing ones until stopFollow is
// closed, ctx is done, fn fails or an entry newer than Until appears.
func (r *reader) follow(ctx context.Context, stopFollow <-chan struct{}) error {
	changes, stopWatch := watch(r.path)
	defer stopWatch()

	var untilC <-chan time.Time
	if !r.opts.Until.IsZero() {
		timer := time.NewTimer(time.Until(r.opts.Until))
		defer timer.Stop()
		untilC = timer.C
	}

	for {
		done, err := r.readAvailable()
		if err != nil || done {
			return err
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-untilC:
			_, err := r.readAvailable()
			return err
		case <-stopFollow:
			_, err := r.readAvailable()
			return err
		case <-changes:
		}
	}
}

// readAvailable opens the file once it exists, starts over when it was
// truncated and handles the complete lines written since the last call.
func (r *reader) readAvailable() (done bool, err error) {
	if r.file == nil {
		f, err := os.Open(r.path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("open log %s: %w", r.path, err)
		}
		r.file = f
	}

	info, err := r.file.Stat()
	if err != nil {
		return false, fmt.Errorf("stat log %s: %w", r.path, err)
	}
	if info.Size() < r.offset+int64(len(r.pending)) {
		r.offset, r.pending = 0, nil
	}
	return r.readNew()
}

// watch returns a channel that receives a value when the file at path may
// have changed, and a function that stops watching. It uses inotify on the
// file and falls back to polling when inotify fails or the file does not
// exist yet. The channel has a buffer of one, so changes coalesce.
//
// NOTE: the inotify watch stays on the inode that path named at the start,
// so a log replaced by rename (rotation) is not followed. Writer never
// rotates.
func watch(path string) (<-chan struct{}, func()) {
	changes := make(chan struct{}, 1)
	notify := func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	inotify, err := newInotify(path)
	if err != nil {
		stop := make(chan struct{})
		go poll(notify, stop)
		return changes, func() { close(stop) }
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := inotify.Read(buf); err != nil {
				return
			}
			notify()
		}
	}()
	return changes, func() { inotify.Close() }
}

// poll calls notify every pollInterval until stop is closed.
func poll(notify func(), stop <-chan struct{}) {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			notify()
		}
	}
}

// newInotify returns an inotify instance watching path for writes, as a
// non-blocking file so that Close interrupts a pending Read.
func newInotify(path string) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	mask := uint32(unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF)
	if _, err := unix.InotifyAddWatch(fd, path, mask); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "inotify"), nil
}
