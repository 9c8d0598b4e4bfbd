package build

import (
	"bytes"
	"context"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestRunHeredocForms(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		wantCmd    []string
		wantScript *Script
	}{
		{
			name:       "script",
			dockerfile: "FROM busybox\nRUN <<EOF\necho $A\necho two\nEOF\n",
			wantCmd:    []string{"/bin/sh", "-c", "echo $A\necho two\n"},
		},
		{
			name:       "chomped script",
			dockerfile: "FROM busybox\nRUN <<-EOF\n\techo one\nEOF\n",
			wantCmd:    []string{"/bin/sh", "-c", "echo one\n"},
		},
		{
			name:       "interpreter line",
			dockerfile: "FROM busybox\nRUN <<EOF\n#!/usr/bin/env sh\necho hi\nEOF\n",
			wantCmd:    []string{"/bin/sh", "-c", "/dev/pipes/EOF"},
			wantScript: &Script{Name: "EOF", Data: "#!/usr/bin/env sh\necho hi\n"},
		},
		{
			name:       "file for a command",
			dockerfile: "FROM busybox\nRUN <<EOF cat > /x\nhello $A\nEOF\n",
			wantCmd:    []string{"/bin/sh", "-c", "<<EOF cat > /x\nhello $A\nEOF"},
		},
		{
			name:       "two documents",
			dockerfile: "FROM busybox\nRUN <<A cat > /a && cat <<'B' > /b\none\nA\ntwo $X\nB\n",
			wantCmd:    []string{"/bin/sh", "-c", "<<A cat > /a && cat <<'B' > /b\none\nA\ntwo $X\nB"},
		},
		{
			name:       "shell instruction",
			dockerfile: "FROM busybox\nSHELL [\"/bin/bash\", \"-ec\"]\nRUN <<EOF\necho hi\nEOF\n",
			wantCmd:    []string{"/bin/bash", "-ec", "echo hi\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, runner := newTestBuilder(t)
			_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": tc.dockerfile}),
				Options{}, &bytes.Buffer{})
			assert.NilError(t, err)
			assert.Assert(t, is.Len(runner.requests, 1))
			assert.Check(t, is.DeepEqual(runner.requests[0].Cmd, tc.wantCmd))
			assert.Check(t, is.DeepEqual(runner.requests[0].Script, tc.wantScript))
		})
	}
}

func TestRunHeredocScriptCacheKey(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	build := func(body string) {
		t.Helper()
		df := "FROM busybox\nRUN <<EOF\n#!/bin/sh\n" + body + "\nEOF\n"
		_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
		assert.NilError(t, err)
	}
	build("echo one")
	build("echo one")
	assert.Check(t, is.Len(runner.requests, 1), "same script must hit the cache")
	build("echo two")
	assert.Check(t, is.Len(runner.requests, 2), "a changed script must miss the cache")
}

func TestCopyHeredoc(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	df := "FROM busybox\nARG NAME=world\n" +
		"COPY <<EOF /greeting\nhello $NAME \"q\" \\n\nEOF\n" +
		"COPY <<'EOF' /raw\nhello $NAME\nEOF\n" +
		"COPY --chmod=755 <<a <<b /dir/\nfirst\na\nsecond\nb\n"
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	multi := store.layer(t, img.ID)
	a := findEntry(t, multi, "dir/a")
	assert.Check(t, is.Equal(a.body, "first\n"))
	assert.Check(t, is.Equal(a.mode, int64(0o755)))
	assert.Check(t, is.Equal(findEntry(t, multi, "dir/b").body, "second\n"))

	rawID := store.images[img.ID].img.Parent
	raw := findEntry(t, store.layer(t, rawID), "raw")
	assert.Check(t, is.Equal(raw.body, "hello $NAME\n"), "a quoted delimiter must not expand")

	greeting := findEntry(t, store.layer(t, store.images[rawID].img.Parent), "greeting")
	assert.Check(t, is.Equal(greeting.body, "hello world \"q\" n\n"), "quotes stay and escapes apply, as in BuildKit")
	assert.Check(t, is.Equal(greeting.mode, int64(0o644)))
}

func TestCopyChmod(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	ctxTar := makeTar(t, []tarEntry{
		file("Dockerfile", "FROM busybox\nCOPY --chmod=0640 src /dst\n"),
		dir("src/", 0o755),
		file("src/a", "a"),
		symlink("src/l", "a"),
	})
	img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	layer := store.layer(t, img.ID)
	assert.Check(t, is.Equal(findEntry(t, layer, "dst/").mode, int64(0o640)))
	assert.Check(t, is.Equal(findEntry(t, layer, "dst/a").mode, int64(0o640)))
	assert.Check(t, is.Equal(findEntry(t, layer, "dst/l").mode, int64(0o777)), "symlinks keep their mode")
}

func TestCopyLinkIgnoresParent(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	ctxTar := makeTar(t, []tarEntry{
		file("Dockerfile", "FROM busybox\nCOPY --link a.txt /tmp/x/\nCOPY --link a.txt /lib/\n"),
		file("a.txt", "a"),
	})
	img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	first := store.layer(t, store.images[img.ID].img.Parent)
	assert.Check(t, is.Equal(findEntry(t, first, "tmp/").mode, int64(0o755)),
		"a --link layer creates its parents without reading the parent image")
	assert.Check(t, is.Equal(findEntry(t, first, "tmp/x/a.txt").body, "a"))

	second := store.layer(t, img.ID)
	assert.Check(t, is.Equal(findEntry(t, second, "lib/a.txt").body, "a"),
		"a --link layer does not follow symlinks of the parent image")
}

func TestOnbuildHeredocTrigger(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	ctx := context.Background()
	parent := "FROM busybox\nONBUILD RUN <<EOF\necho triggered\nEOF\n"
	_, err := b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": parent}), Options{Tags: []string{"parent"}}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 0))

	_, err = b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": "FROM parent\n"}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(runner.requests, 1))
	assert.Check(t, is.DeepEqual(runner.requests[0].Cmd, []string{"/bin/sh", "-c", "echo triggered\n"}))
}
