package image

import (
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewTagCommand returns "tag": add a name to an image.
func NewTagCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			apiClient, err := c.Client(ctx)
			if err != nil {
				return err
			}
			_, err = apiClient.ImageTag(ctx, client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}
