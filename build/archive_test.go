package build

import (
	"bytes"
	"context"
	"os/exec"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestAddArchiveCompressions extracts archives compressed by the bzip2
// and xz tools. Decompressing xz runs the xz tool, as Docker does.
func TestAddArchiveCompressions(t *testing.T) {
	archive := makeTar(t, []tarEntry{file("inner.txt", "inner")})
	for _, tool := range []string{"bzip2", "xz"} {
		t.Run(tool, func(t *testing.T) {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
			cmd := exec.Command(tool, "-c")
			cmd.Stdin = bytes.NewReader(archive)
			compressed, err := cmd.Output()
			assert.NilError(t, err)

			b, store, _ := newTestBuilder(t)
			ctxTar := makeTar(t, []tarEntry{
				file("Dockerfile", "FROM busybox\nADD a.tar.x /x/\n"),
				file("a.tar.x", string(compressed)),
			})
			img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
			assert.NilError(t, err)
			assert.Check(t, is.Equal(findEntry(t, store.layer(t, img.ID), "x/inner.txt").body, "inner"))
		})
	}
}
