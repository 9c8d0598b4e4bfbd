package system

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewDFCommand returns "system df": show the disk space used by images,
// containers, volumes and the build cache.
func NewDFCommand(c *cli.CLI) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			du, err := apiClient.DiskUsage(cmd.Context(), client.DiskUsageOptions{
				Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose,
			})
			if err != nil {
				return err
			}
			if verbose {
				return writeDFVerbose(c.Out(), du)
			}
			return writeDFSummary(c.Out(), du)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	return cmd
}

// writeDFSummary writes one row per kind of object, as docker system df does.
func writeDFSummary(out io.Writer, du client.DiskUsageResult) error {
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	rows := []struct {
		name                             string
		total, active, size, reclaimable int64
	}{
		{"Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, du.Images.Reclaimable},
		{"Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable},
		{"Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable},
		{"Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable},
	}
	for _, row := range rows {
		reclaimable := units.HumanSize(float64(row.reclaimable))
		if row.size > 0 {
			reclaimable = fmt.Sprintf("%s (%d%%)", reclaimable, row.reclaimable*100/row.size)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", row.name, row.total, row.active,
			units.HumanSize(float64(row.size)), reclaimable)
	}
	return tw.Flush()
}

// writeDFVerbose writes a table per kind of object, with a row per object.
func writeDFVerbose(out io.Writer, du client.DiskUsageResult) error {
	now := time.Now()
	fmt.Fprintf(out, "Images space usage:\n\n")
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS")
	for _, img := range du.Images.Items {
		id := shortID(img.ID)
		created := units.HumanDuration(now.Sub(time.Unix(img.Created, 0))) + " ago"
		size := units.HumanSize(float64(img.Size))
		shared := units.HumanSize(float64(img.SharedSize))
		unique := units.HumanSize(float64(img.Size - img.SharedSize))
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, tag := range tags {
			i := strings.LastIndex(tag, ":")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", tag[:i], tag[i+1:], id, created,
				size, shared, unique, img.Containers)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nContainers space usage:\n\n")
	tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES")
	for _, ctr := range du.Containers.Items {
		names := make([]string, 0, len(ctr.Names))
		for _, name := range ctr.Names {
			names = append(names, strings.TrimPrefix(name, "/"))
		}
		command := ctr.Command
		if len(command) > 20 {
			command = command[:19] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%d\t%s\t%s\t%s\t%s\n", shortID(ctr.ID), ctr.Image, command,
			len(ctr.Mounts), units.HumanSize(float64(ctr.SizeRw)),
			units.HumanDuration(now.Sub(time.Unix(ctr.Created, 0)))+" ago", ctr.Status, strings.Join(names, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nLocal Volumes space usage:\n\n")
	tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "VOLUME NAME\tLINKS\tSIZE")
	for _, v := range du.Volumes.Items {
		links, size := int64(0), int64(0)
		if v.UsageData != nil {
			links, size = v.UsageData.RefCount, v.UsageData.Size
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", v.Name, links, units.HumanSize(float64(size)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	tw = tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED")
	return tw.Flush()
}

// shortID returns the first 12 hex digits of an image or container ID.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
