package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

var shortIDPattern = regexp.MustCompile(`\b[0-9a-f]{12}\b`)

// normalizeIDs replaces 12-digit image IDs in build output with <id>.
func normalizeIDs(s string) string {
	return shortIDPattern.ReplaceAllString(s, "<id>")
}

const simpleDockerfile = `FROM busybox
ENV A=1
COPY a.txt /app/
RUN echo $A
CMD ["sh"]
`

func TestBuildOutputAndCache(t *testing.T) {
	b, store, runner := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": simpleDockerfile, "a.txt": "hello"}

	var out bytes.Buffer
	img, err := b.Build(ctx, contextTar(t, files), Options{Tags: []string{"test"}}, &out)
	assert.NilError(t, err)

	want := `Step 1/5 : FROM busybox
 ---> <id>
Step 2/5 : ENV A=1
 ---> <id>
Step 3/5 : COPY a.txt /app/
 ---> <id>
Step 4/5 : RUN echo $A
 ---> Running in <id>
output of /bin/sh -c echo $A
Removing intermediate container <id>
 ---> <id>
Step 5/5 : CMD ["sh"]
 ---> <id>
Successfully built <id>
Successfully tagged test:latest
`
	assert.Equal(t, normalizeIDs(out.String()), want)
	assert.Check(t, strings.Contains(out.String(), "Successfully built "+shortID(img.ID)+"\n"))
	assert.Check(t, is.DeepEqual(img.Config.Config.Cmd, []string{"sh"}))
	assert.Check(t, is.Contains(img.Config.Config.Env, "A=1"))
	assert.Check(t, is.Equal(store.tags["docker.io/library/test:latest"], img.ID))
	assert.Assert(t, is.Len(runner.requests, 1))
	assert.Check(t, is.DeepEqual(runner.requests[0].Cmd, []string{"/bin/sh", "-c", "echo $A"}))

	history := img.Config.History
	assert.Check(t, is.Equal(history[len(history)-1].CreatedBy, `/bin/sh -c #(nop)  CMD ["sh"]`))
	assert.Check(t, is.Equal(history[len(history)-2].CreatedBy, "/bin/sh -c echo $A"))
	assert.Check(t, strings.HasPrefix(history[len(history)-3].CreatedBy, "/bin/sh -c #(nop) COPY file:"))
	assert.Check(t, strings.HasSuffix(history[len(history)-3].CreatedBy, " in /app/ "))
	assert.Check(t, is.Equal(history[len(history)-4].CreatedBy, "/bin/sh -c #(nop)  ENV A=1"))
	assert.Check(t, history[len(history)-4].EmptyLayer)

	created := store.created
	out.Reset()
	again, err := b.Build(ctx, contextTar(t, files), Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.ID, img.ID))
	assert.Check(t, is.Equal(store.created, created), "a cached rebuild must not create images")
	assert.Check(t, is.Len(runner.requests, 1), "a cached rebuild must not run commands")
	wantCached := `Step 1/5 : FROM busybox
 ---> <id>
Step 2/5 : ENV A=1
 ---> Using cache
 ---> <id>
Step 3/5 : COPY a.txt /app/
 ---> Using cache
 ---> <id>
Step 4/5 : RUN echo $A
 ---> Using cache
 ---> <id>
Step 5/5 : CMD ["sh"]
 ---> Using cache
 ---> <id>
Successfully built <id>
`
	assert.Equal(t, normalizeIDs(out.String()), wantCached)
}

func TestBuildCacheSurvivesRestart(t *testing.T) {
	b, store, runner := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": simpleDockerfile, "a.txt": "hello"}
	img, err := b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	restarted, err := newBuilder(store, runner, b.stateDir, store)
	assert.NilError(t, err)
	var out bytes.Buffer
	again, err := restarted.Build(ctx, contextTar(t, files), Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again.ID, img.ID))
	assert.Check(t, is.Equal(strings.Count(out.String(), " ---> Using cache\n"), 4))
}

func TestBuildNoCache(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": simpleDockerfile, "a.txt": "hello"}
	_, err := b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	var out bytes.Buffer
	_, err = b.Build(ctx, contextTar(t, files), Options{NoCache: true}, &out)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(out.String(), "Using cache"))
	assert.Check(t, is.Len(runner.requests, 2))
}

