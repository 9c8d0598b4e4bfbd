package server

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const cliContainerID = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"

// cliBackend is a fake engine with one container, just enough state for
// the docker CLI's run, logs, build and import flows.
type cliBackend struct {
	fakeBackend
	mu      sync.Mutex
	started chan struct{}
}

func newCLIBackend() *cliBackend {
	b := &cliBackend{started: make(chan struct{})}
	b.version = func(context.Context) (system.VersionResponse, error) {
		return system.VersionResponse{Version: "0.0.1-test", Os: "linux", Arch: "amd64"}, nil
	}

	b.info = func(context.Context) (system.Info, error) {
		return system.Info{ID: "test", OSType: "linux", ServerVersion: "0.0.1-test"}, nil
	}

	b.create = func(_ context.Context, req ContainerCreateRequest) (container.CreateResponse, error) {
		if req.Config.Image != "busybox" {
			return container.CreateResponse{}, errdefs.ErrNotFound.WithMessage("No such image: " + req.Config.Image + ":latest")
		}
		return container.CreateResponse{ID: cliContainerID}, nil
	}

	b.tty = func(context.Context, string) (bool, error) { return false, nil }

	b.attach = func(_ context.Context, _ string, o AttachOptions) error {
		<-b.started
		_, _ = io.WriteString(o.Stdout, "hello from stdout\n")
		_, _ = io.WriteString(o.Stderr, "hello from stderr\n")
		if o.Stdin == nil {
			return nil
		}
		_, err := io.Copy(o.Stdout, o.Stdin)
		return err
	}

	b.pull = func(_ context.Context, ref, _ string, _ registry.AuthConfig, _ func(jsonstream.Message) error) error {
		return errdefs.ErrNotFound.WithMessage("pull access denied for alpine, repository does not exist or may require 'docker login'")
	}

	b.stop = func(context.Context, string, string, *int) error {
		return errdefs.ErrNotModified
	}

	b.remove = func(_ context.Context, id string, _, _ bool) error {
		if id != "web" {
			return errdefs.ErrNotFound.WithMessage("No such container: " + id)
		}
		return nil
	}

	b.wait = func(context.Context, string, container.WaitCondition) (<-chan container.WaitResponse, error) {
		ch := make(chan container.WaitResponse, 1)
		go func() {
			<-b.started
			ch <- container.WaitResponse{StatusCode: 3}
		}()
		return ch, nil
	}

	b.start = func(context.Context, string) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-b.started:
			return errdefs.ErrNotModified
		default:
			close(b.started)
			return nil
		}
	}

	b.inspect = func(_ context.Context, id string, _ bool) (container.InspectResponse, error) {
		if id != "web" && id != cliContainerID {
			return container.InspectResponse{}, errdefs.ErrNotFound.WithMessage("No such container: " + id)
		}
		return container.InspectResponse{
			ID: cliContainerID, Name: "/web",
			State:  &container.State{Status: container.StateExited, ExitCode: 3},
			Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{},
		}, nil
	}

	b.logs = func(_ context.Context, _ string, _ LogsOptions, fn func(LogMessage) error) error {
		for _, line := range []string{"first\n", "second\n"} {
			if err := fn(LogMessage{Stream: "stdout", Time: time.Unix(1767322000, 0), Line: []byte(line)}); err != nil {
				return err
			}
		}
		return nil
	}

	b.list = func(context.Context, ContainerListOptions) ([]container.Summary, error) {
		return []container.Summary{{ID: cliContainerID, Names: []string{"/web"}, Image: "busybox", State: container.StateExited}}, nil
	}

	b.images = func(context.Context, bool, map[string][]string) ([]image.Summary, error) {
		return []image.Summary{{ID: testImageID, RepoTags: []string{"localhost:5000/team/app:1.0"}, Size: 1024}}, nil
	}

	b.imageGet = func(_ context.Context, name string) (image.InspectResponse, error) {
		return image.InspectResponse{}, errdefs.ErrNotFound.WithMessage("No such image: " + name)
	}

	b.build = func(_ context.Context, req BuildRequest, out io.Writer) (string, error) {
		files, err := tarNames(req.Context)
		if err != nil {
			return "", err
		}
		_, _ = io.WriteString(out, "Step 1/1 : FROM scratch\n")
		_, _ = io.WriteString(out, "context: "+strings.Join(files, ",")+"\n")
		return testImageID, nil
	}

	b.importFn = func(_ context.Context, req ImageImportRequest) (string, error) {
		if _, err := io.Copy(io.Discard, req.Source); err != nil {
			return "", err
		}
		return testImageID, nil
	}

	b.events = func(_ context.Context, _, _ time.Time, _ map[string][]string, fn func(events.Message) error) error {
		// The CLI runs with --until, so the stream may end after one event.
		return fn(events.Message{
			Type: events.ContainerEventType, Action: events.ActionStart,
			Actor: events.Actor{ID: cliContainerID, Attributes: map[string]string{"name": "web"}},
			Time:  1767322000, TimeNano: 1767322000000000000,
		})
	}
	return b
}

