package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// IsTerminal reports whether out is a terminal.
func IsTerminal(out io.Writer) bool {
	_, ok := TerminalFd(out)
	return ok
}

// ErrTarToTerminal is returned by commands that would write a tar archive
// to a terminal.
var ErrTarToTerminal = errors.New("refusing to write a tar archive to a terminal: use -o FILE or redirect the output")

// WriteFileFrom copies r into the file path through a temporary file in
// the same directory, so path holds either its old content or all of r.
func WriteFileFrom(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = io.Copy(f, r)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
