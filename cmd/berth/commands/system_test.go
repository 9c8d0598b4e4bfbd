package commands

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestVersionSections(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, system.VersionResponse{
			Platform:      system.PlatformInfo{Name: "berth"},
			Version:       "0.1.0",
			APIVersion:    "1.47",
			MinAPIVersion: "1.24",
			Os:            "linux",
			Arch:          "amd64",
			Components: []system.ComponentVersion{
				{Name: "Engine", Version: "0.1.0", Details: map[string]string{
					"ApiVersion": "1.47", "MinAPIVersion": "1.24", "GoVersion": "go1.26.8",
					"GitCommit": "abc1234", "BuildTime": "2026-01-02T03:04:05Z", "Os": "linux",
					"Arch": "amd64", "Experimental": "false",
				}},
				{Name: "runc", Version: "1.2.5", Details: map[string]string{"GitCommit": "v1.2.5-0"}},
			},
		})
	})

	res := runBerth(t, daemon, nil, "version")

	assert.Equal(t, res.code, 0, res.stderr)
	lines := strings.Split(res.stdout, "\n")
	assert.Equal(t, lines[0], "Client:")
	assert.Check(t, is.Contains(res.stdout, " API version:       1.47\n"))
	assert.Check(t, is.Contains(res.stdout, "\nServer: berth\n Engine:\n  Version:          0.1.0\n"))
	assert.Check(t, is.Contains(res.stdout, "  API version:      1.47 (minimum version 1.24)\n"))
	assert.Check(t, is.Contains(res.stdout, "  Git commit:       abc1234\n"))
	assert.Check(t, is.Contains(res.stdout, " runc:\n  Version:          1.2.5\n  GitCommit:        v1.2.5-0\n"))

	formatted := runBerth(t, daemon, nil, "version", "--format", "{{.Server.Version}} {{.Client.Os}}")
	assert.Equal(t, formatted.stdout, "0.1.0 linux\n")
}

func TestVersionWithoutDaemon(t *testing.T) {
	dir, err := os.MkdirTemp("", "bt")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	missing := &fakeDaemon{host: "unix://" + filepath.Join(dir, "none.sock")}

	res := runBerth(t, missing, nil, "version")

	assert.Equal(t, res.code, 1)
	assert.Check(t, is.Contains(res.stdout, "Client:\n Version:"))
	assert.Check(t, !strings.Contains(res.stdout, "Server:"))
	assert.Equal(t, res.stderr, "Cannot connect to the berth daemon at "+missing.host+". Is the berth daemon running?\n")
}

func TestInfoSummary(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, system.Info{
			Containers: 3, ContainersRunning: 1, ContainersStopped: 2, Images: 5,
			ServerVersion: "0.1.0", Driver: "overlay2",
			DriverStatus:  [][2]string{{"Backing Filesystem", "extfs"}},
			LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: "2",
			Runtimes:       map[string]system.RuntimeWithStatus{"runc": {}},
			DefaultRuntime: "runc", KernelVersion: "6.8.0", OperatingSystem: "Ubuntu 24.04",
			OSType: "linux", Architecture: "x86_64", NCPU: 8, MemTotal: 16 * 1024 * 1024 * 1024,
			Name: "host", DockerRootDir: "/var/lib/berth",
			Warnings: []string{"WARNING: no swap limit support"},
		})
	})

	res := runBerth(t, daemon, nil, "info")

	assert.Equal(t, res.code, 0, res.stderr)
	for _, line := range []string{
		"Server:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n",
		" Storage Driver: overlay2\n  Backing Filesystem: extfs\n",
		" Cgroup Version: 2\n",
		" Runtimes: runc\n Default Runtime: runc\n",
		" Total Memory: 16GiB\n",
		" Berth Root Dir: /var/lib/berth\n",
	} {
		assert.Check(t, is.Contains(res.stdout, line))
	}
	assert.Equal(t, res.stderr, "WARNING: no swap limit support\n")

	formatted := runBerth(t, daemon, nil, "info", "-f", "{{.Driver}}/{{.CgroupVersion}}")
	assert.Equal(t, formatted.stdout, "overlay2/2\n")
}

func TestInspectFallsBackToImage(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "web" {
			writeJSON(w, http.StatusOK, containertypes.InspectResponse{ID: testContainerID, Name: "/web"})
			return
		}
		writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
	})
	daemon.mux.HandleFunc("GET /images/{name}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "busybox" {
			writeJSON(w, http.StatusOK, imagetypes.InspectResponse{ID: "sha256:5555", RepoTags: []string{"busybox:latest"}})
			return
		}
		writeError(w, http.StatusNotFound, "No such image: "+r.PathValue("name"))
	})

	res := runBerth(t, daemon, nil, "inspect", "--format", "{{.Id}}", "web", "busybox", "nothing")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, testContainerID+"\nsha256:5555\n")
	assert.Equal(t, res.stderr, "Error: No such object: nothing\n")

	typed := runBerth(t, daemon, nil, "inspect", "--type", "image", "web")
	assert.Equal(t, typed.code, 1)
	assert.Equal(t, typed.stdout, "[]\n")
	assert.Equal(t, typed.stderr, "Error response from daemon: No such image: web\n")
}

func TestInspectImageJSON(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /images/{name}/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Id":"sha256:5555","RepoTags":["busybox:latest"]}`))
	})

	res := runBerth(t, daemon, nil, "image", "inspect", "busybox")

	assert.Equal(t, res.code, 0, res.stderr)
	assert.Equal(t, res.stdout, "[\n    {\n        \"Id\": \"sha256:5555\",\n        \"RepoTags\": [\n            \"busybox:latest\"\n        ]\n    }\n]\n")
}

func TestInspectInvalidType(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "inspect", "--type", "plugin", "x")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stderr, "\"plugin\" is not a valid value for --type\n")
}

func TestMissingArgumentsUsage(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "rm")

	assert.Equal(t, res.code, 1)
	assert.Check(t, is.Contains(res.stderr, "\"berth rm\" requires at least 1 argument.\nSee 'berth rm --help'.\n\nUsage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]"))
}

func TestCommandTree(t *testing.T) {
	daemon := newFakeDaemon(t)
	for _, args := range [][]string{
		{"ps", "--help"},
		{"container", "ls", "--help"},
		{"container", "list", "--help"},
		{"container", "ps", "--help"},
		{"images", "--help"},
		{"image", "ls", "--help"},
		{"image", "rm", "--help"},
		{"rmi", "--help"},
		{"image", "build", "--help"},
		{"image", "import", "--help"},
		{"run", "--help"},
		{"create", "--help"},
		{"container", "run", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := runBerth(t, daemon, nil, args...)

			assert.Equal(t, res.code, 0, res.stderr)
			assert.Check(t, is.Contains(res.stdout, "Usage:"))
		})
	}
}
