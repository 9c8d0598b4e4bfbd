package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
)

// unixHost returns a daemon address on a socket path short enough for
// sun_path, in a directory removed after the test.
func unixHost(t *testing.T) (path, host string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bt")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "d.sock")
	return path, "unix://" + path
}

func TestWaitForDaemonExited(t *testing.T) {
	_, host := unixHost(t)
	apiClient, err := client.New(client.WithHost(host))
	assert.NilError(t, err)
	t.Cleanup(func() { apiClient.Close() })

	exited := make(chan error, 1)
	exited <- errors.New("exit status 1")
	err = waitForDaemon(context.Background(), apiClient, exited, "/var/lib/berth/daemon.log")

	assert.ErrorContains(t, err, "berth daemon exited during startup (exit status 1); see /var/lib/berth/daemon.log")
}

func TestWaitForDaemonAnswers(t *testing.T) {
	path, host := unixHost(t)
	apiClient, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	assert.NilError(t, err)
	t.Cleanup(func() { apiClient.Close() })

	// The daemon comes up while the first pings are being sent.
	started := make(chan *httptest.Server, 1)
	go func() {
		listener, err := net.Listen("unix", path)
		if err != nil {
			started <- nil
			return
		}
		server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Api-Version", "1.47")
			w.WriteHeader(http.StatusOK)
		}))
		server.Listener = listener
		server.Start()
		started <- server
	}()

	err = waitForDaemon(context.Background(), apiClient, make(chan error), "daemon.log")

	server := <-started
	assert.Assert(t, server != nil, "listen on %s failed", path)
	t.Cleanup(server.Close)
	assert.NilError(t, err)
	assert.Equal(t, apiClient.ClientVersion(), "1.47")
}
