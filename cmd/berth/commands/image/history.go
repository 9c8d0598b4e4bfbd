package image

import (
	"context"
	"strconv"
	"strings"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// createdByWidth is the width Docker cuts the CREATED BY column to.
const createdByWidth = 45

type historyOptions struct {
	human   bool
	quiet   bool
	noTrunc bool
	format  string
}

// NewHistoryCommand returns "history" (also "image history"): list the
// layers and steps an image was made of, newest first.
func NewHistoryCommand(c *cli.CLI) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), c, &opts, args[0])
		},
	}
	flags := cmd.Flags()
	// Docker also has -H for --human, but here -H is the global --host flag.
	flags.BoolVar(&opts.human, "human", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&opts.format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

func runHistory(ctx context.Context, c *cli.CLI, opts *historyOptions, name string) error {
	historyFormat := opts.format
	if opts.quiet {
		historyFormat = "{{.ID}}"
	}
	writer, err := format.NewWriter(c.Out(), historyFormat,
		"table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", historyHeaders())
	if err != nil {
		return err
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	result, err := apiClient.ImageHistory(ctx, name)
	if err != nil {
		return err
	}

	now := time.Now()
	for _, item := range result.Items {
		row := &historyRow{item: item, human: opts.human, trunc: !opts.noTrunc, now: now}
		if err := writer.Write(row); err != nil {
			return err
		}
	}
	return writer.Flush()
}

// historyHeaders returns the column titles of the history table, keyed by
// the row field.
func historyHeaders() map[string]string {
	return map[string]string{
		"ID":           "IMAGE",
		"CreatedSince": "CREATED",
		"CreatedAt":    "CREATED AT",
		"CreatedBy":    "CREATED BY",
		"Size":         "SIZE",
		"Comment":      "COMMENT",
	}
}

// historyRow is one history entry as seen by --format templates.
type historyRow struct {
	item  imagetypes.HistoryResponseItem
	human bool
	trunc bool
	now   time.Time
}

// MarshalJSON encodes every field for --format json.
func (r *historyRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// ID returns the image ID of the step, shortened unless --no-trunc, or
// "<missing>" for a step without an image of its own.
func (r *historyRow) ID() string {
	if r.trunc && strings.HasPrefix(r.item.ID, "sha256:") {
		return format.TruncateID(r.item.ID)
	}
	return r.item.ID
}

// CreatedSince returns how long ago the step ran, or its time with --human=false.
func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	return format.Ago(time.Unix(r.item.Created, 0), r.now)
}

// CreatedAt returns the time the step ran in RFC 3339 format.
func (r *historyRow) CreatedAt() string {
	return time.Unix(r.item.Created, 0).Format(time.RFC3339)
}

// CreatedBy returns the instruction of the step, cut to the column width
// unless --no-trunc.
func (r *historyRow) CreatedBy() string {
	createdBy := strings.ReplaceAll(r.item.CreatedBy, "\t", " ")
	if r.trunc {
		return format.Ellipsis(createdBy, createdByWidth)
	}
	return createdBy
}

// Size returns the bytes the step added, in units unless --human=false.
func (r *historyRow) Size() string {
	if !r.human {
		return strconv.FormatInt(r.item.Size, 10)
	}
	return format.Size(r.item.Size)
}

// Comment returns the comment of the step.
func (r *historyRow) Comment() string { return r.item.Comment }
