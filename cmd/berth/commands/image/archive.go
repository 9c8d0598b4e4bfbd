package image

import (
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// NewSaveCommand returns "save": write images as an image archive.
func NewSaveCommand(c *cli.CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.CheckTarOutput(output); err != nil {
				return err
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			body, err := apiClient.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer body.Close()

			return c.WriteTar(output, body, "save images")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// NewLoadCommand returns "load": store the images of an image archive.
func NewLoadCommand(c *cli.CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = c.In()
			if input != "" {
				file, err := os.Open(input)
				if err != nil {
					return err
				}
				defer file.Close()
				in = file
			} else if _, isTerminal := cli.TerminalFd(c.In()); isTerminal {
				return fmt.Errorf("requested load from stdin, but stdin is empty: use -i FILE or redirect the input")
			}

			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			body, err := apiClient.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return err
			}
			defer body.Close()
			fd, isTerminal := cli.TerminalFd(c.Out())
			return format.DisplayJSONStreamTo(body, c.Out(), fd, isTerminal, nil)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}
