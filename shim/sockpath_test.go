package shim

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
)

func TestListenDialLongSocketPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	assert.NilError(t, os.MkdirAll(dir, 0o700))
	path := filepath.Join(dir, SocketFile)
	assert.Assert(t, len(path) > maxSocketPath)

	listener, err := listen(path)
	assert.NilError(t, err)
	defer listener.Close()
	_, err = os.Stat(path)
	assert.NilError(t, err, "socket file is not at its full path")

	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := listener.Accept()
		if err == nil {
			accepted <- conn
		}
		close(accepted)
	}()

	client := &Client{socket: path}
	conn, err := client.dial(t.Context())
	assert.NilError(t, err)
	conn.Close()
	server, ok := <-accepted
	assert.Assert(t, ok)
	server.Close()
}
