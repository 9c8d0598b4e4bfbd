package container

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewCommitCommand returns "commit": create an image from a container's
// changes and configuration.
func NewCommitCommand(c *cli.CLI) *cobra.Command {
	var (
		author  string
		message string
		changes []string
		pause   bool
	)
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  cli.RequiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ref string
			if len(args) == 2 {
				ref = args[1]
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.ContainerCommit(cmd.Context(), args[0], client.ContainerCommitOptions{
				Reference: ref,
				Comment:   message,
				Author:    author,
				Changes:   changes,
				NoPause:   !pause,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out(), result.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.StringVarP(&author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	flags.StringVarP(&message, "message", "m", "", "Commit message")
	flags.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	flags.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
