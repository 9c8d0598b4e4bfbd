package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
	"github.com/berth-engine/berth/runtime/spec"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		message string
		kind    error
	}{
		{message: "container does not exist", kind: errdefs.ErrNotFound},
		{message: "cannot kill container: container not running", kind: errdefs.ErrFailedPrecondition},
		{message: "container with id exists: c1", kind: errdefs.ErrAlreadyExists},
		{message: "something else broke", kind: errdefs.ErrUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.message, func(t *testing.T) {
			assert.Check(t, is.ErrorIs(classify(tc.message), tc.kind))
		})
	}
}

func TestLastError(t *testing.T) {
	entries := []logEntry{
		{Level: "warning", Msg: "w"},
		{Level: "error", Msg: "first\n"},
		{Level: "error", Msg: "second"},
		{Level: "info", Msg: "later"},
	}
	assert.Check(t, is.Equal(lastError(entries), "second"))
	assert.Check(t, is.Equal(lastError(nil), ""))
}

// newBundle writes a bundle with a busybox rootfs and a spec running args.
func newBundle(t *testing.T, id string, args ...string) string {
	t.Helper()
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	assert.NilError(t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	data, err := os.ReadFile("/bin/busybox")
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755))
	for _, name := range []string{"sh", "sleep", "echo", "true"} {
		assert.NilError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", name)))
	}

	s, err := spec.Generate(spec.Options{ID: id, Rootfs: rootfs, Args: args, NetNSPath: spec.NetNSNone})
	assert.NilError(t, err)
	config, err := json.Marshal(s)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(bundle, "config.json"), config, 0o644))
	return bundle
}

// testID returns a container id that no other test run uses.
func testID(t *testing.T) string {
	t.Helper()
	suffix := make([]byte, 4)
	_, err := rand.Read(suffix)
	assert.NilError(t, err)
	return "bt-runc-" + hex.EncodeToString(suffix)
}

func newTestRunc(t *testing.T) (*Runc, string) {
	t.Helper()
	testutil.Requires(t, testutil.Root, testutil.Runc, testutil.Busybox)
	dir := t.TempDir()
	return New(Config{Root: filepath.Join(dir, "root"), LogPath: filepath.Join(dir, "runc.json")}), dir
}

func TestLifecycle(t *testing.T) {
	r, _ := newTestRunc(t)
	ctx := context.Background()
	id := testID(t)
	bundle := newBundle(t, id, "sleep", "100")
	t.Cleanup(func() { _ = r.Delete(context.Background(), id, true) })

	pidFile := filepath.Join(bundle, "init.pid")
	assert.NilError(t, r.Create(ctx, id, bundle, CreateOptions{PidFile: pidFile}))

	state, err := r.State(ctx, id)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(state.Status, "created"))
	assert.Check(t, state.Pid > 0)

	assert.NilError(t, r.Start(ctx, id))
	state, err = r.State(ctx, id)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(state.Status, "running"))

	pids, err := r.Ps(ctx, id)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(pids, state.Pid))

	err = r.Create(ctx, id, bundle, CreateOptions{})
	assert.Check(t, is.ErrorIs(err, errdefs.ErrAlreadyExists))

	assert.NilError(t, r.Kill(ctx, id, syscall.SIGKILL, false))
	assert.NilError(t, r.Delete(ctx, id, true))

	_, err = r.State(ctx, id)
	assert.Check(t, IsNotFound(err), "state after delete: %v", err)
}

func TestCreateMissingExecutable(t *testing.T) {
	r, dir := newTestRunc(t)
	ctx := context.Background()
	id := testID(t)
	bundle := newBundle(t, id, "/no/such/binary")
	t.Cleanup(func() { _ = r.Delete(context.Background(), id, true) })

	err := r.Create(ctx, id, bundle, CreateOptions{})
	var runcErr *Error
	assert.Assert(t, errors.As(err, &runcErr), "error %v is not a *runc.Error", err)
	assert.Check(t, is.Equal(runcErr.Op, "create"))
	assert.Check(t, is.Contains(runcErr.Message, "no such file or directory"))

	logData, err := os.ReadFile(filepath.Join(dir, "runc.json"))
	assert.NilError(t, err)
	assert.Check(t, strings.Contains(string(logData), "no such file or directory"), "shared log: %s", logData)
}
