package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
)

func TestResolveHost(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{name: "default", want: DefaultHost},
		{name: "docker host", env: map[string]string{EnvDockerHost: "unix:///d.sock"}, want: "unix:///d.sock"},
		{
			name: "berth host wins over docker host",
			env:  map[string]string{EnvHost: "unix:///b.sock", EnvDockerHost: "unix:///d.sock"},
			want: "unix:///b.sock",
		},
		{
			name: "flag wins over environment",
			flag: "tcp://127.0.0.1:2375",
			env:  map[string]string{EnvHost: "unix:///b.sock", EnvDockerHost: "unix:///d.sock"},
			want: "tcp://127.0.0.1:2375",
		},
		{name: "empty variable ignored", env: map[string]string{EnvHost: "", EnvDockerHost: "unix:///d.sock"}, want: "unix:///d.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) {
				value, ok := tc.env[name]
				return value, ok
			}
			assert.Equal(t, resolveHost(tc.flag, lookup), tc.want)
		})
	}
}

func TestClientConnectionRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "bt")
	assert.NilError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	host := "unix://" + filepath.Join(dir, "missing.sock")

	c := New(&Options{Host: host}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	_, err = c.Client(context.Background())

	assert.Error(t, err, "Cannot connect to the berth daemon at "+host+". Is the berth daemon running?")
}

func TestClientInvalidHost(t *testing.T) {
	c := New(&Options{Host: "not-a-url"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
	_, err := c.Client(context.Background())

	assert.ErrorContains(t, err, `invalid daemon host "not-a-url"`)
}

func TestPrintError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		output string
		code   int
	}{
		{name: "nil", err: nil, output: "", code: 0},
		{name: "plain", err: errors.New("Error response from daemon: No such container: x"), output: "Error response from daemon: No such container: x\n", code: 1},
		{name: "status without message", err: StatusError{StatusCode: 3}, output: "", code: 3},
		{name: "status with message", err: StatusError{Status: "build failed\n", StatusCode: 1}, output: "build failed\n", code: 1},
		{name: "wrapped status", err: fmt.Errorf("run: %w", StatusError{StatusCode: 127}), output: "", code: 127},
		{name: "joined", err: JoinErrors([]error{errors.New("a"), errors.New("b")}), output: "a\nb\n", code: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := PrintError(&out, tc.err)

			assert.Equal(t, out.String(), tc.output)
			assert.Equal(t, code, tc.code)
			assert.Equal(t, ExitCode(tc.err), tc.code)
		})
	}
}

func TestJoinErrorsEmpty(t *testing.T) {
	assert.NilError(t, JoinErrors(nil))
}

func TestFlagError(t *testing.T) {
	root := &cobra.Command{Use: "berth"}
	run := &cobra.Command{Use: "run"}
	root.AddCommand(run)

	err := FlagError(run, errors.New("unknown flag: --bogus"))

	assert.Error(t, err, "unknown flag: --bogus\nSee 'berth run --help'.")
	assert.Equal(t, ExitCode(err), 125)
}

func TestArgsValidators(t *testing.T) {
	cmd := &cobra.Command{Use: "rm CONTAINER", Short: "Remove containers"}
	tests := []struct {
		name    string
		check   cobra.PositionalArgs
		args    []string
		message string
	}{
		{name: "min ok", check: RequiresMinArgs(1), args: []string{"a"}},
		{name: "min fails", check: RequiresMinArgs(1), message: `"rm" requires at least 1 argument.`},
		{name: "max fails", check: RequiresMaxArgs(1), args: []string{"a", "b"}, message: "requires at most 1 argument."},
		{name: "exact fails", check: ExactArgs(2), args: []string{"a"}, message: "requires 2 arguments."},
		{name: "range fails", check: RequiresRangeArgs(1, 2), message: "requires at least 1 and at most 2 arguments."},
		{name: "none fails", check: NoArgs, args: []string{"a"}, message: "accepts no arguments."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(cmd, tc.args)
			if tc.message == "" {
				assert.NilError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.message)
			assert.ErrorContains(t, err, "Usage:  rm CONTAINER")
		})
	}
}
