package shim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/shim"
)

// execSpec returns a process for exec with the given arguments.
func execSpec(args ...string) specs.Process {
	return specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}}
}

func TestExecStreamsAndExitCode(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "60"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	conn, pid, err := client.Exec(ctx, "e1", execSpec("sh", "-c", "cat; echo oops >&2; exit 5"), true, true, true)
	assert.NilError(t, err)
	defer conn.Close()
	assert.Check(t, pid > 0)

	_, err = conn.Write([]byte("hello\n"))
	assert.NilError(t, err)
	assert.NilError(t, conn.(interface{ CloseWrite() error }).CloseWrite())

	stdout, stderr := readAttach(t, conn, true)
	assert.Check(t, is.Equal(stdout, "hello\n"))
	assert.Check(t, is.Equal(stderr, "oops\n"))

	status, err := client.ExecWait(ctx, "e1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(status.ExitCode, 5))
}

func TestExecMissingCommand(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"sleep", "60"}, nil)
	client := c.launch(t)
	ctx := context.Background()
	assert.NilError(t, client.Start(ctx))

	_, _, err := client.Exec(ctx, "e1", execSpec("nosuch"), false, true, true)
	var startErr *shim.StartError
	assert.Assert(t, errors.As(err, &startErr), "error: %v", err)
	assert.Check(t, is.Equal(startErr.ExitCode(), shim.ExitCodeNotFound))

	_, err = client.ExecWait(ctx, "e1")
	assert.Check(t, errdefs.IsNotFound(err))
}

func TestExecBeforeStart(t *testing.T) {
	t.Parallel()
	c := newContainer(t, []string{"true"}, nil)
	client := c.launch(t)

	_, _, err := client.Exec(context.Background(), "e1", execSpec("true"), false, true, true)
	assert.Check(t, errdefs.IsConflict(err))
	assert.Check(t, is.ErrorContains(err, "is not running"))
}
