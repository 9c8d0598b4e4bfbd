package container

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// forwardSignals sends every signal the client receives to the container,
// except those that concern only the client process. The returned function
// stops forwarding.
func forwardSignals(ctx context.Context, apiClient *client.Client, containerID string) func() {
	signals := make(chan os.Signal, 128)
	signal.Notify(signals)

	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case received := <-signals:
				number, ok := received.(syscall.Signal)
				if !ok || !forwardable(number) {
					continue
				}
				// The number is sent because every signal has one; the
				// daemon parses numbers and names alike.
				_, _ = apiClient.ContainerKill(ctx, containerID, client.ContainerKillOptions{
					Signal: strconv.Itoa(int(number)),
				})
			}
		}
	}()

	return func() {
		signal.Stop(signals)
		close(done)
	}
}

// forwardable reports whether sig is meant for the container: SIGCHLD and
// SIGPIPE concern the client, SIGURG is used by the Go runtime, and
// SIGWINCH is handled as a resize.
func forwardable(sig syscall.Signal) bool {
	switch sig {
	case unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG, unix.SIGWINCH:
		return false
	}
	return true
}

// monitorTTYSize sets the container's TTY to the size of the terminal on fd
// now and after every SIGWINCH until ctx ends.
func monitorTTYSize(ctx context.Context, apiClient *client.Client, containerID string, fd int) {
	followTerminalSize(ctx, fd, func(height, width uint) error {
		_, err := apiClient.ContainerResize(ctx, containerID, client.ContainerResizeOptions{Height: height, Width: width})
		return err
	})
}

// followTerminalSize calls apply with the size of the terminal on fd now and
// after every SIGWINCH until ctx ends.
func followTerminalSize(ctx context.Context, fd int, apply func(height, width uint) error) {
	resize := func() error {
		width, height, err := term.GetSize(fd)
		if err != nil || width <= 0 || height <= 0 {
			return err
		}
		return apply(uint(height), uint(width))
	}

	// The first resize can race the process start, so it is retried briefly.
	go func() {
		for attempt := 1; attempt <= 5; attempt++ {
			if resize() == nil {
				return
			}
			time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
		}
	}()

	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				_ = resize()
			}
		}
	}()
}
