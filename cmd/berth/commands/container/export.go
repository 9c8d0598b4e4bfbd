package container

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewExportCommand returns "export": write a container's root filesystem
// as a tar to a file or to standard output.
func NewExportCommand(c *cli.CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && isTerminal(c.Out()) {
				return errors.New("refusing to write a tar to a terminal: use -o FILE or redirect the output")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			body, err := apiClient.ContainerExport(cmd.Context(), args[0], client.ContainerExportOptions{})
			if err != nil {
				return err
			}
			defer body.Close()

			if output == "" {
				_, err = io.Copy(c.Out(), body)
				return err
			}
			return writeFileFrom(output, body)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// isTerminal reports whether out is a terminal.
func isTerminal(out io.Writer) bool {
	_, ok := cli.TerminalFd(out)
	return ok
}

// writeFileFrom copies r into the file path, removing the file again when
// the copy fails.
func writeFileFrom(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	_, err = io.Copy(f, r)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("failed to export container to %s: %w", path, err)
	}
	return nil
}
