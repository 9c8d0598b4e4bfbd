package system

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// NewInfoCommand returns "info": show daemon-wide information.
func NewInfoCommand(c *cli.CLI) *cobra.Command {
	var formatFlag string

	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInfo(cmd.Context(), c, formatFlag)
		},
	}
	cmd.Flags().StringVarP(&formatFlag, "format", "f", "", "Format output using a custom template or 'json'")
	return cmd
}

func runInfo(ctx context.Context, c *cli.CLI, formatFlag string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	result, err := apiClient.Info(ctx, client.InfoOptions{})
	if err != nil {
		return err
	}

	if formatFlag != "" {
		if formatFlag == format.JSONKey {
			formatFlag = "{{json .}}"
		}
		tmpl, err := format.Parse(formatFlag)
		if err != nil {
			return err
		}
		if err := tmpl.Execute(c.Out(), result.Info); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		fmt.Fprintln(c.Out())
		return nil
	}

	printInfo(c.Out(), result.Info)
	for _, warning := range result.Info.Warnings {
		fmt.Fprintln(c.Err(), warning)
	}
	return nil
}

// printInfo prints the daemon information in Docker's "Server:" layout.
func printInfo(out io.Writer, info system.Info) {
	line := func(indent int, label string, value any) {
		fmt.Fprintf(out, "%s%s: %v\n", strings.Repeat(" ", indent), label, value)
	}

	fmt.Fprintln(out, "Server:")
	line(1, "Containers", info.Containers)
	line(2, "Running", info.ContainersRunning)
	line(2, "Paused", info.ContainersPaused)
	line(2, "Stopped", info.ContainersStopped)
	line(1, "Images", info.Images)
	line(1, "Server Version", info.ServerVersion)
	line(1, "Storage Driver", info.Driver)
	for _, pair := range info.DriverStatus {
		line(2, pair[0], pair[1])
	}
	line(1, "Logging Driver", info.LoggingDriver)
	line(1, "Cgroup Driver", info.CgroupDriver)
	if info.CgroupVersion != "" {
		line(1, "Cgroup Version", info.CgroupVersion)
	}
	if len(info.Runtimes) > 0 {
		names := make([]string, 0, len(info.Runtimes))
		for name := range info.Runtimes {
			names = append(names, name)
		}
		slices.Sort(names)
		line(1, "Runtimes", strings.Join(names, " "))
	}
	line(1, "Default Runtime", info.DefaultRuntime)
	if info.InitBinary != "" {
		line(1, "Init Binary", info.InitBinary)
	}
	if info.RuncCommit.ID != "" {
		line(1, "runc version", info.RuncCommit.ID)
	}
	if len(info.SecurityOptions) > 0 {
		fmt.Fprintln(out, " Security Options:")
		for _, option := range info.SecurityOptions {
			fmt.Fprintf(out, "  %s\n", option)
		}
	}
	line(1, "Kernel Version", info.KernelVersion)
	line(1, "Operating System", info.OperatingSystem)
	line(1, "OSType", info.OSType)
	line(1, "Architecture", info.Architecture)
	line(1, "CPUs", info.NCPU)
	line(1, "Total Memory", units.BytesSize(float64(info.MemTotal)))
	line(1, "Name", info.Name)
	line(1, "ID", info.ID)
	line(1, "Berth Root Dir", info.DockerRootDir)
	line(1, "Debug Mode", info.Debug)
	if len(info.Labels) > 0 {
		fmt.Fprintln(out, " Labels:")
		for _, label := range info.Labels {
			fmt.Fprintf(out, "  %s\n", label)
		}
	}
	line(1, "Experimental", info.ExperimentalBuild)
	line(1, "Live Restore Enabled", info.LiveRestoreEnabled)
}
