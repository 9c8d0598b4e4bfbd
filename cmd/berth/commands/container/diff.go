package container

import (
	"fmt"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewDiffCommand returns "diff": list the files a container added (A),
// changed (C) or deleted (D) compared with its image.
func NewDiffCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "Inspect changes to files or directories on a container's filesystem",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.ContainerDiff(cmd.Context(), args[0], client.ContainerDiffOptions{})
			if err != nil {
				return err
			}
			for _, change := range result.Changes {
				fmt.Fprintf(c.Out(), "%s %s\n", changeLetter(change.Kind), change.Path)
			}
			return nil
		},
	}
}

// changeLetter returns the letter docker diff prints for kind.
func changeLetter(kind containertypes.ChangeType) string {
	switch kind {
	case containertypes.ChangeAdd:
		return "A"
	case containertypes.ChangeDelete:
		return "D"
	default:
		return "C"
	}
}
