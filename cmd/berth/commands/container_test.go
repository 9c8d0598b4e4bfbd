package commands

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const testContainerID = "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"

// fakeRun fakes the endpoints of "berth run" for one container: create,
// attach, wait and start. The attach writes stdout and stderr frames once
// the container started, and the wait reports exitCode after that.
type fakeRun struct {
	t        *testing.T
	exitCode int
	stdout   string
	stderr   string
	// echoStdin makes the attach send back what the client wrote, once
	// the client closed its side.
	echoStdin bool
	// startError, when set, fails the start with status 500 and this message.
	startError string

	mu      sync.Mutex
	created containertypes.CreateRequest
	started chan struct{}
	exited  chan struct{}
}

func newFakeRun(t *testing.T, daemon *fakeDaemon, run *fakeRun) *fakeRun {
	run.t = t
	run.started = make(chan struct{})
	run.exited = make(chan struct{})

	daemon.mux.HandleFunc("POST /containers/create", run.create)
	daemon.mux.HandleFunc("POST /containers/{id}/attach", run.attach)
	daemon.mux.HandleFunc("POST /containers/{id}/wait", run.wait)
	daemon.mux.HandleFunc("POST /containers/{id}/start", run.start)
	return run
}

func (f *fakeRun) create(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	err := json.NewDecoder(r.Body).Decode(&f.created)
	f.mu.Unlock()
	assert.Check(f.t, err)
	writeJSON(w, http.StatusCreated, containertypes.CreateResponse{ID: testContainerID, Warnings: []string{}})
}

func (f *fakeRun) attach(w http.ResponseWriter, r *http.Request) {
	conn, input := hijack(f.t, w)
	if conn == nil {
		return
	}
	defer conn.Close()

	select {
	case <-f.started:
	case <-r.Context().Done():
		return
	}

	output := f.stdout
	if f.echoStdin {
		data, err := io.ReadAll(input)
		assert.Check(f.t, err)
		output = strings.ToUpper(string(data))
	}
	if output != "" {
		_, _ = conn.Write(frame(1, output))
	}
	if f.stderr != "" {
		_, _ = conn.Write(frame(2, f.stderr))
	}
	close(f.exited)
}

func (f *fakeRun) wait(w http.ResponseWriter, r *http.Request) {
	// Like the daemon, send the headers at once and the result at the exit.
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()

	select {
	case <-f.exited:
	case <-r.Context().Done():
		return
	}
	_ = json.NewEncoder(w).Encode(containertypes.WaitResponse{StatusCode: int64(f.exitCode)})
}

func (f *fakeRun) start(w http.ResponseWriter, r *http.Request) {
	if f.startError != "" {
		// The daemon removes an --rm container whose start failed.
		close(f.exited)
		writeError(w, http.StatusInternalServerError, f.startError)
		return
	}
	close(f.started)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeRun) request() containertypes.CreateRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created
}

func TestRunAttachedExitCode(t *testing.T) {
	daemon := newFakeDaemon(t)
	run := newFakeRun(t, daemon, &fakeRun{exitCode: 3, stdout: "hello\n", stderr: "oops\n"})

	res := runBerth(t, daemon, nil, "run", "--name", "web", "-e", "A=1", "-p", "8080:80", "busybox", "sh", "-c", "exit 3")

	assert.Equal(t, res.stdout, "hello\n")
	assert.Equal(t, res.stderr, "oops\n")
	assert.Equal(t, res.code, 3)

	assert.DeepEqual(t, daemon.paths(), []string{
		"POST /containers/create",
		"POST /containers/" + testContainerID + "/attach",
		"POST /containers/" + testContainerID + "/wait",
		"POST /containers/" + testContainerID + "/start",
	})
	assert.Equal(t, daemon.query("POST /containers/create"), "name=web")
	assert.Equal(t, daemon.query("POST /containers/"+testContainerID+"/attach"), "stderr=1&stdout=1&stream=1")
	assert.Equal(t, daemon.query("POST /containers/"+testContainerID+"/wait"), "condition=next-exit")

	created := run.request()
	assert.Equal(t, created.Image, "busybox")
	assert.DeepEqual(t, created.Cmd, []string{"sh", "-c", "exit 3"})
	assert.DeepEqual(t, created.Env, []string{"A=1"})
	assert.Equal(t, created.AttachStdout, true)
	assert.Equal(t, created.AttachStderr, true)
	assert.Equal(t, created.AttachStdin, false)
	assert.Equal(t, len(created.HostConfig.PortBindings), 1)
}

