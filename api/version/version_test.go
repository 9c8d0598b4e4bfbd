package version

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		text    string
		want    Version
		invalid bool
	}{
		{text: "1.57", want: Version{1, 57}},
		{text: "1.24", want: Version{1, 24}},
		{text: "1", want: Version{1, 0}},
		{text: "2.0", want: Version{2, 0}},
		{text: "1.057", want: Version{1, 57}},
		{text: "", invalid: true},
		{text: "1.", invalid: true},
		{text: ".5", invalid: true},
		{text: "1.2.3", invalid: true},
		{text: "v1.40", invalid: true},
		{text: "1.-4", invalid: true},
		{text: "99999999999999999999.1", invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			got, err := Parse(tc.text)
			if tc.invalid {
				assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b Version
		want int
	}{
		{Version{1, 24}, Version{1, 57}, -1},
		{Version{1, 57}, Version{1, 57}, 0},
		{Version{1, 9}, Version{1, 10}, -1},
		{Version{2, 0}, Version{1, 99}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.a.String()+" vs "+tc.b.String(), func(t *testing.T) {
			assert.Equal(t, tc.a.Compare(tc.b), tc.want)
			assert.Equal(t, tc.b.Compare(tc.a), -tc.want)
			assert.Equal(t, tc.a.Less(tc.b), tc.want < 0)
			assert.Equal(t, tc.a.AtLeast(tc.b), tc.want >= 0)
		})
	}
}

func TestCheckSupported(t *testing.T) {
	assert.NilError(t, CheckSupported(Min()))
	assert.NilError(t, CheckSupported(Max()))
	assert.NilError(t, CheckSupported(Version{1, 44}))

	err := CheckSupported(Version{1, 23})
	assert.Check(t, errdefs.IsInvalidArgument(err))
	assert.Check(t, is.Error(err, "client version 1.23 is too old. Minimum supported API version is 1.24, "+
		"please upgrade your client to a newer version"))

	err = CheckSupported(Version{1, 58})
	assert.Check(t, errdefs.IsInvalidArgument(err))
	assert.Check(t, is.Error(err, "client version 1.58 is too new. Maximum supported API version is 1.57"))
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, FromContext(ctx), Max())
	assert.Equal(t, FromContext(WithContext(ctx, Version{1, 41})), Version{1, 41})
}
