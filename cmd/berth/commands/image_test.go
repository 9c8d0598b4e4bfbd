package commands

import (
	"archive/tar"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakeBuild records the build context the client sends to POST /build and
// replies with output.
type fakeBuild struct {
	t      *testing.T
	output string

	mu    sync.Mutex
	files map[string]string // tar entry name to content, "" for directories
	query url.Values
}

func newFakeBuild(t *testing.T, daemon *fakeDaemon, output string) *fakeBuild {
	build := &fakeBuild{t: t, output: output}
	daemon.mux.HandleFunc("POST /build", build.serve)
	return build
}

func (f *fakeBuild) serve(w http.ResponseWriter, r *http.Request) {
	files := make(map[string]string)
	reader := tar.NewReader(r.Body)
	for {
		header, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if !assert.Check(f.t, err) {
			return
		}
		content, err := io.ReadAll(reader)
		assert.Check(f.t, err)
		files[header.Name] = string(content)
	}

	f.mu.Lock()
	f.files = files
	f.query = r.URL.Query()
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, f.output)
}

func (f *fakeBuild) received() (map[string]string, url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files, f.query
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// writeTree creates files under dir; names ending in "/" are directories.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			assert.NilError(t, os.MkdirAll(path, 0o755))
			continue
		}
		assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

const buildSuccessOutput = `{"stream":"Step 1/2 : FROM busybox\n"}
{"stream":" ---\u003e 1111\n"}
{"stream":"Step 2/2 : COPY . /app\n"}
{"aux":{"ID":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}}
{"stream":"Successfully built 222222222222\n"}
{"stream":"Successfully tagged app:v1\n"}
`

func TestBuildSendsFilteredContext(t *testing.T) {
	daemon := newFakeDaemon(t)
	build := newFakeBuild(t, daemon, buildSuccessOutput)
	contextDir := t.TempDir()
	writeTree(t, contextDir, map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /app\n",
		".dockerignore": "# ignored files\nsecret\n*.log\nDockerfile\n.dockerignore\nbuild/\n",
		"main.go":       "package main\n",
		"secret":        "token",
		"debug.log":     "noise",
		"sub/keep.txt":  "kept",
		"sub/deep.log":  "kept: *.log matches only the top level",
		"build/out.bin": "excluded directory",
	})
	iidFile := filepath.Join(t.TempDir(), "iid")
	assert.NilError(t, os.WriteFile(iidFile, []byte("stale"), 0o644))

	res := runBerth(t, daemon, nil, "build", "-t", "app:v1", "-t", "app:latest",
		"--build-arg", "VERSION=1.2", "--label", "team=core", "--no-cache", "--pull",
		"--target", "final", "--network", "host", "--add-host", "db:10.0.0.2",
		"--iidfile", iidFile, contextDir)

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, "Step 1/2 : FROM busybox\n ---> 1111\nStep 2/2 : COPY . /app\n"+
		"Successfully built 222222222222\nSuccessfully tagged app:v1\n")

	files, query := build.received()
	assert.DeepEqual(t, sortedKeys(files), []string{".dockerignore", "Dockerfile", "main.go", "sub/", "sub/deep.log", "sub/keep.txt"})
	assert.Equal(t, files["Dockerfile"], "FROM busybox\nCOPY . /app\n")

	assert.DeepEqual(t, query["t"], []string{"app:v1", "app:latest"})
	assert.Equal(t, query.Get("dockerfile"), "Dockerfile")
	assert.Equal(t, query.Get("buildargs"), `{"VERSION":"1.2"}`)
	assert.Equal(t, query.Get("labels"), `{"team":"core"}`)
	assert.Equal(t, query.Get("nocache"), "1")
	assert.Equal(t, query.Get("pull"), "1")
	assert.Equal(t, query.Get("target"), "final")
	assert.Equal(t, query.Get("networkmode"), "host")
	assert.DeepEqual(t, query["extrahosts"], []string{"db:10.0.0.2"})
	assert.Equal(t, query.Get("version"), "1")

	iid, err := os.ReadFile(iidFile)
	assert.NilError(t, err)
	assert.Equal(t, string(iid), "sha256:2222222222222222222222222222222222222222222222222222222222222222")
}

