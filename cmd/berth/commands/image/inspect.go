package image

import (
	"bytes"
	"context"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewInspectCommand returns "image inspect".
func NewInspectCommand(c *cli.CLI) *cobra.Command {
	var formatFlag string

	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, formatFlag, args)
		},
	}
	cmd.Flags().StringVarP(&formatFlag, "format", "f", "", "Format output using a custom template or 'json'")
	return cmd
}

func runInspect(ctx context.Context, c *cli.CLI, formatFlag string, images []string) error {
	return c.Inspect(ctx, formatFlag, images, Inspect)
}

// Inspect returns an image's inspect response, decoded and as the daemon's
// JSON.
func Inspect(ctx context.Context, apiClient *client.Client, image string) (any, []byte, error) {
	var raw bytes.Buffer
	result, err := apiClient.ImageInspect(ctx, image, client.ImageInspectWithRawResponse(&raw))
	if err != nil {
		return nil, nil, err
	}
	return result.InspectResponse, raw.Bytes(), nil
}
