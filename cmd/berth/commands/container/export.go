package container

import (
	"fmt"
	"io"

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
			if output == "" && cli.IsTerminal(c.Out()) {
				return cli.ErrTarToTerminal
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
			if err := cli.WriteFileFrom(output, body); err != nil {
				return fmt.Errorf("failed to export container to %s: %w", output, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}
