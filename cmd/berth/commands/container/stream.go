package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"
)

// attachStreams are the local ends of an attach: nil In means stdin is not
// attached, nil Out or Err discards that stream.
type attachStreams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// TTY selects raw copying instead of demultiplexing stdout and stderr
	// frames, and puts a terminal on In into raw mode.
	TTY bool
	// DetachKeys ends the attach when typed on a TTY.
	DetachKeys []byte
}

// streamAttach copies between the hijacked connection and the local
// streams. It returns when the container's output ends, when the user types
// the detach keys (errDetached), or when ctx is cancelled.
func streamAttach(ctx context.Context, resp client.HijackedResponse, streams attachStreams) error {
	restore, err := setRawInput(streams)
	if err != nil {
		return err
	}
	defer restore()

	outputDone := make(chan error, 1)
	go func() {
		outputDone <- copyOutput(resp, streams)
		// Restore the terminal before the caller prints anything.
		restore()
	}()

	inputDone := make(chan error, 1)
	go func() {
		inputDone <- copyInput(resp, streams)
	}()

	select {
	case err := <-outputDone:
		return err
	case err := <-inputDone:
		if errors.Is(err, errDetached) {
			return err
		}
		// Stdin ended; the container may still be writing.
		select {
		case err := <-outputDone:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setRawInput puts a terminal on stdin into raw mode for a TTY attach. It
// returns a function that restores the terminal and is safe to call twice.
func setRawInput(streams attachStreams) (func(), error) {
	if streams.In == nil || !streams.TTY {
		return func() {}, nil
	}
	file, ok := streams.In.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return func() {}, nil
	}

	fd := int(file.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("set terminal to raw mode: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() { _ = term.Restore(fd, state) })
	}, nil
}

func copyOutput(resp client.HijackedResponse, streams attachStreams) error {
	out := streams.Out
	if out == nil {
		out = io.Discard
	}
	errOut := streams.Err
	if errOut == nil {
		errOut = io.Discard
	}

	var err error
	if streams.TTY {
		_, err = io.Copy(out, resp.Reader)
	} else {
		_, err = stdcopy.StdCopy(out, errOut, resp.Reader)
	}
	return err
}

// copyInput sends stdin to the container and then half-closes the
// connection, so that the daemon reads the end of stdin. Without stdin the
// connection stays open both ways, because the daemon reads a close from
// the client as the end of the attach.
func copyInput(resp client.HijackedResponse, streams attachStreams) error {
	if streams.In == nil {
		return nil
	}
	in := streams.In
	if streams.TTY && len(streams.DetachKeys) > 0 {
		in = newEscapeReader(in, streams.DetachKeys)
	}
	_, err := io.Copy(resp.Conn, in)
	if errors.Is(err, errDetached) {
		return err
	}
	return resp.CloseWrite()
}
