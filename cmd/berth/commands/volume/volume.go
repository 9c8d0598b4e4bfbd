// Package volume implements "berth volume": create, list, inspect, remove
// and prune volumes.
package volume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// NewVolumeCommand returns the "volume" command group.
func NewVolumeCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage volumes",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newCreateCommand(c),
		newListCommand(c),
		newInspectCommand(c),
		newRemoveCommand(c),
		newPruneCommand(c),
	)
	return cmd
}

// Inspect returns a volume's inspect response, decoded and as the
// daemon's JSON.
func Inspect(ctx context.Context, apiClient *client.Client, name string) (any, []byte, error) {
	result, err := apiClient.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		return nil, nil, err
	}
	return result.Volume, bytes.Clone(result.Raw), nil
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.Inspect(cmd.Context(), formatFlag, args, Inspect)
		},
	}
	cmd.Flags().StringVarP(&formatFlag, "format", "f", "", "Format output using a custom template or 'json'")
	return cmd
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var (
		driver  string
		options []string
		labels  []string
		name    string
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return fmt.Errorf("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				name = args[0]
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{
				Name:       name,
				Driver:     driver,
				DriverOpts: parseKeyValues(options),
				Labels:     parseKeyValues(labels),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out(), result.Volume.Name)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	flags.StringArrayVarP(&options, "opt", "o", nil, "Set driver specific options (type, device, o for the local driver)")
	flags.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	flags.StringVar(&name, "name", "", "Specify volume name")
	flags.MarkHidden("name")
	return cmd
}

const defaultVolumeTable = "table {{.Driver}}\t{{.Name}}"

func newListCommand(c *cli.CLI) *cobra.Command {
	var (
		quiet   bool
		filters []string
		tmpl    string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			listFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if quiet {
				tmpl = "{{.Name}}"
			}
			writer, err := format.NewWriter(c.Out(), tmpl, defaultVolumeTable, volumeHeaders())
			if err != nil {
				return err
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: listFilters})
			if err != nil {
				return err
			}
			items := result.Items
			sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
			for _, v := range items {
				if err := writer.Write(&volumeRow{volume: v}); err != nil {
					return err
				}
			}
			return writer.Flush()
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	flags.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "dangling=true")`)
	flags.StringVar(&tmpl, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

// volumeHeaders returns the column titles of the volume table, keyed by
// the row field.
func volumeHeaders() map[string]string {
	return map[string]string{
		"Name":       "VOLUME NAME",
		"Driver":     "DRIVER",
		"Scope":      "SCOPE",
		"Mountpoint": "MOUNTPOINT",
		"Labels":     "LABELS",
		"CreatedAt":  "CREATED AT",
		"Size":       "SIZE",
		"Links":      "LINKS",
	}
}

// volumeRow is one volume as seen by --format templates.
type volumeRow struct {
	volume volumetypes.Volume
}

// MarshalJSON encodes every field for --format json.
func (r *volumeRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// Name returns the volume name.
func (r *volumeRow) Name() string { return r.volume.Name }

// Driver returns the volume driver.
func (r *volumeRow) Driver() string { return r.volume.Driver }

// Scope returns the volume scope.
func (r *volumeRow) Scope() string { return r.volume.Scope }

// Mountpoint returns the host directory of the volume.
func (r *volumeRow) Mountpoint() string { return r.volume.Mountpoint }

// CreatedAt returns the creation time as the daemon reported it.
func (r *volumeRow) CreatedAt() string { return r.volume.CreatedAt }

// Labels returns the labels as KEY=VALUE pairs separated by commas.
func (r *volumeRow) Labels() string {
	var pairs []string
	for k, v := range r.volume.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Label returns the value of one label.
func (r *volumeRow) Label(name string) string { return r.volume.Labels[name] }

// Size returns the volume's size, "N/A" when the listing has no usage data.
func (r *volumeRow) Size() string {
	if r.volume.UsageData == nil || r.volume.UsageData.Size < 0 {
		return "N/A"
	}
	return units.HumanSize(float64(r.volume.UsageData.Size))
}

// Links returns the number of containers that use the volume, "N/A" when
// the listing has no usage data.
func (r *volumeRow) Links() string {
	if r.volume.UsageData == nil || r.volume.UsageData.RefCount < 0 {
		return "N/A"
	}
	return fmt.Sprint(r.volume.UsageData.RefCount)
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				_, err := apiClient.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force})
				if err != nil {
					if force && errdefs.IsNotFound(err) {
						continue
					}
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.Out(), name)
			}
			return cli.JoinErrors(errs)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

const (
	pruneWarning = `WARNING! This will remove anonymous local volumes not used by at least one container.
Are you sure you want to continue?`
	pruneAllWarning = `WARNING! This will remove all local volumes not used by at least one container.
Are you sure you want to continue?`
)

func newPruneCommand(c *cli.CLI) *cobra.Command {
	var (
		force   bool
		all     bool
		filters []string
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pruneFilters, err := parseFilters(filters)
			if err != nil {
				return err
			}
			warning := pruneWarning
			if all {
				warning = pruneAllWarning
			}
			if !force && !cli.Confirm(c.In(), c.Out(), warning) {
				return errors.New("volume prune has been cancelled")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: pruneFilters})
			if err != nil {
				return err
			}
			if len(result.Report.VolumesDeleted) > 0 {
				fmt.Fprintln(c.Out(), "Deleted Volumes:")
				for _, name := range result.Report.VolumesDeleted {
					fmt.Fprintln(c.Out(), name)
				}
				fmt.Fprintln(c.Out())
			}
			fmt.Fprintln(c.Out(), "Total reclaimed space:", units.HumanSize(float64(result.Report.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

// parseFilters reads --filter name=value flags.
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

// parseKeyValues reads KEY=VALUE flags such as --label and --opt. A value
// without "=" sets KEY to "".
func parseKeyValues(values []string) map[string]string {
	out := map[string]string{}
	for _, value := range values {
		k, v, _ := strings.Cut(value, "=")
		out[k] = v
	}
	return out
}
