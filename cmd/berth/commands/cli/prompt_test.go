package cli

import (
	"bytes"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestConfirmAnswers(t *testing.T) {
	tests := []struct {
		input string
		want  bool
	}{
		{"y\n", true},
		{"Y\n", true},
		{" y \n", true},
		{"yes\n", false},
		{"n\n", false},
		{"\n", false},
		{"", false},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		got := Confirm(strings.NewReader(tc.input), &out, "Sure?")
		assert.Check(t, is.Equal(got, tc.want), "input %q", tc.input)
		assert.Check(t, strings.HasPrefix(out.String(), "Sure? [y/N] "), "input %q", tc.input)
	}
}
