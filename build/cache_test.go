package build

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// copyKeys returns the cache keys of `COPY a /a` and `COPY b /b` run on
// the same parent with a context of the given entries.
func copyKeys(t *testing.T, entries []tarEntry) (string, string) {
	t.Helper()
	tree, err := readTestContext(t, entries)
	assert.NilError(t, err)
	var keys []string
	for _, name := range []string{"a", "b"} {
		sources, err := resolveSources(tree, copyRequest{command: "COPY", sources: []string{name}, dest: "/" + name}, false)
		assert.NilError(t, err)
		d, err := sourceDigest(sources[0])
		assert.NilError(t, err)
		key, err := cacheKey("sha256:parent", dockerspec.DockerOCIImage{}, "COPY "+d+" in /"+name, d)
		assert.NilError(t, err)
		keys = append(keys, key)
	}
	return keys[0], keys[1]
}

func TestCacheKeyChangesOnlyForChangedFile(t *testing.T) {
	base := func() []tarEntry {
		return []tarEntry{
			file("a", "same"),
			{name: "b", typ: tar.TypeReg, mode: 0o644, body: "b"},
		}
	}
	keyA, keyB := copyKeys(t, base())

	tests := []struct {
		name   string
		change func(e *tarEntry)
	}{
		{name: "content", change: func(e *tarEntry) { e.body = "changed" }},
		{name: "mode", change: func(e *tarEntry) { e.mode = 0o755 }},
		{name: "owner", change: func(e *tarEntry) { e.uid = 1000 }},
		{name: "type", change: func(e *tarEntry) { *e = symlink("b", "a") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries := base()
			tc.change(&entries[1])
			gotA, gotB := copyKeys(t, entries)
			assert.Check(t, is.Equal(gotA, keyA), "the key of the unchanged file must stay")
			assert.Check(t, gotB != keyB, "the key of the changed file must change")
		})
	}
}

func TestSourceDigestIgnoresModTime(t *testing.T) {
	tree1, err := readTestContext(t, []tarEntry{file("a", "x")})
	assert.NilError(t, err)
	tree2, err := readTestContext(t, []tarEntry{file("a", "x")})
	assert.NilError(t, err)
	tree2.lookup("a").hdr.ModTime = time.Unix(42, 0)

	d1, err := sourceDigest(copySource{name: "a", node: tree1.lookup("a")})
	assert.NilError(t, err)
	d2, err := sourceDigest(copySource{name: "a", node: tree2.lookup("a")})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(d1, d2))
}

func TestSourceDigestPath(t *testing.T) {
	tree, err := readTestContext(t, []tarEntry{file("d/a", "x"), file("e/b", "x")})
	assert.NilError(t, err)
	d1, err := sourceDigest(copySource{name: "d", node: tree.lookup("d")})
	assert.NilError(t, err)
	d2, err := sourceDigest(copySource{name: "e", node: tree.lookup("e")})
	assert.NilError(t, err)
	assert.Check(t, d1 != d2, "file names inside a directory are part of its digest")
	assert.Check(t, is.Regexp("^dir:[0-9a-f]{64}$", d1))
}

func TestCacheKeyFields(t *testing.T) {
	cfg := dockerspec.DockerOCIImage{}
	key, err := cacheKey("sha256:p", cfg, "RUN x")
	assert.NilError(t, err)

	otherParent, err := cacheKey("sha256:q", cfg, "RUN x")
	assert.NilError(t, err)
	assert.Check(t, key != otherParent)

	otherInstruction, err := cacheKey("sha256:p", cfg, "RUN y")
	assert.NilError(t, err)
	assert.Check(t, key != otherInstruction)

	cfg.Config.User = "app"
	otherConfig, err := cacheKey("sha256:p", cfg, "RUN x")
	assert.NilError(t, err)
	assert.Check(t, key != otherConfig)

	now := time.Now()
	created := dockerspec.DockerOCIImage{}
	created.Created = &now
	sameKey, err := cacheKey("sha256:p", created, "RUN x")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(key, sameKey), "the creation time is not part of the key")
}

func TestCacheIndexPersists(t *testing.T) {
	dir := t.TempDir()
	store := newFakeStore()
	img := store.addBase(t, "x", nil, dockerspec.DockerOCIImageConfig{})

	c, err := loadCache(dir)
	assert.NilError(t, err)
	assert.NilError(t, c.put("k", img.ID))

	reloaded, err := loadCache(dir)
	assert.NilError(t, err)
	got, ok := reloaded.get(context.Background(), store, "k")
	assert.Assert(t, ok)
	assert.Check(t, is.Equal(got.ID, img.ID))
	_, ok = reloaded.get(context.Background(), store, "missing")
	assert.Check(t, !ok)
}

func TestPruneCacheForcesRebuild(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"}
	_, err := b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	ids, err := b.PruneCache()
	assert.NilError(t, err)
	assert.Check(t, is.Len(ids, 1))

	_, err = b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 2), "a pruned cache must not serve the step")

	reloaded, err := loadCache(b.stateDir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(reloaded.entries, 1), "the index on disk holds only the rebuilt step")
}

func TestCacheSurvivesReload(t *testing.T) {
	b, store, runner := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"}
	_, err := b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	again, err := newBuilder(store, runner, b.stateDir, store)
	assert.NilError(t, err)
	_, err = again.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 1), "a new builder on the same state directory must reuse the cache")
}
