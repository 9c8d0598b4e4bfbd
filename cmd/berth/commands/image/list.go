package image

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

type listOptions struct {
	all     bool
	quiet   bool
	noTrunc bool
	digests bool
	filters []string
	format  string
}

// NewListCommand returns "image ls" (also "image list").
func NewListCommand(c *cli.CLI) *cobra.Command {
	cmd := newListCommand(c, "ls")
	cmd.Aliases = []string{"list"}
	return cmd
}

// NewImagesCommand returns the top-level "images".
func NewImagesCommand(c *cli.CLI) *cobra.Command {
	return newListCommand(c, "images")
}

func newListCommand(c *cli.CLI, use string) *cobra.Command {
	var opts listOptions

	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), c, &opts, args)
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all images (default hides intermediate images)")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVar(&opts.digests, "digests", false, "Show digests")
	flags.StringArrayVarP(&opts.filters, "filter", "f", nil, "Filter output based on conditions provided (name=value)")
	flags.StringVar(&opts.format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

func runList(ctx context.Context, c *cli.CLI, opts *listOptions, args []string) error {
	filters, err := parseFilters(opts.filters)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		filters.Add("reference", args[0])
	}

	imageFormat := opts.format
	if opts.quiet {
		imageFormat = "{{.ID}}"
	}
	writer, err := format.NewWriter(c.Out(), imageFormat, defaultImageTable(opts.digests), imageHeaders())
	if err != nil {
		return err
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	result, err := apiClient.ImageList(ctx, client.ImageListOptions{All: opts.all, Filters: filters})
	if err != nil {
		return err
	}

	now := time.Now()
	for _, summary := range result.Items {
		for _, row := range imageRows(summary, !opts.noTrunc, now) {
			if err := writer.Write(row); err != nil {
				return err
			}
		}
	}
	return writer.Flush()
}

func parseFilters(values []string) (client.Filters, error) {
	filters := make(client.Filters)
	for _, value := range values {
		name, filterValue, ok := strings.Cut(value, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("bad format of filter %q (expected name=value)", value)
		}
		filters.Add(strings.ToLower(strings.TrimSpace(name)), filterValue)
	}
	return filters, nil
}

func defaultImageTable(digests bool) string {
	if digests {
		return "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
}

// imageHeaders returns the column titles of the image table, keyed by the
// row field.
func imageHeaders() map[string]string {
	return map[string]string{
		"ID":           "IMAGE ID",
		"Repository":   "REPOSITORY",
		"Tag":          "TAG",
		"Digest":       "DIGEST",
		"CreatedSince": "CREATED",
		"CreatedAt":    "CREATED AT",
		"Size":         "SIZE",
		"Containers":   "CONTAINERS",
	}
}

// imageRows returns one row per repository and tag of the image, one per
// repository that only a repo digest names, or one "<none>" row for an
// image without either.
func imageRows(summary imagetypes.Summary, trunc bool, now time.Time) []*imageRow {
	var rows []*imageRow
	for _, tagged := range summary.RepoTags {
		named, err := reference.ParseNormalizedNamed(tagged)
		if err != nil {
			continue
		}
		tag := "<none>"
		if withTag, ok := named.(reference.Tagged); ok {
			tag = withTag.Tag()
		}
		repo := reference.FamiliarName(named)
		rows = append(rows, &imageRow{
			summary: summary, trunc: trunc, now: now,
			repo: repo, tag: tag, digest: repoDigest(summary, repo),
		})
	}
	// A repository known only by digest, such as after a pull by digest,
	// gets a row without tag.
	for _, value := range summary.RepoDigests {
		named, err := reference.ParseNormalizedNamed(value)
		if err != nil {
			continue
		}
		canonical, ok := named.(reference.Canonical)
		repo := reference.FamiliarName(named)
		if !ok || slices.ContainsFunc(rows, func(r *imageRow) bool { return r.repo == repo }) {
			continue
		}
		rows = append(rows, &imageRow{
			summary: summary, trunc: trunc, now: now,
			repo: repo, tag: "<none>", digest: canonical.Digest().String(),
		})
	}
	slices.SortStableFunc(rows, func(a, b *imageRow) int {
		return strings.Compare(a.repo+":"+a.tag, b.repo+":"+b.tag)
	})

	if len(rows) == 0 {
		rows = append(rows, &imageRow{
			summary: summary, trunc: trunc, now: now,
			repo: "<none>", tag: "<none>", digest: "<none>",
		})
	}
	return rows
}

// repoDigest returns the digest recorded for repo in RepoDigests, or
// "<none>".
func repoDigest(summary imagetypes.Summary, repo string) string {
	for _, value := range summary.RepoDigests {
		named, err := reference.ParseNormalizedNamed(value)
		if err != nil {
			continue
		}
		if canonical, ok := named.(reference.Canonical); ok && reference.FamiliarName(named) == repo {
			return canonical.Digest().String()
		}
	}
	return "<none>"
}

// imageRow is one repository and tag of an image as seen by --format
// templates.
type imageRow struct {
	summary imagetypes.Summary
	trunc   bool
	now     time.Time

	repo, tag, digest string
}

// MarshalJSON encodes every field for --format json.
func (r *imageRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// ID returns the image ID, shortened unless --no-trunc.
func (r *imageRow) ID() string {
	if r.trunc {
		return format.TruncateID(r.summary.ID)
	}
	return r.summary.ID
}

// Repository returns the repository in Docker's short form.
func (r *imageRow) Repository() string { return r.repo }

// Tag returns the tag.
func (r *imageRow) Tag() string { return r.tag }

// Digest returns the registry digest of the repository, or "<none>".
func (r *imageRow) Digest() string { return r.digest }

// CreatedSince returns how long ago the image was created, or "N/A".
func (r *imageRow) CreatedSince() string {
	if r.summary.Created <= 0 {
		return "N/A"
	}
	return format.Ago(time.Unix(r.summary.Created, 0), r.now)
}

// CreatedAt returns the creation time.
func (r *imageRow) CreatedAt() string {
	return time.Unix(r.summary.Created, 0).String()
}

// Size returns the image size.
func (r *imageRow) Size() string {
	return format.Size(r.summary.Size)
}

// Containers returns how many containers use the image, or "N/A" when the
// daemon did not count them.
func (r *imageRow) Containers() string {
	if r.summary.Containers < 0 {
		return "N/A"
	}
	return fmt.Sprint(r.summary.Containers)
}