func TestRunRemoveWaitsForRemoval(t *testing.T) {
	daemon := newFakeDaemon(t)
	newFakeRun(t, daemon, &fakeRun{stdout: "done\n"})

	res := runBerth(t, daemon, nil, "run", "--rm", "busybox", "true")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "done\n")
	assert.Equal(t, daemon.query("POST /containers/"+testContainerID+"/wait"), "condition=removed")
}

func TestRunInteractiveStdin(t *testing.T) {
	daemon := newFakeDaemon(t)
	run := newFakeRun(t, daemon, &fakeRun{echoStdin: true})

	res := runBerth(t, daemon, strings.NewReader("piped input\n"), "run", "-i", "busybox", "cat")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "PIPED INPUT\n")
	assert.Equal(t, daemon.query("POST /containers/"+testContainerID+"/attach"), "stderr=1&stdin=1&stdout=1&stream=1")

	created := run.request()
	assert.Equal(t, created.OpenStdin, true)
	assert.Equal(t, created.StdinOnce, true)
	assert.Equal(t, created.AttachStdin, true)
}

func TestRunDetachedPrintsID(t *testing.T) {
	daemon := newFakeDaemon(t)
	run := newFakeRun(t, daemon, &fakeRun{})

	res := runBerth(t, daemon, nil, "run", "-d", "--sig-proxy=false", "busybox", "sleep", "60")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, testContainerID+"\n")
	assert.Equal(t, res.stderr, "")
	assert.Assert(t, !slicesContains(daemon.paths(), "POST /containers/"+testContainerID+"/attach"))

	created := run.request()
	assert.Equal(t, created.AttachStdout, false)
	assert.Equal(t, created.AttachStderr, false)
}

func TestRunImageNotFound(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "No such image: busybox:latest")
	})
	var pulled string
	daemon.mux.HandleFunc("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		pulled = r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
		writeError(w, http.StatusNotFound, "pull access denied for busybox, repository does not exist")
	})

	res := runBerth(t, daemon, nil, "run", "busybox")

	assert.Equal(t, res.code, 125)
	assert.Equal(t, res.stdout, "")
	assert.Equal(t, pulled, "docker.io/library/busybox:latest")
	assert.Equal(t, res.stderr, "Unable to find image 'busybox:latest' locally\n"+
		"berth: Error response from daemon: pull access denied for busybox, repository does not exist.\n"+
		"See 'berth run --help'.\n")

	pulled = ""
	res = runBerth(t, daemon, nil, "run", "--pull", "never", "busybox")
	assert.Equal(t, res.code, 125)
	assert.Equal(t, pulled, "", "--pull never does not pull")
	assert.Equal(t, res.stderr, "Unable to find image 'busybox:latest' locally\n"+
		"berth: Error response from daemon: No such image: busybox:latest.\n"+
		"See 'berth run --help'.\n")
}

func TestRunStartErrorExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		message string
		code    int
	}{
		{
			name:    "executable not found",
			message: `failed to create task: exec: "nope": executable file not found in $PATH`,
			code:    127,
		},
		{name: "no such file", message: `exec: "/bin/nope": stat /bin/nope: no such file or directory`, code: 127},
		{name: "permission denied", message: `exec: "/etc/passwd": permission denied`, code: 126},
		{name: "other failure", message: "cannot allocate port 8080", code: 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			daemon := newFakeDaemon(t)
			newFakeRun(t, daemon, &fakeRun{startError: tc.message})

			res := runBerth(t, daemon, nil, "run", "--rm", "busybox", "nope")

			assert.Equal(t, res.code, tc.code)
			assert.Equal(t, res.stderr, "berth: Error response from daemon: "+tc.message+".\n")
		})
	}
}

