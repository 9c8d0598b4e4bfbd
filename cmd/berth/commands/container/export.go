package container

import (
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
			if err := c.CheckTarOutput(output); err != nil {
				return err
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

			return c.WriteTar(output, body, "export container")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}