func TestBuildDockerfileFlag(t *testing.T) {
	daemon := newFakeDaemon(t)
	build := newFakeBuild(t, daemon, buildSuccessOutput)
	contextDir := t.TempDir()
	writeTree(t, contextDir, map[string]string{
		"docker/Dockerfile.dev": "FROM busybox\n",
		"app.txt":               "app",
	})
	outside := filepath.Join(t.TempDir(), "Outside.Dockerfile")
	assert.NilError(t, os.WriteFile(outside, []byte("FROM scratch\n"), 0o644))

	t.Run("inside context", func(t *testing.T) {
		res := runBerth(t, daemon, nil, "image", "build", "-f", filepath.Join(contextDir, "docker/Dockerfile.dev"), contextDir)

		assert.Equal(t, res.code, 0, res.stderr)
		_, query := build.received()
		assert.Equal(t, query.Get("dockerfile"), "docker/Dockerfile.dev")
	})

	t.Run("outside context", func(t *testing.T) {
		res := runBerth(t, daemon, nil, "build", "-f", outside, contextDir)

		assert.Equal(t, res.code, 0, res.stderr)
		files, query := build.received()
		name := query.Get("dockerfile")
		assert.Assert(t, strings.HasPrefix(name, ".dockerfile."), name)
		assert.Equal(t, files[name], "FROM scratch\n")
		assert.Equal(t, files["app.txt"], "app")
	})

	t.Run("inside an ignored directory", func(t *testing.T) {
		ignoredDir := t.TempDir()
		writeTree(t, ignoredDir, map[string]string{
			".dockerignore":     "docker\n",
			"docker/Dockerfile": "FROM busybox\n",
			"docker/notes.txt":  "not sent",
		})

		res := runBerth(t, daemon, nil, "build", "-f", filepath.Join(ignoredDir, "docker/Dockerfile"), ignoredDir)

		assert.Equal(t, res.code, 0, res.stderr)
		files, query := build.received()
		assert.Equal(t, query.Get("dockerfile"), "docker/Dockerfile")
		assert.Equal(t, files["docker/Dockerfile"], "FROM busybox\n")
		_, sentNotes := files["docker/notes.txt"]
		assert.Assert(t, !sentNotes)
	})

	t.Run("missing", func(t *testing.T) {
		res := runBerth(t, daemon, nil, "build", "-f", filepath.Join(contextDir, "nope"), contextDir)

		assert.Equal(t, res.code, 1)
		assert.Check(t, is.Contains(res.stderr, "cannot locate specified Dockerfile"))
	})
}

func TestBuildDockerfileFromStdin(t *testing.T) {
	daemon := newFakeDaemon(t)
	build := newFakeBuild(t, daemon, buildSuccessOutput)

	res := runBerth(t, daemon, strings.NewReader("FROM busybox\nRUN true\n"), "build", "-q", "-")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, "sha256:2222222222222222222222222222222222222222222222222222222222222222\n")
	files, query := build.received()
	assert.DeepEqual(t, files, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	assert.Equal(t, query.Get("q"), "1")
}

func TestBuildTarFromStdin(t *testing.T) {
	daemon := newFakeDaemon(t)
	build := newFakeBuild(t, daemon, buildSuccessOutput)

	reader, writer := io.Pipe()
	go func() {
		archive := tar.NewWriter(writer)
		content := "FROM busybox\n"
		_ = archive.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(content)), ModTime: time.Now()})
		_, _ = io.WriteString(archive, content)
		_ = archive.Close()
		_ = writer.Close()
	}()

	res := runBerth(t, daemon, reader, "build", "-")

	assert.Equal(t, res.code, 0, res.stderr)
	files, query := build.received()
	assert.DeepEqual(t, files, map[string]string{"Dockerfile": "FROM busybox\n"})
	assert.Equal(t, query.Get("dockerfile"), "")
}

func TestBuildFailure(t *testing.T) {
	daemon := newFakeDaemon(t)
	newFakeBuild(t, daemon, `{"stream":"Step 1/1 : RUN false\n"}
{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}
`)
	contextDir := t.TempDir()
	writeTree(t, contextDir, map[string]string{"Dockerfile": "FROM busybox\nRUN false\n"})

	res := runBerth(t, daemon, nil, "build", contextDir)

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, "Step 1/1 : RUN false\n")
	assert.Equal(t, res.stderr, "The command '/bin/sh -c false' returned a non-zero code: 1\n")
}

func TestBuildMissingContext(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "build", filepath.Join(t.TempDir(), "nope"))

	assert.Equal(t, res.code, 1)
	assert.Check(t, is.Contains(res.stderr, "unable to prepare context: path"))
	assert.DeepEqual(t, daemon.paths(), []string{})
}

