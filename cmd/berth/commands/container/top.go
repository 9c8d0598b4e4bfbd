package container

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewTopCommand returns "top": list the processes of a container with ps.
func NewTopCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.ContainerTop(cmd.Context(), args[0], client.ContainerTopOptions{Arguments: args[1:]})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.Out(), 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(result.Titles, "\t"))
			for _, process := range result.Processes {
				fmt.Fprintln(w, strings.Join(process, "\t"))
			}
			return w.Flush()
		},
	}
	// Everything after the container is passed to ps, flags included.
	cmd.Flags().SetInterspersed(false)
	return cmd
}
