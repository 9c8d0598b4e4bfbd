package runc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"

	"github.com/containerd/errdefs"
)

// Error is a failed runc call. Message is the last error runc logged, or the
// exit status and output when it logged none.
type Error struct {
	Op      string // runc subcommand, such as "create"
	ID      string // container id
	Message string
	// Err is the error of the process run, such as an exit status.
	Err error
	// kind is the errdefs class guessed from Message.
	kind error
}

func newError(op, id, message string, err error) *Error {
	if message == "" {
		message = err.Error()
	}
	return &Error{Op: op, ID: id, Message: message, Err: err, kind: classify(message)}
}

func (e *Error) Error() string {
	if e.ID == "" {
		return "runc " + e.Op + ": " + e.Message
	}
	return "runc " + e.Op + " " + e.ID + ": " + e.Message
}

// Unwrap returns the process error and the errdefs class, so that both
// errors.Is(err, errdefs.ErrNotFound) and errors.As(err, &exitErr) work.
func (e *Error) Unwrap() []error {
	return []error{e.Err, e.kind}
}

// classify maps runc's messages to errdefs classes. The texts are those of
// runc 1.1: "container does not exist", "container not running",
// "container with id exists".
func classify(message string) error {
	switch {
	case strings.Contains(message, "does not exist"):
		return errdefs.ErrNotFound
	case strings.Contains(message, "not running"), strings.Contains(message, "not stopped"),
		strings.Contains(message, "cannot start"), strings.Contains(message, "cannot delete"):
		return errdefs.ErrFailedPrecondition
	case strings.Contains(message, "exists"):
		return errdefs.ErrAlreadyExists
	}
	return errdefs.ErrUnknown
}

// IsNotFound reports whether err is runc reporting that the container does not
// exist.
func IsNotFound(err error) bool {
	return errors.Is(err, errdefs.ErrNotFound)
}

// logEntry is one line of runc's --log-format json output.
type logEntry struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// readLog returns the parsed entries and the raw bytes of a call's log.
// Unparseable lines are skipped.
func readLog(path string) ([]logEntry, []byte) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	var entries []logEntry
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for scanner.Scan() {
		var entry logEntry
		if json.Unmarshal(scanner.Bytes(), &entry) == nil {
			entries = append(entries, entry)
		}
	}
	return entries, data
}

// lastError returns the message of the last error, fatal or panic entry.
func lastError(entries []logEntry) string {
	for i := len(entries) - 1; i >= 0; i-- {
		switch entries[i].Level {
		case "error", "fatal", "panic":
			return strings.TrimSpace(entries[i].Msg)
		}
	}
	return ""
}
