package image

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseBuildArgs(t *testing.T) {
	t.Setenv("BT_PROXY", "http://127.0.0.1:3128")

	args := parseBuildArgs([]string{"VERSION=1.2", "EMPTY=", "BT_PROXY", "BT_UNSET_ARG", "EQ=a=b"})

	assert.Equal(t, len(args), 5)
	assert.Equal(t, *args["VERSION"], "1.2")
	assert.Equal(t, *args["EMPTY"], "")
	assert.Equal(t, *args["BT_PROXY"], "http://127.0.0.1:3128")
	assert.Assert(t, args["BT_UNSET_ARG"] == nil)
	assert.Equal(t, *args["EQ"], "a=b")
	assert.Assert(t, parseBuildArgs(nil) == nil)
}

func TestParseLabels(t *testing.T) {
	labels := parseLabels([]string{"team=core", "flag", "a=b=c"})

	assert.DeepEqual(t, labels, map[string]string{"team": "core", "flag": "", "a": "b=c"})
	assert.Assert(t, parseLabels(nil) == nil)
}

func TestContextFromReaderCompressed(t *testing.T) {
	var compressed bytes.Buffer
	writer := gzip.NewWriter(&compressed)
	_, err := writer.Write([]byte("not really a tar, but gzip"))
	assert.NilError(t, err)
	assert.NilError(t, writer.Close())
	original := bytes.Clone(compressed.Bytes())

	buildCtx, err := contextFromReader(&compressed, "custom.Dockerfile")
	assert.NilError(t, err)

	sent, err := io.ReadAll(buildCtx.body)
	assert.NilError(t, err)
	assert.DeepEqual(t, sent, original)
	assert.Equal(t, buildCtx.dockerfile, "custom.Dockerfile")
}

func TestKeepFiles(t *testing.T) {
	tests := []struct {
		name     string
		excludes []string
		want     []string
	}{
		{name: "nothing excluded", excludes: nil, want: nil},
		{name: "unrelated patterns", excludes: []string{"*.log"}, want: []string{"*.log"}},
		{name: "dockerfile excluded", excludes: []string{"Dockerfile"}, want: []string{"Dockerfile", "!Dockerfile"}},
		{name: "everything excluded", excludes: []string{"*"}, want: []string{"*", "!.dockerignore", "!Dockerfile"}},
		{name: "parent excluded", excludes: []string{"docker"}, want: []string{"docker", "!docker/Dockerfile"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dockerfile := "Dockerfile"
			if tc.name == "parent excluded" {
				dockerfile = "docker/Dockerfile"
			}
			got, err := keepFiles(tc.excludes, []string{".dockerignore", dockerfile})
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}