func TestBuildCacheChangedFile(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	ctx := context.Background()
	dockerfile := "FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n"
	_, err := b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": dockerfile, "a.txt": "a", "b.txt": "b"}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	var out bytes.Buffer
	_, err = b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": dockerfile, "a.txt": "a", "b.txt": "changed"}), Options{}, &out)
	assert.NilError(t, err)
	want := `Step 1/3 : FROM busybox
 ---> <id>
Step 2/3 : COPY a.txt /a.txt
 ---> Using cache
 ---> <id>
Step 3/3 : COPY b.txt /b.txt
 ---> <id>
Successfully built <id>
`
	assert.Equal(t, normalizeIDs(out.String()), want)
}

func TestBuildCacheDroppedImage(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	ctx := context.Background()
	files := map[string]string{"Dockerfile": "FROM busybox\nENV A=1\n"}
	img, err := b.Build(ctx, contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	delete(store.images, img.ID)

	var out bytes.Buffer
	_, err = b.Build(ctx, contextTar(t, files), Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(out.String(), "Using cache"))
}

func TestBuildRunFailure(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	files := map[string]string{"Dockerfile": "FROM busybox\nRUN false\n"}
	_, err := b.Build(context.Background(), contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.Error(t, err, "Dockerfile:2: The command '/bin/sh -c false' returned a non-zero code: 1\n"+
		"last lines of output:\noutput of /bin/sh -c false")
	var runErr *RunError
	assert.Assert(t, errors.As(err, &runErr))
	assert.Check(t, is.Equal(runErr.ExitCode(), 1))
}

func TestBuildQuiet(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	var out bytes.Buffer
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"}),
		Options{Quiet: true}, &out)
	assert.NilError(t, err)
	assert.Equal(t, out.String(), img.ID.String()+"\n")
}

func TestBuildMissingDockerfile(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"a": "b"}),
		Options{Dockerfile: "build/Dockerfile.dev"}, &bytes.Buffer{})
	assert.Error(t, err, "Cannot locate specified Dockerfile: build/Dockerfile.dev")
	assert.Check(t, errdefs.IsInvalidArgument(err))
}

func TestBuildLowercaseDockerfile(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"dockerfile": "FROM busybox\nUSER 1\n"}),
		Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
}

func TestBuildCompressedContext(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, err := gz.Write(makeTar(t, []tarEntry{file("Dockerfile", "FROM busybox\nLABEL a=b\n")}))
	assert.NilError(t, err)
	assert.NilError(t, gz.Close())

	img, err := b.Build(context.Background(), &buf, Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.Config.Config.Labels["a"], "b"))
}

func TestBuildArgs(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	dockerfile := `ARG BASE=busybox
FROM ${BASE}
ARG NAME=world
ARG UNSET
ENV GREETING="hello ${NAME}"
RUN echo $GREETING
`
	v := "berth"
	var out bytes.Buffer
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": dockerfile}),
		Options{BuildArgs: map[string]*string{"NAME": &v, "EXTRA": &v, "HTTP_PROXY": &v}}, &out)
	assert.NilError(t, err)

	assert.Check(t, is.Contains(img.Config.Config.Env, "GREETING=hello berth"))
	assert.Check(t, !strings.Contains(strings.Join(img.Config.Config.Env, ","), "NAME="),
		"build arguments must not be stored in the image")
	assert.Check(t, is.Contains(out.String(), "[Warning] One or more build-args [EXTRA] were not consumed\n"))
	assert.Check(t, is.Contains(out.String(), "Step 1/6 : ARG BASE=busybox\n"))
	assert.Assert(t, is.Len(runner.requests, 1))
	req := runner.requests[0]
	assert.Check(t, is.Contains(req.Env, "NAME=berth"))
	assert.Check(t, is.Contains(req.Env, "HTTP_PROXY=berth"))
	assert.Check(t, is.Equal(req.CreatedBy, "|1 NAME=berth /bin/sh -c echo $GREETING"))
}

