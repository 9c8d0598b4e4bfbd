package container

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"gotest.tools/v3/assert"
)

func TestEscapeReader(t *testing.T) {
	sequence := []byte{16, 17} // ctrl-p,ctrl-q
	tests := []struct {
		name     string
		input    string
		want     string
		detached bool
	}{
		{name: "plain input", input: "hello\n", want: "hello\n"},
		{name: "sequence alone", input: "\x10\x11", want: "", detached: true},
		{name: "input before sequence", input: "ls\n\x10\x11trailing", want: "ls\n", detached: true},
		{name: "partial match passes through", input: "a\x10b", want: "a\x10b"},
		{name: "repeated first key", input: "\x10\x10\x11", want: "\x10", detached: true},
		{name: "partial match at end", input: "x\x10", want: "x\x10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per read exercises matches split across reads.
			reader := newEscapeReader(iotest.OneByteReader(strings.NewReader(tc.input)), sequence)

			var out bytes.Buffer
			_, err := io.Copy(&out, reader)

			assert.Equal(t, out.String(), tc.want)
			if tc.detached {
				assert.ErrorIs(t, err, errDetached)
			} else {
				assert.NilError(t, err)
			}
		})
	}
}

func TestEscapeReaderWholeReads(t *testing.T) {
	reader := newEscapeReader(strings.NewReader("abc\x10\x11def"), []byte{16, 17})

	buf := make([]byte, 64)
	n, err := reader.Read(buf)
	assert.NilError(t, err)
	assert.Equal(t, string(buf[:n]), "abc")

	_, err = reader.Read(buf)
	assert.ErrorIs(t, err, errDetached)
}
