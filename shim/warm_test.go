package shim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/shim"
)

func TestLauncherUsesWaitingShim(t *testing.T) {
	ctx := context.Background()
	binary, err := os.Executable()
	assert.NilError(t, err)
	launcher := shim.NewLauncher(ctx, binary)
	defer launcher.Close()

	// Two containers in a row: the first may find the waiting shim still
	// starting, the second takes the one started after the first.
	for _, word := range []string{"first", "second"} {
		c := newContainer(t, []string{"echo", word}, nil)
		client, err := launcher.Launch(ctx, c.opts)
		assert.NilError(t, err)
		c.client = client

		conn, err := client.Attach(ctx, false, true, true)
		assert.NilError(t, err)
		assert.NilError(t, client.Start(ctx))
		stdout, _ := readAttach(t, conn, true)
		conn.Close()
		assert.Check(t, is.Equal(stdout, word+"\n"))

		status, err := client.Wait(ctx)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(status.ExitCode, 0))
		_, err = os.Stat(filepath.Join(c.opts.StateDir, shim.LogFile))
		assert.Check(t, err, "shim log missing from the state directory")
	}
}

func TestLauncherReportsStartError(t *testing.T) {
	ctx := context.Background()
	binary, err := os.Executable()
	assert.NilError(t, err)
	launcher := shim.NewLauncher(ctx, binary)
	defer launcher.Close()

	c := newContainer(t, []string{"no-such-command"}, nil)
	_, err = launcher.Launch(ctx, c.opts)
	assert.Check(t, is.Equal(shim.ExitCodeForStartError(err), shim.ExitCodeNotFound), "got %v", err)
}