func tarNames(r io.Reader) ([]string, error) {
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, h.Name)
	}
}

// TestDockerCLI runs docker CLI commands against the server. It needs the
// docker binary (the client only) on PATH.
func TestDockerCLI(t *testing.T) {
	dockerPath, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not found on PATH")
	}
	ts := startServer(t, newCLIBackend())
	configDir := t.TempDir()
	buildDir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	iidFile := filepath.Join(t.TempDir(), "iid")

	docker := func(t *testing.T, stdin string, args ...string) (stdout, stderr string, exitCode int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, dockerPath, args...)
		cmd.Env = append(os.Environ(),
			"DOCKER_HOST=unix://"+ts.socket, "DOCKER_CONFIG="+configDir,
			"DOCKER_BUILDKIT=0", "DOCKER_CLI_HINTS=false", "DOCKER_API_VERSION=")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if exitErr, ok := err.(*exec.ExitError); ok {
			return out.String(), errOut.String(), exitErr.ExitCode()
		}
		assert.NilError(t, err, "docker %v: %s", args, errOut.String())
		return out.String(), errOut.String(), 0
	}

	tests := []struct {
		name     string
		stdin    string
		args     []string
		exitCode int
		stdout   []string // substrings
		stderr   []string // substrings
	}{
		{name: "version", args: []string{"version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"},
			stdout: []string{"0.0.1-test 1.57"}},
		{name: "info", args: []string{"info", "--format", "{{.ID}} {{.OSType}}"}, stdout: []string{"test linux"}},
		{name: "run", args: []string{"run", "--name", "web", "busybox", "echo"}, exitCode: 3,
			stdout: []string{"hello from stdout"}, stderr: []string{"hello from stderr"}},
		{name: "start again", args: []string{"start", "web"}, stdout: []string{"web"}},
		{name: "run with stdin", stdin: "typed input\n", args: []string{"run", "-i", "busybox", "cat"}, exitCode: 3,
			stdout: []string{"hello from stdout\ntyped input\n"}},
		{name: "stop stopped", args: []string{"stop", "web"}, stdout: []string{"web"}},
		{name: "rm", args: []string{"rm", "web"}, stdout: []string{"web"}},
		{name: "rm missing", args: []string{"rm", "nope"}, exitCode: 1,
			stderr: []string{"Error response from daemon: No such container: nope"}},
		{name: "ps", args: []string{"ps", "-a", "--format", "{{.Names}} {{.Image}}"}, stdout: []string{"web busybox"}},
		{name: "logs", args: []string{"logs", "--tail", "2", "-t", "web"},
			stdout: []string{"2026-01-02T02:46:40.000000000Z first\n", "second\n"}},
		{name: "inspect missing", args: []string{"inspect", "--type", "container", "nope"}, exitCode: 1,
			stderr: []string{"No such container: nope"}},
		{name: "inspect any missing", args: []string{"inspect", "nope"}, exitCode: 1,
			stderr: []string{"No such object: nope"}},
		{name: "run missing image", args: []string{"run", "--rm", "alpine", "true"}, exitCode: 125,
			stderr: []string{"Unable to find image", "pull access denied for alpine"}},
		{name: "images", args: []string{"images", "--format", "{{.Repository}}:{{.Tag}}"},
			stdout: []string{"localhost:5000/team/app:1.0"}},
		{name: "build quiet", args: []string{"build", "-q", "-t", "team/app", buildDir},
			stdout: []string{testImageID}},
		{name: "build", args: []string{"build", "--iidfile", iidFile, "-t", "team/app", buildDir},
			stdout: []string{"Step 1/1 : FROM scratch", "context: Dockerfile"}},
		{name: "import", stdin: "not really a tarball", args: []string{"import", "-", "localhost:5000/team/app:2.0"},
			stdout: []string{testImageID}},
		{name: "events", args: []string{"events", "--since", "1767321000", "--until", "1767323000"},
			stdout: []string{"container start " + cliContainerID + " (name=web)"}},
		{name: "swarm", args: []string{"service", "ls"}, exitCode: 1,
			stderr: []string{"This node is not a swarm manager"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, exitCode := docker(t, tc.stdin, tc.args...)
			assert.Equal(t, exitCode, tc.exitCode, "stdout: %s\nstderr: %s", stdout, stderr)
			for _, want := range tc.stdout {
				assert.Check(t, is.Contains(stdout, want), "stderr: %s", stderr)
			}
			for _, want := range tc.stderr {
				assert.Check(t, is.Contains(stderr, want))
			}
		})
	}

	// The CLI takes the image ID for --iidfile from the aux message.
	iid, err := os.ReadFile(iidFile)
	assert.NilError(t, err)
	assert.Equal(t, string(iid), testImageID)
}
