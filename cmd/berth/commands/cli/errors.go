package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// StatusError ends a command with a specific exit code.
type StatusError struct {
	// Status is the message for stderr; empty when the command already
	// reported the failure or has nothing to say (a container's exit code).
	Status     string
	StatusCode int
	// Cause is the underlying error, if any.
	Cause error
}

// Error returns Status, or a generic text naming the exit code.
func (e StatusError) Error() string {
	if e.Status != "" {
		return e.Status
	}
	return fmt.Sprintf("exit status %d", e.StatusCode)
}

// Unwrap returns the cause.
func (e StatusError) Unwrap() error { return e.Cause }

// ExitCode returns the process exit code for err: 0 for nil, StatusCode for
// a StatusError, else 1.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var statusErr StatusError
	if errors.As(err, &statusErr) {
		return statusErr.StatusCode
	}
	return 1
}

// PrintError writes err to w the way Docker's CLI does and returns the exit
// code. A StatusError without Status prints nothing.
func PrintError(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var statusErr StatusError
	if errors.As(err, &statusErr) {
		if statusErr.Status != "" {
			fmt.Fprintln(w, strings.TrimRight(statusErr.Status, "\n"))
		}
		return statusErr.StatusCode
	}
	fmt.Fprintln(w, err.Error())
	return 1
}

// FlagError wraps flag parsing errors like Docker: the message, a pointer to
// --help, and exit code 125.
func FlagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return StatusError{
		Status:     fmt.Sprintf("%s\nSee '%s --help'.", err, cmd.CommandPath()),
		StatusCode: 125,
		Cause:      err,
	}
}

// JoinErrors merges the per-argument errors of a multi-argument command
// into one error whose message lists each on its own line. It returns nil
// for an empty slice.
func JoinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
