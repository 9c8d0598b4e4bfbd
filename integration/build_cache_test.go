package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// cacheDockerfile has the steps whose cache the edits below invalidate:
// 4 copies src/, 5 copies *.cfg, 6 runs with the build argument USED, and
// 7 copies extra.txt.
const cacheDockerfile = `FROM busybox
ARG USED
ARG DECLARED
COPY src/ /src/
COPY *.cfg /cfg/
RUN echo "[$USED]" > /used.txt && cat /src/f000.txt /cfg/* > /summary.txt
COPY extra.txt /extra.txt
`

const cacheSteps = 7

// cacheEdit is one change to the build context or the build command, and
// the first step that must run again (0: every step comes from the cache).
type cacheEdit struct {
	name      string
	edit      func(t *testing.T, dir string)
	args      []string
	firstMiss int
}

func writeContextFile(t *testing.T, dir, name, content string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
}

var cacheEdits = []cacheEdit{
	{name: "nothing changed", edit: func(*testing.T, string) {}},
	{name: "content changed", firstMiss: 4, edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "src/f100.txt", "changed\n")
	}},
	{name: "mode changed", firstMiss: 4, edit: func(t *testing.T, dir string) {
		assert.NilError(t, os.Chmod(filepath.Join(dir, "src/f101.txt"), 0o755))
	}},
	{name: "mtime touched", edit: func(t *testing.T, dir string) {
		assert.NilError(t, os.Chtimes(filepath.Join(dir, "src/f010.txt"), time2001, time2001))
	}},
	// The docker CLI sends context files as owned by root, so their owner
	// on the client does not change the cache or the image.
	{name: "owner changed", edit: func(t *testing.T, dir string) {
		assert.NilError(t, os.Lchown(filepath.Join(dir, "src/f011.txt"), 1234, 1234))
	}},
	{name: "wildcard gains file", firstMiss: 5, edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "new.cfg", "new\n")
	}},
	{name: "file removed", firstMiss: 4, edit: func(t *testing.T, dir string) {
		assert.NilError(t, os.Remove(filepath.Join(dir, "src/f102.txt")))
	}},
	{name: "file renamed", firstMiss: 4, edit: func(t *testing.T, dir string) {
		assert.NilError(t, os.Rename(filepath.Join(dir, "src/f103.txt"), filepath.Join(dir, "src/g103.txt")))
	}},
	{name: "dockerignore drops copied file", firstMiss: 4, edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, ".dockerignore", "ignored.txt\nsrc/f104.txt\n")
	}},
	{name: "ignored file changed", edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "ignored.txt", "changed\n")
	}},
	{name: "uncopied file changed", edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "other/notcopied.txt", "changed\n")
	}},
	{name: "used arg changed", firstMiss: 6, args: []string{"--build-arg", "USED=2"}},
	// An argument that the Dockerfile declares is in the environment of
	// RUN, so Docker keys RUN on it even when the command ignores it.
	{name: "declared arg set", firstMiss: 6, args: []string{"--build-arg", "USED=2", "--build-arg", "DECLARED=x"}},
	{name: "undeclared arg set", args: []string{"--build-arg", "USED=2", "--build-arg", "DECLARED=x", "--build-arg", "OTHER=y"}},
	{name: "trailing whitespace", args: []string{"--build-arg", "USED=2", "--build-arg", "DECLARED=x"}, edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "Dockerfile", strings.ReplaceAll(cacheDockerfile, "\n", "  \n"))
	}},
	{name: "instruction text changed", firstMiss: 7, args: []string{"--build-arg", "USED=2", "--build-arg", "DECLARED=x"}, edit: func(t *testing.T, dir string) {
		writeContextFile(t, dir, "Dockerfile", strings.Replace(cacheDockerfile, "COPY extra.txt /extra.txt", "COPY extra.txt /extra2.txt", 1))
	}},
}

