package build

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// serveFiles serves body at every path under /files/ with a fixed
// Last-Modified header, and 404 elsewhere.
func serveFiles(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/files/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Wed, 01 Mar 2023 10:00:00 GMT")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAddURLFile(t *testing.T) {
	srv := serveFiles(t, "remote data")
	b, store, _ := newTestBuilder(t)
	sum := digest.FromString("remote data")
	df := "FROM busybox\nADD " + srv.URL + "/files/data.txt /dl/\n" +
		"ADD --checksum=" + sum.String() + " " + srv.URL + "/files/x /named\n"
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	first := store.layer(t, store.images[img.ID].img.Parent)
	data := findEntry(t, first, "dl/data.txt")
	assert.Check(t, is.Equal(data.body, "remote data"))
	assert.Check(t, is.Equal(data.mode, int64(0o600)))

	named := findEntry(t, store.layer(t, img.ID), "named")
	assert.Check(t, is.Equal(named.body, "remote data"))
}

func TestAddURLModTime(t *testing.T) {
	srv := serveFiles(t, "x")
	b, store, _ := newTestBuilder(t)
	df := "FROM busybox\nADD " + srv.URL + "/files/a.txt /a.txt\n"
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	hdrs := store.layerHeaders(t, img.ID)
	want := time.Date(2023, 3, 1, 10, 0, 0, 0, time.UTC)
	assert.Check(t, hdrs["a.txt"].ModTime.Equal(want), "mtime %v", hdrs["a.txt"].ModTime)
}

func TestAddURLErrors(t *testing.T) {
	srv := serveFiles(t, "remote data")
	wrong := digest.FromString("other")
	tests := []struct {
		name string
		line string
		want []string
	}{
		{
			name: "checksum mismatch",
			line: "ADD --checksum=" + wrong.String() + " " + srv.URL + "/files/a /a",
			want: []string{srv.URL + "/files/a", wrong.String(), digest.FromString("remote data").String()},
		},
		{
			name: "invalid checksum",
			line: "ADD --checksum=sha256:zz " + srv.URL + "/files/a /a",
			want: []string{`invalid checksum "sha256:zz"`},
		},
		{
			name: "checksum on a local file",
			line: "ADD --checksum=" + wrong.String() + " a.txt /a",
			want: []string{"checksum can't be specified for non-HTTP(S) sources"},
		},
		{
			name: "not found",
			line: "ADD " + srv.URL + "/missing /a",
			want: []string{"404 Not Found"},
		},
		{
			name: "no file name",
			line: "ADD " + srv.URL + "/files/ /dir/",
			want: []string{"cannot determine filename from url"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, _ := newTestBuilder(t)
			df := "FROM busybox\n" + tc.line + "\n"
			_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
			assert.Assert(t, err != nil)
			for _, part := range tc.want {
				assert.Check(t, is.Contains(err.Error(), part))
			}
		})
	}
}

func TestAddURLArchiveNotExtracted(t *testing.T) {
	archive := makeTar(t, []tarEntry{file("inner.txt", "inner")})
	srv := serveFiles(t, string(archive))
	b, store, _ := newTestBuilder(t)
	df := "FROM busybox\nADD " + srv.URL + "/files/a.tar /x/\n"
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(findEntry(t, store.layer(t, img.ID), "x/a.tar").body, string(archive)))
}

func TestAddZstdArchive(t *testing.T) {
	archive := makeTar(t, []tarEntry{file("inner.txt", "inner")})
	var compressed bytes.Buffer
	zw, err := zstd.NewWriter(&compressed)
	assert.NilError(t, err)
	_, err = zw.Write(archive)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())

	b, store, _ := newTestBuilder(t)
	ctxTar := makeTar(t, []tarEntry{
		file("Dockerfile", "FROM busybox\nADD a.tar.zst /x/\n"),
		file("a.tar.zst", compressed.String()),
	})
	img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(findEntry(t, store.layer(t, img.ID), "x/inner.txt").body, "inner"))
}
