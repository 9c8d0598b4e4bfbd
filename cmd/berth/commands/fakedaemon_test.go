package commands

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// fakeDaemon serves a few Engine API endpoints on a unix socket. Tests
// register handlers on mux with Go 1.22 patterns such as
// "POST /containers/{id}/start"; the version prefix is stripped first.
type fakeDaemon struct {
	host string
	mux  *http.ServeMux

	mu       sync.Mutex
	requests []string // "METHOD /path?query", in arrival order
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	// A short directory keeps the socket path within sun_path's limit.
	dir, err := os.MkdirTemp("", "bt")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "d.sock")

	listener, err := net.Listen("unix", socket)
	assert.NilError(t, err)

	daemon := &fakeDaemon{host: "unix://" + socket, mux: http.NewServeMux()}
	daemon.mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.47")
		w.Header().Set("Ostype", "linux")
		_, _ = io.WriteString(w, "OK")
	})

	versionPrefix := regexp.MustCompile(`^/v[0-9]+\.[0-9]+/`)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_ping" {
			r.URL.Path = versionPrefix.ReplaceAllString(r.URL.Path, "/")
			daemon.record(r)
		}
		daemon.mux.ServeHTTP(w, r)
	}))
	server.Listener = listener
	server.Start()
	t.Cleanup(server.Close)
	return daemon
}

func (d *fakeDaemon) record(r *http.Request) {
	entry := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		entry += "?" + r.URL.RawQuery
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = append(d.requests, entry)
}

// paths returns "METHOD /path" of every recorded request.
func (d *fakeDaemon) paths() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.requests))
	for _, request := range d.requests {
		path, _, _ := strings.Cut(request, "?")
		out = append(out, path)
	}
	return out
}

// query returns the query string of the first request to "METHOD /path".
func (d *fakeDaemon) query(methodPath string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, request := range d.requests {
		path, query, _ := strings.Cut(request, "?")
		if path == methodPath {
			return query
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"message": message})
}

// frame encodes payload as one stdcopy frame: stream byte, three zero
// bytes, big-endian length, payload.
func frame(stream byte, payload string) []byte {
	header := make([]byte, 8)
	header[0] = stream
	binary.BigEndian.PutUint32(header[4:], uint32(len(payload)))
	return append(header, payload...)
}

// hijack upgrades an attach request to a raw stream the way the daemon
// does. It returns the connection and a reader of what the client sends.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, io.Reader) {
	t.Helper()
	// Handlers run outside the test goroutine, so failures use Check.
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if !assert.Check(t, err) {
		return nil, nil
	}
	_, err = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\n"+
		"Content-Type: application/vnd.docker.multiplexed-stream\r\n"+
		"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	assert.Check(t, err)

	// Bytes the server already buffered come before the rest of the stream.
	pending := &bytes.Buffer{}
	if n := buffered.Reader.Buffered(); n > 0 {
		data, _ := buffered.Reader.Peek(n)
		pending.Write(data)
	}
	return conn, io.MultiReader(pending, conn)
}

// result is what a berth invocation printed and its exit code.
type result struct {
	stdout string
	stderr string
	code   int
}

// runBerth runs the client command line against daemon with stdin as
// standard input, the way main does: errors are printed by HandleError.
func runBerth(t *testing.T, daemon *fakeDaemon, stdin io.Reader, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "berth", SilenceUsage: true, SilenceErrors: true}
	opts := &cli.Options{}
	opts.AddFlags(root.PersistentFlags())

	var stdout, stderr bytes.Buffer
	c := cli.New(opts, stdin, &stdout, &stderr)
	c.DisableAutostart()
	addClientCommands(root, c)
	root.SetOut(&stdout)
	root.SetErr(&stderr)

	root.SetArgs(append([]string{"-H", daemon.host}, args...))
	err := root.ExecuteContext(context.Background())
	code := HandleError(&stderr, err)
	assert.NilError(t, c.Close())

	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}