func TestRunInvalidFlagValue(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "run", "-p", "notaport", "busybox")

	assert.Equal(t, res.code, 125)
	assert.Check(t, is.Contains(res.stderr, "berth: invalid argument \"notaport\" for \"-p, --publish\" flag"))
	assert.Check(t, is.Contains(res.stderr, "See 'berth run --help'."))
	assert.DeepEqual(t, daemon.paths(), []string{})
}

func TestRunUnknownFlag(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "run", "--bogus", "busybox")

	assert.Equal(t, res.code, 125)
	assert.Equal(t, res.stderr, "unknown flag: --bogus\nSee 'berth run --help'.\n")
}

func TestRunStopsFlagsAtImage(t *testing.T) {
	daemon := newFakeDaemon(t)
	run := newFakeRun(t, daemon, &fakeRun{})

	res := runBerth(t, daemon, nil, "container", "run", "-d", "busybox", "ls", "-d", "--rm")

	assert.Equal(t, res.code, 0)
	created := run.request()
	assert.DeepEqual(t, created.Cmd, []string{"ls", "-d", "--rm"})
	assert.Equal(t, created.HostConfig.AutoRemove, false)
}

func TestCreatePrintsIDAndWarnings(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, containertypes.CreateResponse{ID: testContainerID, Warnings: []string{"memory limit ignored"}})
	})

	res := runBerth(t, daemon, nil, "create", "-m", "64m", "busybox")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, testContainerID+"\n")
	assert.Equal(t, res.stderr, "WARNING: memory limit ignored\n")
}

func TestRemoveContinuesOnError(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("DELETE /containers/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if id == "missing" {
			writeError(w, http.StatusNotFound, "No such container: missing")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	res := runBerth(t, daemon, nil, "rm", "-v", "missing", "web")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, "web\n")
	assert.Equal(t, res.stderr, "Error response from daemon: No such container: missing\n")
	assert.Equal(t, daemon.query("DELETE /containers/web"), "v=1")

	forced := runBerth(t, daemon, nil, "container", "rm", "-f", "missing")
	assert.Equal(t, forced.code, 0)
	assert.Equal(t, forced.stdout, "")
	assert.Equal(t, forced.stderr, "Error response from daemon: No such container: missing\n")
}

func TestStopTimeoutQuery(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	withTimeout := runBerth(t, daemon, nil, "stop", "-t", "0", "-s", "SIGINT", "a")
	withoutTimeout := runBerth(t, daemon, nil, "container", "stop", "b")

	assert.Equal(t, withTimeout.code, 0)
	assert.Equal(t, withTimeout.stdout, "a\n")
	assert.Equal(t, daemon.query("POST /containers/a/stop"), "signal=SIGINT&t=0")
	assert.Equal(t, withoutTimeout.code, 0)
	assert.Equal(t, daemon.query("POST /containers/b/stop"), "")
}

func TestKillDefaultSignal(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/{id}/kill", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	res := runBerth(t, daemon, nil, "kill", "a")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, daemon.query("POST /containers/a/kill"), "signal=KILL")
}

func TestStartReportsFailures(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "bad" {
			writeError(w, http.StatusNotFound, "No such container: bad")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	res := runBerth(t, daemon, nil, "start", "good", "bad")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, "good\n")
	assert.Equal(t, res.stderr, "Error response from daemon: No such container: bad\nError: failed to start containers: bad\n")
}

func TestWaitPrintsExitCodes(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("POST /containers/{id}/wait", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, containertypes.WaitResponse{StatusCode: int64(len(r.PathValue("id")))})
	})

	res := runBerth(t, daemon, nil, "wait", "a", "abc")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "1\n3\n")
}

