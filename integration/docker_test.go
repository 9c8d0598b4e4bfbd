package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// docker runs Docker's own CLI against the berth daemon.
func (d *daemon) docker(args ...string) (string, string, error) {
	d.t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		d.t.Skip("docker CLI not installed; the docker compatibility checks need it as a client")
	}
	cmd := exec.Command("docker", append([]string{"-H", "unix://" + d.socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestDockerCLIRunsContainers(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	out, errOut, err := d.docker("run", "--rm", "busybox", "echo", "hi from docker")
	assert.NilError(t, err, errOut)
	assert.Check(t, is.Equal(out, "hi from docker\n"))

	out, errOut, err = d.docker("run", "--name", "split", "busybox", "sh", "-c", "echo out; echo err >&2; exit 5")
	var exitErr *exec.ExitError
	assert.Assert(t, errors.As(err, &exitErr), "docker run: %v", err)
	assert.Check(t, is.Equal(exitErr.ExitCode(), 5))
	assert.Check(t, is.Equal(out, "out\n"))
	assert.Check(t, is.Equal(errOut, "err\n"))

	out, errOut, err = d.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")
	assert.NilError(t, err, errOut)
	assert.Check(t, is.Contains(out, "split Exited (5)"))

	out, errOut, err = d.docker("logs", "split")
	assert.NilError(t, err, errOut)
	assert.Check(t, is.Equal(out, "out\n"))
	assert.Check(t, is.Equal(errOut, "err\n"))

	out, _, err = d.docker("start", "-a", "split")
	assert.Assert(t, errors.As(err, &exitErr), "docker start -a: %v", err)
	assert.Check(t, is.Equal(exitErr.ExitCode(), 5))
	assert.Check(t, is.Equal(out, "out\n"))
}
