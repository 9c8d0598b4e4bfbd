package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// readLines returns the raw lines of a log file.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	assert.NilError(t, err)
	defer f.Close()

	var lines []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
	}
	assert.NilError(t, scanner.Err())
	return lines
}

func decode(t *testing.T, line string) entry {
	t.Helper()
	var e entry
	assert.NilError(t, json.Unmarshal([]byte(line), &e))
	return e
}

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path)
	assert.NilError(t, err)

	_, err = w.Stream(Stdout).Write([]byte("hello\nwor"))
	assert.NilError(t, err)
	_, err = w.Stream(Stderr).Write([]byte("oops\n"))
	assert.NilError(t, err)
	_, err = w.Stream(Stdout).Write([]byte("ld\n<a>&\x00\xff\ntail"))
	assert.NilError(t, err)
	assert.NilError(t, w.Close())

	lines := readLines(t, path)
	assert.Assert(t, is.Len(lines, 5))
	format := regexp.MustCompile(`^\{"log":"(.*)","stream":"(stdout|stderr)","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"\}$`)
	expected := []struct{ log, stream string }{
		{`hello\n`, "stdout"},
		{`oops\n`, "stderr"},
		{`world\n`, "stdout"},
		{`\u003ca\u003e\u0026\u0000\ufffd\n`, "stdout"},
		{`tail`, "stdout"},
	}
	for i, line := range lines {
		match := format.FindStringSubmatch(line)
		assert.Assert(t, match != nil, "line %d does not match the json-file format: %s", i, line)
		assert.Check(t, is.Equal(match[1], expected[i].log), "line %d", i)
		assert.Check(t, is.Equal(match[2], expected[i].stream), "line %d", i)
	}
}

func TestWriterLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path)
	assert.NilError(t, err)

	long := strings.Repeat("x", 2*MaxLineSize+100)
	_, err = w.Stream(Stdout).Write([]byte(long[:1000]))
	assert.NilError(t, err)
	_, err = w.Stream(Stdout).Write([]byte(long[1000:] + "\nnext\n"))
	assert.NilError(t, err)
	assert.NilError(t, w.Close())

	lines := readLines(t, path)
	assert.Assert(t, is.Len(lines, 4))
	assert.Check(t, is.Equal(decode(t, lines[0]).Log, long[:MaxLineSize]))
	assert.Check(t, is.Equal(decode(t, lines[1]).Log, long[MaxLineSize:2*MaxLineSize]))
	assert.Check(t, is.Equal(decode(t, lines[2]).Log, long[2*MaxLineSize:]+"\n"))
	assert.Check(t, is.Equal(decode(t, lines[3]).Log, "next\n"))
}

func TestWriterClosed(t *testing.T) {
	w, err := NewWriter(filepath.Join(t.TempDir(), "c-json.log"))
	assert.NilError(t, err)
	assert.NilError(t, w.Close())
	assert.NilError(t, w.Close())

	_, err = w.Stream(Stdout).Write([]byte("late\n"))
	assert.Check(t, is.ErrorIs(err, os.ErrClosed))
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// writeEntries writes n entries, alternating stdout and stderr, with entry i
// at base+i seconds and text "line i\n".
func writeEntries(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	assert.NilError(t, err)
	defer f.Close()

	bw := bufio.NewWriter(f)
	for i := range n {
		stream := Stdout
		if i%2 == 1 {
			stream = Stderr
		}
		line, err := json.Marshal(entry{Log: fmt.Sprintf("line %d\n", i), Stream: stream, Time: base.Add(time.Duration(i) * time.Second)})
		assert.NilError(t, err)
		_, err = bw.Write(append(line, '\n'))
		assert.NilError(t, err)
	}
	assert.NilError(t, bw.Flush())
}

func collect(t *testing.T, path string, opts ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, opts, nil, func(m Message) error {
		got = append(got, strings.TrimSuffix(string(m.Line), "\n"))
		return nil
	})
	assert.NilError(t, err)
	return got
}

