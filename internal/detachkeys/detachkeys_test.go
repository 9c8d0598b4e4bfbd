package detachkeys

import (
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keys    string
		want    []byte
		invalid bool
	}{
		{keys: "", want: []byte{16, 17}},
		{keys: "ctrl-p,ctrl-q", want: []byte{16, 17}},
		{keys: "CTRL-A,x", want: []byte{1, 'x'}},
		{keys: "CTRL-Z", want: []byte{26}},
		{keys: "a,b,c", want: []byte("abc")},
		{keys: "ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", want: []byte{0, 27, 28, 29, 30, 31}},
		{keys: "ctrl-", invalid: true},
		{keys: "ctrl-1", invalid: true},
		{keys: "ctrl-ab", invalid: true},
		{keys: "alt-x", invalid: true},
		{keys: "ab", invalid: true},
		{keys: "a,,b", invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.keys, func(t *testing.T) {
			got, err := Parse(tc.keys)
			if tc.invalid {
				assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}
