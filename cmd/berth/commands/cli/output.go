package cli

import (
	"errors"
	"fmt"
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

// CheckTarOutput fails when a tar archive would go to standard output and
// that is a terminal. output is the -o file, empty for standard output.
func (c *CLI) CheckTarOutput(output string) error {
	if output == "" && IsTerminal(c.Out()) {
		return ErrTarToTerminal
	}
	return nil
}

// WriteTar copies the tar archive r to the file output, or to standard
// output when output is empty. what names the operation in errors, such as
// "export container".
func (c *CLI) WriteTar(output string, r io.Reader, what string) error {
	if output == "" {
		_, err := io.Copy(c.Out(), r)
		return err
	}
	if err := WriteFileFrom(output, r); err != nil {
		return fmt.Errorf("failed to %s to %s: %w", what, output, err)
	}
	return nil
}