func TestBuildMultiStageTarget(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	dockerfile := `FROM busybox AS builder
COPY app.txt /out/app.txt
RUN --network=none true

FROM scratch AS final
COPY --from=builder /out/app.txt /app.txt
COPY --from=0 /etc/passwd /etc/
LABEL stage=final

FROM busybox AS unused
RUN false
`
	var out bytes.Buffer
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": dockerfile, "app.txt": "app"}),
		Options{Target: "final"}, &out)
	assert.ErrorContains(t, err, "RUN --network")
	assert.Check(t, errdefs.IsNotImplemented(err))

	dockerfile = strings.Replace(dockerfile, "RUN --network=none true", "RUN true", 1)
	out.Reset()
	img, err = b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": dockerfile, "app.txt": "app"}),
		Options{Target: "final"}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out.String(), "Step 1/7 : FROM busybox AS builder\n"))
	assert.Check(t, is.Contains(out.String(), "Step 4/7 : FROM scratch AS final\n ---> \n"))
	assert.Check(t, !strings.Contains(out.String(), "RUN false"))
	assert.Check(t, is.Equal(img.Config.Config.Labels["stage"], "final"))
	assert.Check(t, is.Equal(img.Config.OS, "linux"))

	layer := store.layer(t, store.images[img.ID].img.Parent)
	passwd := findEntry(t, layer, "etc/passwd")
	assert.Check(t, is.Contains(passwd.body, "app:x:1000"))
	fromStage := store.images[store.images[img.ID].img.Parent].img.Parent
	app := findEntry(t, store.layer(t, fromStage), "app.txt")
	assert.Check(t, is.Equal(app.body, "app"))
}

func TestBuildUnknownTarget(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM busybox\n"}),
		Options{Target: "nope"}, &bytes.Buffer{})
	assert.Error(t, err, `target stage "nope" could not be found`)
}

func TestBuildOnlyFromScratch(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM scratch\n"}),
		Options{}, &bytes.Buffer{})
	assert.Error(t, err, "No image was generated. Is your Dockerfile empty?")
}

func TestBuildMissingBaseImage(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM nothere\n"}),
		Options{}, &bytes.Buffer{})
	assert.Check(t, errdefs.IsNotFound(err))
}

func TestBuildOnbuildTriggers(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	ctx := context.Background()
	parent, err := b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nONBUILD ENV TRIGGERED=yes\n"}),
		Options{Tags: []string{"parent"}}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(parent.Config.Config.OnBuild, []string{"ENV TRIGGERED=yes"}))

	var out bytes.Buffer
	child, err := b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": "FROM parent\nUSER nobody\n"}), Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out.String(), "# Executing 1 build trigger\n"))
	assert.Check(t, is.Contains(child.Config.Config.Env, "TRIGGERED=yes"))
	assert.Check(t, is.Len(child.Config.Config.OnBuild, 0))
}

func TestBuildWorkdir(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	ctx := context.Background()
	dockerfile := "FROM busybox\nWORKDIR /srv\nWORKDIR app\nCOPY a.txt .\nWORKDIR /tmp\n"
	img, err := b.Build(ctx, contextTar(t, map[string]string{"Dockerfile": dockerfile, "a.txt": "a"}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.Config.Config.WorkingDir, "/tmp"))

	history := img.Config.History
	assert.Check(t, history[len(history)-1].EmptyLayer, "WORKDIR of an existing directory adds no layer")
	copyImage := store.images[img.ID].img.Parent
	layer := store.layer(t, copyImage)
	assert.Check(t, is.DeepEqual(entryNames(layer), []string{"srv/", "srv/app/", "srv/app/a.txt"}))
	appImage := store.images[copyImage].img.Parent
	appLayer := store.layer(t, appImage)
	assert.Check(t, is.DeepEqual(entryNames(appLayer), []string{"srv/", "srv/app/"}))
	assert.Check(t, is.Equal(appLayer[1].mode, int64(0o755)))
}

