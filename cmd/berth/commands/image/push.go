package image

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type pushOptions struct {
	allTags bool
	quiet   bool
}

// NewPushCommand returns "push": upload an image to a registry.
func NewPushCommand(c *cli.CLI) *cobra.Command {
	var opts pushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), c, &opts, args[0])
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.allTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func runPush(ctx context.Context, c *cli.CLI, opts *pushOptions, ref string) error {
	named, err := transferReference(c, ref, opts.allTags, opts.quiet,
		fmt.Sprintf("tag does not exist: %s: --all-tags takes a name without tag", ref))
	if err != nil {
		return err
	}

	pushOpts := client.ImagePushOptions{All: opts.allTags}
	if pushOpts.RegistryAuth, err = c.RegistryAuth(named.String()); err != nil {
		return err
	}
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	body, err := apiClient.ImagePush(ctx, named.String(), pushOpts)
	if err != nil {
		return err
	}
	defer body.Close()

	if err := displayTransfer(c, body, opts.quiet); err != nil {
		return err
	}
	if opts.quiet {
		fmt.Fprintln(c.Out(), reference.FamiliarString(named))
	}
	return nil
}
