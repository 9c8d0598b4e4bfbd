package container

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

type listOptions struct {
	all     bool
	quiet   bool
	size    bool
	noTrunc bool
	latest  bool
	last    int
	filters []string
	format  string
}

// NewListCommand returns "container ls" (also "ps" and "list").
func NewListCommand(c *cli.CLI) *cobra.Command {
	cmd := newListCommand(c, "ls")
	cmd.Aliases = []string{"ps", "list"}
	return cmd
}

// NewPsCommand returns the top-level "ps".
func NewPsCommand(c *cli.CLI) *cobra.Command {
	return newListCommand(c, "ps")
}

func newListCommand(c *cli.CLI, use string) *cobra.Command {
	var opts listOptions

	cmd := &cobra.Command{
		Use:   use + " [OPTIONS]",
		Short: "List containers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), c, &opts)
		},
	}

	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	flags.IntVarP(&opts.last, "last", "n", -1, "Show n last created containers (includes all states)")
	flags.StringArrayVarP(&opts.filters, "filter", "f", nil, "Filter output based on conditions provided (name=value)")
	flags.StringVar(&opts.format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

func runList(ctx context.Context, c *cli.CLI, opts *listOptions) error {
	listOpts, err := buildListOptions(opts)
	if err != nil {
		return err
	}
	writer, err := format.NewWriter(c.Out(), containerFormat(opts), defaultContainerTable(opts.size), containerHeaders())
	if err != nil {
		return err
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	result, err := apiClient.ContainerList(ctx, listOpts)
	if err != nil {
		return err
	}

	now := time.Now()
	for _, summary := range result.Items {
		if err := writer.Write(&containerRow{summary: summary, trunc: !opts.noTrunc, now: now}); err != nil {
			return err
		}
	}
	return writer.Flush()
}

// buildListOptions converts the flags into the list request.
func buildListOptions(opts *listOptions) (client.ContainerListOptions, error) {
	filters, err := ParseFilters(opts.filters)
	if err != nil {
		return client.ContainerListOptions{}, err
	}

	last := opts.last
	if opts.latest && last == -1 {
		last = 1
	}
	listOpts := client.ContainerListOptions{
		All:     opts.all,
		Size:    opts.size || strings.Contains(opts.format, ".Size"),
		Filters: filters,
	}
	if last > 0 {
		// Limited lists include stopped containers, as in Docker.
		listOpts.Limit = last
		listOpts.All = true
	}
	return listOpts, nil
}

// containerFormat returns the --format value to use; -q wins over
// --format.
func containerFormat(opts *listOptions) string {
	if opts.quiet {
		return "{{.ID}}"
	}
	return opts.format
}

// ParseFilters converts --filter name=value arguments into API filters.
func ParseFilters(values []string) (client.Filters, error) {
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
