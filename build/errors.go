package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// lineError is an error of one Dockerfile instruction, prefixed with the
// Dockerfile's name and the instruction's line ("Dockerfile:7: ..."). It
// unwraps to the instruction's error, so exit codes and error kinds stay.
type lineError struct {
	file string
	line int
	err  error
}

func (e *lineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.err.Error())
}

func (e *lineError) Unwrap() error {
	return e.err
}

// atLine prefixes err with the Dockerfile name and the first line of
// location. An error that already has a line, or no location, is returned
// unchanged.
func atLine(file string, location []parser.Range, err error) error {
	var done *lineError
	if err == nil || len(location) == 0 || errors.As(err, &done) {
		return err
	}
	return &lineError{file: file, line: location[0].Start.Line, err: err}
}

// parseErrorAtLine prefixes a Dockerfile parse error with the line that
// the parser recorded in it. Errors whose message names the line, such as
// Docker's "dockerfile parse error on line 3: unknown instruction: FOO",
// are returned unchanged.
func parseErrorAtLine(file string, err error) error {
	var located *parser.LocationError
	if !errors.As(err, &located) || len(located.Locations) == 0 || strings.Contains(err.Error(), " on line ") {
		return err
	}
	return atLine(file, located.Locations[0], err)
}

// maxOutputLines is how many of the last output lines of a failed RUN its
// error repeats.
const maxOutputLines = 10

// runOutputError is the error of a failed RUN with the last lines the
// command printed, which BuildKit shows in its error as well.
type runOutputError struct {
	err   error
	lines []string
}

func (e *runOutputError) Error() string {
	if len(e.lines) == 0 {
		return e.err.Error()
	}
	return e.err.Error() + "\nlast lines of output:\n" + strings.Join(e.lines, "\n")
}

func (e *runOutputError) Unwrap() error {
	return e.err
}

// tailWriter passes writes through to w and keeps the last maxOutputLines
// lines of a RUN's output, leaving out the builder's container lines.
type tailWriter struct {
	w       interface{ Write([]byte) (int, error) }
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.addLine(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) addLine(line string) {
	if strings.HasPrefix(line, " ---> Running in ") || strings.HasPrefix(line, "Removing intermediate container ") {
		return
	}
	t.lines = append(t.lines, strings.TrimRight(line, "\r"))
	if len(t.lines) > maxOutputLines {
		t.lines = t.lines[len(t.lines)-maxOutputLines:]
	}
}

// tail returns the kept lines, with an unterminated last line.
func (t *tailWriter) tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(t.partial) > 0 {
		lines = append(lines, string(t.partial))
	}
	if len(lines) > maxOutputLines {
		lines = lines[len(lines)-maxOutputLines:]
	}
	return lines
}
