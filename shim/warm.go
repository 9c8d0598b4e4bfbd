package shim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
)

// Launcher starts shims like Launch, but keeps one shim process started
// ahead of time that waits for its Options. Taking the waiting process skips
// the exec and start-up of the berth binary, about 10 ms of every container
// start on the 2-core build machine.
//
// The waiting shim exits when the Launcher's process goes away, because it
// reads end-of-file on its options pipe.
type Launcher struct {
	binary string

	mu      sync.Mutex
	closed  bool
	waiting *warmShim
}

// warmShim is a started shim process that waits for its Options.
type warmShim struct {
	cmd      *exec.Cmd
	readyR   *os.File // the create result, as for a cold shim
	optionsW *os.File // write end of the options pipe
}

// NewLauncher returns a Launcher for shims running binary (DefaultShimBinary
// when empty) and starts the first waiting shim in the background.
func NewLauncher(ctx context.Context, binary string) *Launcher {
	if binary == "" {
		binary = DefaultShimBinary
	}
	l := &Launcher{binary: binary}
	go l.refill(ctx)
	return l
}

// Launch starts a shim for opts, as the package-level Launch does, using the
// waiting shim when there is one with the same binary.
func (l *Launcher) Launch(ctx context.Context, opts Options) (*Client, error) {
	if opts.ShimBinary == "" {
		opts.ShimBinary = l.binary
	}
	if opts.ShimBinary != l.binary {
		return Launch(ctx, opts)
	}

	l.mu.Lock()
	warm := l.waiting
	l.waiting = nil
	l.mu.Unlock()
	go l.refill(context.WithoutCancel(ctx))

	if warm == nil {
		return Launch(ctx, opts)
	}
	return launch(ctx, opts, func() (*exec.Cmd, *os.File, error) {
		defer warm.optionsW.Close()
		if err := writeMessage(warm.optionsW, opts); err != nil {
			// The waiting shim died (killed, or crashed at start-up): a
			// freshly started one takes its place.
			log.FromContext(ctx).Warn("waiting shim is gone; starting a new one", log.Err(err))
			warm.cmd.Process.Kill()
			warm.cmd.Wait()
			warm.readyR.Close()
			return startShim(opts)
		}
		return warm.cmd, warm.readyR, nil
	})
}

// Close stops the waiting shim.
func (l *Launcher) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.waiting != nil {
		l.waiting.optionsW.Close()
		l.waiting.readyR.Close()
		l.waiting.cmd.Wait()
		l.waiting = nil
	}
}

// refill starts a waiting shim unless one is there already.
func (l *Launcher) refill(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.waiting != nil {
		return
	}
	warm, err := startWarmShim(l.binary)
	if err != nil {
		log.FromContext(ctx).Warn("start waiting shim; containers start without one", log.Err(err))
		return
	}
	l.waiting = warm
}

// startWarmShim starts `<binary> shim --options-fd 4 --ready-fd 3` in a new
// session, with its output discarded until it has read its state directory.
func startWarmShim(binary string) (*warmShim, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create shim ready pipe: %w", err)
	}
	defer readyW.Close()
	optionsR, optionsW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		return nil, fmt.Errorf("create shim options pipe: %w", err)
	}
	defer optionsR.Close()

	cmd := exec.Command(binary, "shim", "--options-fd", "4", "--ready-fd", "3")
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{readyW, optionsR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyR.Close()
		optionsW.Close()
		return nil, fmt.Errorf("start shim %s: %w", binary, err)
	}
	return &warmShim{cmd: cmd, readyR: readyR, optionsW: optionsW}, nil
}

// readWarmOptions reads the Options a Launcher sends to a waiting shim and
// sends the shim's own output to StateDir/shim.log from then on.
func readWarmOptions(fd int) (Options, error) {
	pipe := os.NewFile(uintptr(fd), "options")
	defer pipe.Close()

	var opts Options
	if err := readMessage(pipe, &opts); err != nil {
		return Options{}, fmt.Errorf("read shim options: %w", err)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return Options{}, fmt.Errorf("create shim state directory: %w", err)
	}
	shimLog, err := os.OpenFile(filepath.Join(opts.StateDir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return Options{}, fmt.Errorf("open shim log: %w", err)
	}
	defer shimLog.Close()
	for _, target := range []int{1, 2} {
		if err := unix.Dup3(int(shimLog.Fd()), target, 0); err != nil {
			return Options{}, fmt.Errorf("redirect shim output to %s: %w", shimLog.Name(), err)
		}
	}
	return opts, nil
}