func TestBuildAddArchive(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	archive := makeTar(t, []tarEntry{
		dir("pkg/", 0o750),
		{name: "pkg/tool", typ: tar.TypeReg, mode: 0o755, uid: 7, gid: 8, body: "tool"},
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(archive)
	assert.NilError(t, err)
	assert.NilError(t, zw.Close())

	ctxTar := makeTar(t, []tarEntry{
		file("Dockerfile", "FROM busybox\nADD pkg.tar.gz /opt/\nADD plain.txt /opt/\n"),
		file("pkg.tar.gz", gz.String()),
		file("plain.txt", "plain"),
	})
	img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	addImage := store.images[img.ID].img.Parent
	layer := store.layer(t, addImage)
	assert.Check(t, is.DeepEqual(entryNames(layer), []string{"opt/", "opt/pkg/", "opt/pkg/tool"}))
	tool := findEntry(t, layer, "opt/pkg/tool")
	assert.Check(t, is.Equal(tool.uid, 7))
	assert.Check(t, is.Equal(tool.body, "tool"))
	assert.Check(t, is.Equal(findEntry(t, layer, "opt/pkg/").mode, int64(0o750)))
	plain := findEntry(t, store.layer(t, img.ID), "opt/plain.txt")
	assert.Check(t, is.Equal(plain.body, "plain"))
}

func TestBuildDockerignore(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	files := map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /ctx/\n",
		".dockerignore": "secret*\nlogs\n!logs/keep.log\nDockerfile\n",
		"secret.key":    "s",
		"logs/a.log":    "a",
		"logs/keep.log": "k",
		"src/main.go":   "package main",
	}
	img, err := b.Build(context.Background(), contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	names := entryNames(store.layer(t, img.ID))
	assert.Check(t, is.DeepEqual(names, []string{
		"ctx/", "ctx/.dockerignore", "ctx/logs/", "ctx/logs/keep.log", "ctx/src/", "ctx/src/main.go",
	}))
}

func TestBuildCustomDockerfileIgnore(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	files := map[string]string{
		"dev/app.Dockerfile":              "FROM busybox\nCOPY . /ctx/\n",
		"dev/app.Dockerfile.dockerignore": "*.txt\ndev\n",
		".dockerignore":                   "keep.md\n",
		"keep.md":                         "k",
		"drop.txt":                        "d",
	}
	img, err := b.Build(context.Background(), contextTar(t, files), Options{Dockerfile: "dev/app.Dockerfile"}, &bytes.Buffer{})
	assert.NilError(t, err)
	names := entryNames(store.layer(t, img.ID))
	assert.Check(t, is.DeepEqual(names, []string{"ctx/", "ctx/.dockerignore", "ctx/keep.md"}))
}

func TestBuildCopyErrors(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		want       string
	}{
		{
			name:       "missing file",
			dockerfile: "FROM busybox\nCOPY nothere /x\n",
			want:       "COPY failed: file not found in build context or excluded by .dockerignore: stat nothere: file does not exist",
		},
		{
			name:       "parent directory",
			dockerfile: "FROM busybox\nCOPY ../etc/passwd /x\n",
			want:       "COPY failed: forbidden path outside the build context: ../etc/passwd",
		},
		{
			name:       "symlink escape",
			dockerfile: "FROM busybox\nCOPY up/passwd /x\n",
			want:       "COPY failed: forbidden path outside the build context: up/passwd",
		},
		{
			name:       "no wildcard match",
			dockerfile: "FROM busybox\nCOPY *.none /x/\n",
			want:       "COPY failed: no source files were specified",
		},
		{
			name:       "many sources to file",
			dockerfile: "FROM busybox\nCOPY a.txt b.txt /x\n",
			want:       "When using COPY with more than one source file, the destination must be a directory and end with a /",
		},
		{
			name:       "url",
			dockerfile: "FROM busybox\nCOPY http://example.com/x /x\n",
			want:       "COPY failed: source can't be a URL for COPY",
		},
		{
			name:       "symbolic chmod",
			dockerfile: "FROM busybox\nCOPY --chmod=u+x a.txt /x\n",
			want:       `invalid --chmod value "u+x"`,
		},
		{
			name:       "unknown user",
			dockerfile: "FROM busybox\nCOPY --chown=nobody a.txt /x\n",
			want:       "no such user: nobody",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, _ := newTestBuilder(t)
			ctxTar := makeTar(t, []tarEntry{
				file("Dockerfile", tc.dockerfile),
				file("a.txt", "a"),
				file("b.txt", "b"),
				symlink("up", "../../etc"),
			})
			_, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestBuildCopyChown(t *testing.T) {
	b, store, _ := newTestBuilder(t)
	ctxTar := makeTar(t, []tarEntry{
		file("Dockerfile", "FROM busybox\nCOPY --chown=app:staff a.txt /home/app/\nCOPY --chown=5:6 a.txt /n/a\n"),
		file("a.txt", "a"),
	})
	img, err := b.Build(context.Background(), bytes.NewReader(ctxTar), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)

	named := store.layer(t, store.images[img.ID].img.Parent)
	home := findEntry(t, named, "home/")
	assert.Check(t, is.Equal(home.uid, 1000), "new parent directories get the --chown owner")
	copied := findEntry(t, named, "home/app/a.txt")
	assert.Check(t, is.Equal(copied.uid, 1000))
	assert.Check(t, is.Equal(copied.gid, 1001))

	numeric := findEntry(t, store.layer(t, img.ID), "n/a")
	assert.Check(t, is.Equal(numeric.uid, 5))
	assert.Check(t, is.Equal(numeric.gid, 6))
}

func TestBuildInvalidTag(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM busybox\n"}),
		Options{Tags: []string{"Bad:Tag:x"}}, &bytes.Buffer{})
	assert.Check(t, errdefs.IsInvalidArgument(err))
}