func TestLogsDemultiplexes(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, containertypes.InspectResponse{ID: testContainerID, Config: &containertypes.Config{}})
	})
	daemon.mux.HandleFunc("GET /containers/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(frame(1, "out line\n"))
		_, _ = w.Write(frame(2, "err line\n"))
	})

	res := runBerth(t, daemon, nil, "logs", "-f", "-t", "--tail", "5", "web")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "out line\n")
	assert.Equal(t, res.stderr, "err line\n")
	query, err := url.ParseQuery(daemon.query("GET /containers/" + testContainerID + "/logs"))
	assert.NilError(t, err)
	assert.Equal(t, query.Get("follow"), "1")
	assert.Equal(t, query.Get("timestamps"), "1")
	assert.Equal(t, query.Get("tail"), "5")
	assert.Equal(t, query.Get("stdout"), "1")
	assert.Equal(t, query.Get("stderr"), "1")
}

func TestLogsTTYCopiesRaw(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, containertypes.InspectResponse{ID: testContainerID, Config: &containertypes.Config{Tty: true}})
	})
	daemon.mux.HandleFunc("GET /containers/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "raw tty output\r\n")
	})

	res := runBerth(t, daemon, nil, "logs", "web")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "raw tty output\r\n")
	assert.Equal(t, daemon.query("GET /containers/"+testContainerID+"/logs"), "stderr=1&stdout=1")
}

func TestPsTable(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []containertypes.Summary{{
			ID:      testContainerID,
			Names:   []string{"/web"},
			Image:   "busybox",
			Command: "sleep 60",
			State:   "running",
			Status:  "Up 3 seconds",
		}})
	})

	res := runBerth(t, daemon, nil, "ps", "-a", "--filter", "status=running", "--format", "table {{.ID}}\t{{.Status}}\t{{.Names}}")

	assert.Equal(t, res.code, 0)
	assert.Equal(t, res.stdout, "CONTAINER ID   STATUS         NAMES\n4c3b2a1f0e9d   Up 3 seconds   web\n")
	query, err := url.ParseQuery(daemon.query("GET /containers/json"))
	assert.NilError(t, err)
	assert.Equal(t, query.Get("all"), "1")
	assert.Equal(t, query.Get("filters"), `{"status":{"running":true}}`)

	quiet := runBerth(t, daemon, nil, "container", "ls", "-q", "--no-trunc")
	assert.Equal(t, quiet.stdout, testContainerID+"\n")
}

func TestInspectContainerFormat(t *testing.T) {
	daemon := newFakeDaemon(t)
	daemon.mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "web" {
			writeError(w, http.StatusNotFound, "No such container: "+r.PathValue("id"))
			return
		}
		writeJSON(w, http.StatusOK, containertypes.InspectResponse{
			ID:    testContainerID,
			Name:  "/web",
			State: &containertypes.State{Status: "running", Running: true},
		})
	})

	res := runBerth(t, daemon, nil, "container", "inspect", "-f", "{{.Id}} {{.State.Status}} {{json .Name}}", "web", "gone")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stdout, testContainerID+` running "/web"`+"\n")
	assert.Equal(t, res.stderr, "Error response from daemon: No such container: gone\n")
}

func slicesContains(values []string, value string) bool {
	for _, v := range values {
		if v == value {
			return true
		}
	}
	return false
}

func TestRunTTYNeedsTerminal(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, strings.NewReader(""), "run", "-it", "busybox", "sh")

	assert.Equal(t, res.code, 1)
	assert.Equal(t, res.stderr, "the input device is not a TTY\n")
	assert.DeepEqual(t, daemon.paths(), []string{})
}

func TestRunInvalidDetachKeys(t *testing.T) {
	daemon := newFakeDaemon(t)

	res := runBerth(t, daemon, nil, "run", "--detach-keys", "ctrl-1", "busybox")

	assert.Equal(t, res.code, 125)
	assert.Check(t, is.Contains(res.stderr, `berth: invalid detach keys (ctrl-1) provided: "ctrl-1" is neither a single character nor ctrl-<key>.`))
}
