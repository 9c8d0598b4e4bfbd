package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/docker/go-units"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

type statsOptions struct {
	all      bool
	noStream bool
	noTrunc  bool
	format   string
}

// NewStatsCommand returns "stats": print one sample of the resource usage
// of containers, all running ones when none are named.
func NewStatsCommand(c *cli.CLI) *cobra.Command {
	var opts statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a sample of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), c, &opts, args)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&opts.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate output")
	flags.StringVar(&opts.format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

func runStats(ctx context.Context, c *cli.CLI, opts *statsOptions, names []string) error {
	if !opts.noStream {
		return errors.New("berth stats shows only one sample: use --no-stream")
	}
	writer, err := format.NewWriter(c.Out(), opts.format,
		"table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}", statsHeaders())
	if err != nil {
		return err
	}
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: opts.all})
		if err != nil {
			return err
		}
		for _, summary := range list.Items {
			names = append(names, summary.ID)
		}
	}

	// Each sample takes a second for the CPU usage delta, so all
	// containers are sampled at once.
	rows := make([]*statsRow, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			rows[i], errs[i] = containerStats(ctx, apiClient, name)
		})
	}
	wg.Wait()

	var failed []error
	for i, row := range rows {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		row.trunc = !opts.noTrunc
		row.container = names[i]
		if err := writer.Write(row); err != nil {
			return err
		}
	}
	if err := writer.Flush(); err != nil {
		return err
	}
	return cli.JoinErrors(failed)
}

// containerStats fetches one sample, with the sample a second earlier for
// the CPU usage delta.
func containerStats(ctx context.Context, apiClient *client.Client, name string) (*statsRow, error) {
	result, err := apiClient.ContainerStats(ctx, name, client.ContainerStatsOptions{IncludePreviousSample: true})
	if err != nil {
		return nil, err
	}
	defer result.Body.Close()
	var stats containertypes.StatsResponse
	if err := json.NewDecoder(result.Body).Decode(&stats); err != nil {
		return nil, fmt.Errorf("failed to read stats of %s: %w", name, err)
	}
	return &statsRow{stats: stats}, nil
}

// statsHeaders returns the column titles of the stats table, keyed by the
// row field.
func statsHeaders() map[string]string {
	return map[string]string{
		"Container": "CONTAINER",
		"ID":        "CONTAINER ID",
		"Name":      "NAME",
		"CPUPerc":   "CPU %",
		"MemUsage":  "MEM USAGE / LIMIT",
		"MemPerc":   "MEM %",
		"NetIO":     "NET I/O",
		"BlockIO":   "BLOCK I/O",
		"PIDs":      "PIDS",
	}
}

// statsRow is one container's sample as seen by --format templates.
type statsRow struct {
	stats     containertypes.StatsResponse
	container string
	trunc     bool
}

// MarshalJSON encodes every field for --format json.
func (r *statsRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// Container returns the name or ID the container was requested by.
func (r *statsRow) Container() string { return r.container }

// ID returns the container ID, shortened unless --no-trunc.
func (r *statsRow) ID() string {
	if r.trunc {
		return format.TruncateID(r.stats.ID)
	}
	return r.stats.ID
}

// Name returns the container name.
func (r *statsRow) Name() string { return format.StripNamePrefix(r.stats.Name) }

// CPUPerc returns the CPU usage between the two samples, in percent of one
// CPU.
func (r *statsRow) CPUPerc() string {
	cpu, pre := r.stats.CPUStats, r.stats.PreCPUStats
	cpuDelta := float64(cpu.CPUUsage.TotalUsage) - float64(pre.CPUUsage.TotalUsage)
	systemDelta := float64(cpu.SystemUsage) - float64(pre.SystemUsage)
	online := float64(cpu.OnlineCPUs)
	if online == 0 {
		online = float64(len(cpu.CPUUsage.PercpuUsage))
	}
	percent := 0.0
	if pre.SystemUsage != 0 && cpuDelta > 0 && systemDelta > 0 {
		percent = cpuDelta / systemDelta * online * 100
	}
	return fmt.Sprintf("%.2f%%", percent)
}

// memoryUsage returns the memory use without the inactive page cache, as
// Docker counts it.
func (r *statsRow) memoryUsage() uint64 {
	mem := r.stats.MemoryStats
	for _, key := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := mem.Stats[key]; ok && v < mem.Usage {
			return mem.Usage - v
		}
	}
	return mem.Usage
}

// MemUsage returns the memory use and limit.
func (r *statsRow) MemUsage() string {
	return units.BytesSize(float64(r.memoryUsage())) + " / " + units.BytesSize(float64(r.stats.MemoryStats.Limit))
}

// MemPerc returns the memory use in percent of the limit.
func (r *statsRow) MemPerc() string {
	percent := 0.0
	if limit := r.stats.MemoryStats.Limit; limit != 0 {
		percent = float64(r.memoryUsage()) / float64(limit) * 100
	}
	return fmt.Sprintf("%.2f%%", percent)
}

// NetIO returns the bytes received and sent on all interfaces.
func (r *statsRow) NetIO() string {
	var rx, tx uint64
	for _, network := range r.stats.Networks {
		rx += network.RxBytes
		tx += network.TxBytes
	}
	return format.Size(int64(rx)) + " / " + format.Size(int64(tx))
}

// BlockIO returns the bytes read from and written to block devices.
func (r *statsRow) BlockIO() string {
	var read, written uint64
	for _, entry := range r.stats.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(entry.Op) {
		case "read":
			read += entry.Value
		case "write":
			written += entry.Value
		}
	}
	return format.Size(int64(read)) + " / " + format.Size(int64(written))
}

// PIDs returns the number of processes.
func (r *statsRow) PIDs() string { return fmt.Sprint(r.stats.PidsStats.Current) }
