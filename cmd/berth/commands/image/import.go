package image

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

type importOptions struct {
	changes []string
	message string
}

// NewImportCommand returns "import": create an image from a root
// filesystem tarball.
func NewImportCommand(c *cli.CLI) *cobra.Command {
	var opts importOptions

	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cli.RequiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ref string
			if len(args) == 2 {
				ref = args[1]
			}
			return runImport(cmd.Context(), c, &opts, args[0], ref)
		},
	}

	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&opts.message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// runImport streams the tarball to POST /images/create?fromSrc=- and
// prints the daemon's output, which ends with the new image ID. A URL is
// passed to the daemon to download.
func runImport(ctx context.Context, c *cli.CLI, opts *importOptions, source, ref string) error {
	importSource := client.ImageImportSource{SourceName: "-"}
	switch {
	case source == "-":
		importSource.Source = c.In()
	case strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://"):
		importSource.SourceName = source
	default:
		file, err := os.Open(source)
		if err != nil {
			return fmt.Errorf("open import source: %w", err)
		}
		defer file.Close()
		importSource.Source = file
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	body, err := apiClient.ImageImport(ctx, importSource, ref, client.ImageImportOptions{
		Message: opts.message,
		Changes: opts.changes,
	})
	if err != nil {
		return err
	}
	defer body.Close()

	fd, isTerminal := cli.TerminalFd(c.Out())
	return format.DisplayJSONStreamTo(body, c.Out(), fd, isTerminal, nil)
}
