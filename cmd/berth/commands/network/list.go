package network

import (
	"fmt"
	"sort"
	"strings"

	networktypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

const defaultNetworkTable = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

func newListCommand(c *cli.CLI) *cobra.Command {
	var (
		quiet   bool
		noTrunc bool
		filters []string
		tmpl    string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			listFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if quiet {
				tmpl = "{{.ID}}"
			}
			writer, err := format.NewWriter(c.Out(), tmpl, defaultNetworkTable, networkHeaders())
			if err != nil {
				return err
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: listFilters})
			if err != nil {
				return err
			}
			items := result.Items
			sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
			for _, n := range items {
				if err := writer.Write(&networkRow{summary: n, trunc: !noTrunc}); err != nil {
					return err
				}
			}
			return writer.Flush()
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	flags.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	flags.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "driver=bridge")`)
	flags.StringVar(&tmpl, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

// networkHeaders returns the column titles of the network table, keyed by
// the row field.
func networkHeaders() map[string]string {
	return map[string]string{
		"ID":        "NETWORK ID",
		"Name":      "NAME",
		"Driver":    "DRIVER",
		"Scope":     "SCOPE",
		"IPv4":      "IPV4",
		"IPv6":      "IPV6",
		"Internal":  "INTERNAL",
		"Labels":    "LABELS",
		"CreatedAt": "CREATED AT",
	}
}

// networkRow is one network as seen by --format templates.
type networkRow struct {
	summary networktypes.Summary
	trunc   bool
}

// MarshalJSON encodes every field for --format json.
func (r *networkRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// ID returns the network ID, shortened unless --no-trunc.
func (r *networkRow) ID() string {
	if r.trunc {
		return format.TruncateID(r.summary.ID)
	}
	return r.summary.ID
}

// Name returns the network name.
func (r *networkRow) Name() string { return r.summary.Name }

// Driver returns the network driver.
func (r *networkRow) Driver() string { return r.summary.Driver }

// Scope returns the network scope.
func (r *networkRow) Scope() string { return r.summary.Scope }

// IPv4 returns whether IPv4 is enabled.
func (r *networkRow) IPv4() string { return fmt.Sprint(r.summary.EnableIPv4) }

// IPv6 returns whether IPv6 is enabled.
func (r *networkRow) IPv6() string { return fmt.Sprint(r.summary.EnableIPv6) }

// Internal returns whether the network is internal.
func (r *networkRow) Internal() string { return fmt.Sprint(r.summary.Internal) }

// CreatedAt returns the creation time.
func (r *networkRow) CreatedAt() string { return r.summary.Created.String() }

// Labels returns the labels as KEY=VALUE pairs separated by commas.
func (r *networkRow) Labels() string {
	var pairs []string
	for k, v := range r.summary.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Label returns the value of one label.
func (r *networkRow) Label(name string) string { return r.summary.Labels[name] }
