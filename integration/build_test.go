package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

func TestBuildInstructionsEndToEnd(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"build.Dockerfile": `FROM busybox:latest
ENV GREETING=hello TARGET="the world"
WORKDIR /srv
COPY app/ ./app/
COPY notes.txt .
COPY . /ctx/
RUN echo "$GREETING from RUN" > shell.txt
RUN ["/bin/sh", "-c", "echo json form > json.txt"]
WORKDIR sub
EXPOSE 8080/tcp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING, $TARGET; pwd; cat /srv/shell.txt /srv/json.txt /srv/app/main.sh; ls /srv"]
`,
		"app/main.sh":                   "echo app\n",
		"notes.txt":                     "notes\n",
		"secret.key":                    "do not send\n",
		".dockerignore":                 "secret.key\n",
		"Dockerfile":                    "FROM scratch\n",
		"build.Dockerfile.dockerignore": "secret.key\n*.bak\n",
	})

	out := d.must("build", "-f", filepath.Join(dir, "build.Dockerfile"), "-t", "instr:1", dir)
	assert.Check(t, is.Contains(out, "Step 12/12"))
	ctx := d.must("run", "--rm", "--entrypoint", "ls", "instr:1", "/ctx")
	assert.Check(t, is.Contains(ctx, "notes.txt"))
	assert.Check(t, !strings.Contains(ctx, "secret.key"), "the ignore file did not keep secret.key out: %s", ctx)

	run := d.must("run", "--rm", "instr:1")
	lines := strings.Split(strings.TrimSpace(run), "\n")
	assert.Check(t, is.DeepEqual(lines, []string{
		"hello, the world",
		"/srv/sub",
		"hello from RUN",
		"json form",
		"echo app",
		"app", "json.txt", "notes.txt", "shell.txt", "sub",
	}))

	exposed := d.must("image", "inspect", "-f", "{{json .Config.ExposedPorts}}", "instr:1")
	assert.Check(t, is.Contains(exposed, "8080/tcp"))

	// The command after the image replaces CMD and keeps the ENTRYPOINT.
	assert.Check(t, is.Equal(d.must("run", "--rm", "instr:1", "echo override"), "override\n"))

	// A failing RUN fails the build with Docker's message.
	writeFiles(t, dir, map[string]string{"fail.Dockerfile": "FROM busybox\nRUN exit 3\n"})
	r, err := d.run("build", "-f", filepath.Join(dir, "fail.Dockerfile"), dir)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1), r.String())
	assert.Check(t, is.Contains(r.stderr+r.stdout, "returned a non-zero code: 3"))
}