func TestImportFile(t *testing.T) {
	daemon := newFakeDaemon(t)
	var mu sync.Mutex
	var body string
	daemon.mux.HandleFunc("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		assert.Check(t, err)
		mu.Lock()
		body = string(data)
		mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"status": "sha256:3333333333333333333333333333333333333333333333333333333333333333"})
	})
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	assert.NilError(t, os.WriteFile(rootfs, []byte("pretend tar bytes"), 0o644))

	res := runBerth(t, daemon, nil, "import", "-c", "CMD [\"/bin/sh\"]", "-c", "ENV A=1", "-m", "initial", rootfs, "base:v1")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, "sha256:3333333333333333333333333333333333333333333333333333333333333333\n")
	mu.Lock()
	assert.Equal(t, body, "pretend tar bytes")
	mu.Unlock()
	query, err := url.ParseQuery(daemon.query("POST /images/create"))
	assert.NilError(t, err)
	assert.Equal(t, query.Get("fromSrc"), "-")
	assert.Equal(t, query.Get("repo"), "base:v1")
	assert.Equal(t, query.Get("message"), "initial")
	assert.DeepEqual(t, query["changes"], []string{`CMD ["/bin/sh"]`, "ENV A=1"})
}

func TestImportStdin(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		assert.Check(t, err)
		if string(data) != "from stdin" {
			writeError(w, http.StatusBadRequest, "unexpected body "+string(data))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "sha256:4444"})
	})

	res := runBerth(t, daemon, strings.NewReader("from stdin"), "image", "import", "-")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, "sha256:4444\n")
}

func TestImagesTable(t *testing.T) {
	daemon := newFakeDaemon(t)
	created := time.Now().Add(-2 * time.Hour).Unix()
	daemon.mux.HandleFunc("GET /images/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []imagetypes.Summary{
			{
				ID:       "sha256:5555555555555555555555555555555555555555555555555555555555555555",
				RepoTags: []string{"docker.io/library/busybox:latest", "registry.example.com/tools/busybox:1.36"},
				Created:  created,
				Size:     4_261_550,
			},
			{
				ID:      "sha256:6666666666666666666666666666666666666666666666666666666666666666",
				Created: created,
				Size:    1000,
			},
		})
	})

	res := runBerth(t, daemon, nil, "images", "busybox")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, ""+
		"REPOSITORY                           TAG       IMAGE ID       CREATED       SIZE\n"+
		"busybox                              latest    555555555555   2 hours ago   4.26MB\n"+
		"registry.example.com/tools/busybox   1.36      555555555555   2 hours ago   4.26MB\n"+
		"<none>                               <none>    666666666666   2 hours ago   1kB\n")
	query, err := url.ParseQuery(daemon.query("GET /images/json"))
	assert.NilError(t, err)
	assert.Equal(t, query.Get("filters"), `{"reference":{"busybox":true}}`)

	quiet := runBerth(t, daemon, nil, "image", "ls", "-q", "--no-trunc")
	assert.Equal(t, quiet.stdout, ""+
		"sha256:5555555555555555555555555555555555555555555555555555555555555555\n"+
		"sha256:5555555555555555555555555555555555555555555555555555555555555555\n"+
		"sha256:6666666666666666666666666666666666666666666666666666666666666666\n")
}

func TestRmiPrintsDeletions(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("DELETE /images/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "gone" {
			writeError(w, http.StatusNotFound, "No such image: gone:latest")
			return
		}
		writeJSON(w, http.StatusOK, []imagetypes.DeleteResponse{
			{Untagged: "busybox:latest"},
			{Deleted: "sha256:5555"},
		})
	})

	res := runBerth(t, daemon, nil, "rmi", "-f", "busybox", "gone")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, "Untagged: busybox:latest\nDeleted: sha256:5555\n")
	assert.Equal(t, res.stderr, "Error response from daemon: No such image: gone:latest\n")
	assert.Equal(t, daemon.query("DELETE /images/busybox"), "force=1")
}

func TestTagSendsRepoAndTag(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /images/{name}/tag", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})

	res := runBerth(t, daemon, nil, "tag", "busybox", "example.com/me/box:v2")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, daemon.query("POST /images/busybox/tag"), "repo=example.com%2Fme%2Fbox&tag=v2")
}
