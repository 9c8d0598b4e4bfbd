// Package initproc is the init process of containers run with --init. It
// runs as PID 1 and starts the command in its own process group. It
// forwards the signals it receives to that group, reaps every child that
// exits, and exits with the command's status once the command exits.
package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Path is the mount point of the berth binary in a container run with
// --init, the path Docker uses for its init.
const Path = "/sbin/docker-init"

// exitCodeNotStarted is the exit status when the command cannot be run,
// with the meaning shells give it.
const (
	exitCodeNotFound   = 127
	exitCodeNotStarted = 126
)

// Run starts args ("--" optional before the command) and returns the exit
// status for the init to exit with: the command's exit code, or 128 plus
// the signal number when a signal ended it.
func Run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "docker-init: missing command; usage: docker-init -- COMMAND [ARG...]")
		return exitCodeNotStarted
	}

	// Subscribe before the command starts so that no signal is lost.
	signals := make(chan os.Signal, 32)
	signal.Notify(signals)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if isTerminal(0) {
		// The command's group becomes the terminal's foreground group, so
		// that it can read from the terminal and gets its Ctrl-C.
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "docker-init: start %s: %v\n", args[0], err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return exitCodeNotFound
		}
		return exitCodeNotStarted
	}
	child := cmd.Process.Pid

	for sig := range signals {
		s := sig.(syscall.Signal)
		switch s {
		case syscall.SIGCHLD:
			if code, done := reap(child); done {
				return code
			}
		case syscall.SIGURG, syscall.SIGPIPE:
			// The Go runtime uses SIGURG to preempt goroutines, and SIGPIPE
			// concerns the init's own writes.
		default:
			// The group may be gone already, and the next SIGCHLD
			// then ends the loop.
			unix.Kill(-child, s)
		}
	}
	return exitCodeNotStarted
}

// reap waits for every exited child without blocking. It returns the exit
// status of the command, and true, once the command has exited.
func reap(command int) (code int, done bool) {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid != command {
			continue
		}
		switch {
		case status.Exited():
			code, done = status.ExitStatus(), true
		case status.Signaled():
			code, done = 128+int(status.Signal()), true
		}
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
