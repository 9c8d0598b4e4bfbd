package compose

import (
	"bytes"
	"os"
	"testing"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

func TestPrefixWriterSplitsLines(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{prefix: "web-1 | ", out: &out}
	_, err := w.Write([]byte("one\ntw"))
	assert.NilError(t, err)
	_, err = w.Write([]byte("o\nthree"))
	assert.NilError(t, err)
	w.flush()
	assert.Check(t, is.Equal(out.String(), "web-1 | one\nweb-1 | two\nweb-1 | three\n"))
}

func TestBuildArgsFromService(t *testing.T) {
	value := "v"
	project := &composetypes.Project{Name: "demo"}
	service := composetypes.ServiceConfig{Name: "api"}
	service.Build = &composetypes.BuildConfig{
		Context:    "/src",
		Dockerfile: "api/Dockerfile",
		Args:       composetypes.MappingWithEquals{"B": &value, "A": &value, "UNSET": nil},
		Target:     "final",
	}
	args := buildArgs(project, service, true, false)
	assert.Check(t, is.DeepEqual(args, []string{
		"-t", "demo-api", "-f", "/src/api/Dockerfile",
		"--build-arg", "A=v", "--build-arg", "B=v",
		"--target", "final", "--no-cache", "/src",
	}))
}

func TestComposeFlagsBeforeSubcommand(t *testing.T) {
	var out, errOut bytes.Buffer
	c := cli.New(&cli.Options{}, nil, &out, &errOut)
	root := &cobra.Command{Use: "berth"}
	root.PersistentFlags().String("host", "", "")
	root.AddCommand(NewComposeCommand(c))
	// "config --services" runs without a daemon, so the test needs only a
	// compose file.
	dir := t.TempDir()
	file := dir + "/a.yaml"
	assert.NilError(t, writeTestFile(file, "services:\n  web:\n    image: busybox\n  db:\n    image: busybox\n"))
	root.SetArgs([]string{"compose", "-f", file, "-p", "demo", "config", "--services"})
	assert.NilError(t, root.Execute(), errOut.String())
	assert.Check(t, is.Equal(out.String(), "db\nweb\n"))

	// A subcommand's own -f (logs --follow) does not clash with the
	// project's -f.
	out.Reset()
	root.SetArgs([]string{"compose", "-f", file, "logs", "-f", "--help"})
	assert.NilError(t, root.Execute(), errOut.String())
	assert.Check(t, is.Contains(out.String(), "-f, --follow"))
}

func writeTestFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}