var time2001 = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func TestBuildCacheEdits(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	berth := berthEngine(d)

	dir := t.TempDir()
	for i := 0; i < 300; i++ {
		writeContextFile(t, dir, fmt.Sprintf("src/f%03d.txt", i), fmt.Sprintf("file %d\n", i))
	}
	writeContextFile(t, dir, "Dockerfile", cacheDockerfile)
	writeContextFile(t, dir, "a.cfg", "a\n")
	writeContextFile(t, dir, "b.cfg", "b\n")
	writeContextFile(t, dir, "extra.txt", "extra\n")
	writeContextFile(t, dir, "ignored.txt", "ignored\n")
	writeContextFile(t, dir, "other/notcopied.txt", "not copied\n")
	writeContextFile(t, dir, ".dockerignore", "ignored.txt\n")

	out := d.must("build", "-t", "cache:base", dir)
	assert.Check(t, is.DeepEqual(cachedSteps(t, out), map[int]bool{}))

	for _, e := range cacheEdits {
		t.Run(e.name, func(t *testing.T) {
			if e.edit != nil {
				e.edit(t, dir)
			}
			args := append([]string{"build", "-t", "cache:edited"}, e.args...)
			out := berth.must(t, append(args, dir)...)
			checkCachedSteps(t, out, e.firstMiss)

			// No false hit: the image equals a build without the cache.
			args = append([]string{"build", "--no-cache", "-t", "cache:fresh"}, e.args...)
			berth.must(t, append(args, dir)...)
			assert.Check(t, is.Equal(builtFiles(t, berth, "cache:edited"), builtFiles(t, berth, "cache:fresh")))
		})
	}

	t.Run("survives daemon restart", func(t *testing.T) {
		d.stop()
		d.start()
		out := berth.must(t, "build", "--build-arg", "USED=2", "--build-arg", "DECLARED=x", dir)
		checkCachedSteps(t, out, 0)
	})
}

func TestBuildCachePrune(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	dir := t.TempDir()
	writeContextFile(t, dir, "Dockerfile", "FROM busybox\nCOPY a.txt /\nRUN cat /a.txt > /b.txt\n")
	writeContextFile(t, dir, "a.txt", "a\n")
	d.must("build", dir)
	out := d.must("build", dir)
	assert.Check(t, is.DeepEqual(cachedSteps(t, out), map[int]bool{2: true, 3: true}))

	d.must("builder", "prune", "-f")
	out = d.must("build", dir)
	assert.Check(t, is.DeepEqual(cachedSteps(t, out), map[int]bool{}), out)
}

var stepLine = regexp.MustCompile(`^Step (\d+)/(\d+) : `)

// cachedSteps returns the numbers of the steps that printed
// " ---> Using cache" in the classic builder's output.
func cachedSteps(t *testing.T, out string) map[int]bool {
	t.Helper()
	cached := map[int]bool{}
	step := 0
	for _, line := range strings.Split(out, "\n") {
		if m := stepLine.FindStringSubmatch(line); m != nil {
			step, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.TrimSpace(line) == "---> Using cache" {
			cached[step] = true
		}
	}
	return cached
}

// checkCachedSteps checks that steps 2 up to firstMiss-1 (or to the last
// step when firstMiss is 0) come from the cache and the rest do not.
func checkCachedSteps(t *testing.T, out string, firstMiss int) {
	t.Helper()
	cached := cachedSteps(t, out)
	for step := 2; step <= cacheSteps; step++ {
		want := firstMiss == 0 || step < firstMiss
		assert.Check(t, is.Equal(cached[step], want), "step %d cached\n%s", step, out)
	}
}

// builtFiles describes the entries that the build writes, with their
// mode, owner and content digest.
func builtFiles(t *testing.T, e engine, ref string) string {
	t.Helper()
	img := readImage(t, e, ref)
	var lines []string
	for name, ent := range img.files {
		for _, prefix := range []string{"src", "cfg", "extra", "used.txt", "summary.txt"} {
			if strings.HasPrefix(name, prefix) {
				lines = append(lines, name+" "+describeEntry(ent))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