func lineRange(from, to, step int) []string {
	var out []string
	for i := from; i < to; i += step {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 10)

	tests := []struct {
		name     string
		opts     ReadOptions
		expected []string
	}{
		{name: "all", opts: ReadOptions{Tail: -1}, expected: lineRange(0, 10, 1)},
		{name: "tail none", opts: ReadOptions{Tail: 0}, expected: nil},
		{name: "tail three", opts: ReadOptions{Tail: 3}, expected: lineRange(7, 10, 1)},
		{name: "tail beyond start", opts: ReadOptions{Tail: 50}, expected: lineRange(0, 10, 1)},
		{name: "stdout only", opts: ReadOptions{Tail: -1, Stdout: true}, expected: lineRange(0, 10, 2)},
		{name: "stderr tail", opts: ReadOptions{Tail: 2, Stderr: true}, expected: []string{"line 7", "line 9"}},
		{name: "since", opts: ReadOptions{Tail: -1, Since: base.Add(8 * time.Second)}, expected: lineRange(8, 10, 1)},
		{name: "until", opts: ReadOptions{Tail: -1, Until: base.Add(2 * time.Second)}, expected: lineRange(0, 3, 1)},
		{
			name:     "tail within range",
			opts:     ReadOptions{Tail: 2, Since: base.Add(3 * time.Second), Until: base.Add(6 * time.Second)},
			expected: lineRange(5, 7, 1),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.DeepEqual(collect(t, path, tc.opts), tc.expected))
		})
	}
}

func TestReadTailAcrossBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 5000)

	for _, n := range []int{1, 999, 3000, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			assert.Check(t, is.DeepEqual(collect(t, path, ReadOptions{Tail: n}), lineRange(5000-n, 5000, 1)))
		})
	}
}

func TestReadIncompleteLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 3)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	assert.NilError(t, err)
	_, err = f.WriteString(`{"log":"half`)
	assert.NilError(t, err)
	assert.NilError(t, f.Close())

	assert.Check(t, is.DeepEqual(collect(t, path, ReadOptions{Tail: -1}), lineRange(0, 3, 1)))
	assert.Check(t, is.DeepEqual(collect(t, path, ReadOptions{Tail: 1}), []string{"line 2"}))
}

func TestReadMissingFile(t *testing.T) {
	assert.Check(t, is.Len(collect(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}), 0))
}

// followInBackground runs Read with Follow and sends every line to the
// returned channel, and Read's result to the error channel.
func followInBackground(ctx context.Context, path string, opts ReadOptions, stop <-chan struct{}) (<-chan string, <-chan error) {
	lines := make(chan string, 100)
	result := make(chan error, 1)
	opts.Follow = true
	go func() {
		result <- Read(ctx, path, opts, stop, func(m Message) error {
			lines <- string(m.Line)
			return nil
		})
		close(lines)
	}()
	return lines, result
}

func TestReadFollow(t *testing.T) {
	tests := []struct {
		name   string
		create bool // whether the log exists before Read starts
	}{
		{name: "existing file", create: true},
		{name: "file created later", create: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			if tc.create {
				writeEntries(t, path, 2)
			}
			stop := make(chan struct{})
			lines, result := followInBackground(context.Background(), path, ReadOptions{Tail: -1}, stop)
			if tc.create {
				assert.Check(t, is.Equal(<-lines, "line 0\n"))
				assert.Check(t, is.Equal(<-lines, "line 1\n"))
			}

			w, err := NewWriter(path)
			assert.NilError(t, err)
			_, err = w.Stream(Stdout).Write([]byte("live 1\n"))
			assert.NilError(t, err)
			assert.Check(t, is.Equal(<-lines, "live 1\n"))

			// Lines written before stopFollow is closed are still read.
			_, err = w.Stream(Stderr).Write([]byte("live 2\nlast"))
			assert.NilError(t, err)
			assert.NilError(t, w.Close())
			close(stop)

			assert.NilError(t, <-result)
			var rest []string
			for line := range lines {
				rest = append(rest, line)
			}
			assert.Check(t, is.DeepEqual(rest, []string{"live 2\n", "last"}))
		})
	}
}

func TestReadFollowCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 1)
	ctx, cancel := context.WithCancel(context.Background())

	lines, result := followInBackground(ctx, path, ReadOptions{Tail: -1}, nil)
	assert.Check(t, is.Equal(<-lines, "line 0\n"))
	cancel()
	assert.Check(t, is.ErrorIs(<-result, context.Canceled))
}

func TestReadFollowUntilPassed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 3)

	lines, result := followInBackground(context.Background(), path, ReadOptions{Tail: -1, Until: base.Add(time.Second)}, nil)
	assert.NilError(t, <-result)
	var got []string
	for line := range lines {
		got = append(got, line)
	}
	assert.Check(t, is.DeepEqual(got, []string{"line 0\n", "line 1\n"}))
}

func TestReadCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	writeEntries(t, path, 3)
	stopErr := fmt.Errorf("client gone")

	calls := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, nil, func(Message) error {
		calls++
		return stopErr
	})
	assert.Check(t, is.ErrorIs(err, stopErr))
	assert.Check(t, is.Equal(calls, 1))
}
