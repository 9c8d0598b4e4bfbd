package image

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
	"github.com/berth-engine/berth/image"
)

type pullOptions struct {
	allTags  bool
	platform string
	quiet    bool
}

// NewPullCommand returns "pull": fetch an image from a registry.
func NewPullCommand(c *cli.CLI) *cobra.Command {
	var opts pullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd.Context(), c, &opts, args[0])
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.allTags, "all-tags", "a", false, "Download all tagged images in the repository")
	flags.StringVar(&opts.platform, "platform", "", "Set platform if server is multi-platform capable (os[/arch[/variant]])")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func runPull(ctx context.Context, c *cli.CLI, opts *pullOptions, ref string) error {
	named, err := transferReference(c, ref, opts.allTags, opts.quiet, "tag can't be used with --all-tags/-a")
	if err != nil {
		return err
	}

	pullOpts := client.ImagePullOptions{All: opts.allTags}
	if opts.platform != "" {
		p, err := image.ParsePlatform(opts.platform)
		if err != nil {
			return err
		}
		pullOpts.Platforms = append(pullOpts.Platforms, p)
	}
	if pullOpts.RegistryAuth, err = c.RegistryAuth(named.String()); err != nil {
		return err
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	body, err := apiClient.ImagePull(ctx, named.String(), pullOpts)
	if err != nil {
		return err
	}
	defer body.Close()

	if err := displayTransfer(c, body, opts.quiet); err != nil {
		return err
	}
	fmt.Fprintln(c.Out(), named.String())
	return nil
}

// transferReference parses the reference of a pull or push. A name without
// tag gets the tag "latest", announced as Docker's CLI does. With allTags
// the reference must be a name without tag, and tagWithAll is the error
// when it has one.
func transferReference(c *cli.CLI, ref string, allTags, quiet bool, tagWithAll string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid reference format: %w", err)
	}
	switch {
	case allTags && !reference.IsNameOnly(named):
		return nil, errors.New(tagWithAll)
	case !allTags && reference.IsNameOnly(named):
		named = reference.TagNameOnly(named)
		if tagged, ok := named.(reference.Tagged); ok && !quiet {
			fmt.Fprintf(c.Out(), "Using default tag: %s\n", tagged.Tag())
		}
	}
	return named, nil
}

// displayTransfer prints the progress stream of a pull or push, or only
// waits for its end when quiet, and returns the error it ends with.
func displayTransfer(c *cli.CLI, body io.Reader, quiet bool) error {
	if quiet {
		return format.DisplayJSONStream(body, io.Discard, nil)
	}
	fd, isTerminal := cli.TerminalFd(c.Out())
	return format.DisplayJSONStreamTo(body, c.Out(), fd, isTerminal, nil)
}
