package container

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewPortCommand returns "container port".
func NewPortCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cli.RequiresRangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			private := ""
			if len(args) == 2 {
				private = args[1]
			}
			return runPort(cmd.Context(), c, args[0], private)
		},
	}
}

func runPort(ctx context.Context, c *cli.CLI, name, private string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	result, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	var ports network.PortMap
	if result.Container.NetworkSettings != nil {
		ports = result.Container.NetworkSettings.Ports
	}

	if private != "" {
		if !strings.Contains(private, "/") {
			private += "/tcp"
		}
		port, err := network.ParsePort(private)
		if err != nil {
			return fmt.Errorf("invalid port %q: %w", private, err)
		}
		bindings := ports[port]
		if len(bindings) == 0 {
			return fmt.Errorf("no public port '%s' published for %s", port, name)
		}
		for _, b := range bindings {
			fmt.Fprintln(c.Out(), hostAddress(b))
		}
		return nil
	}

	var lines []string
	for port, bindings := range ports {
		for _, b := range bindings {
			lines = append(lines, fmt.Sprintf("%s -> %s", port, hostAddress(b)))
		}
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Fprintln(c.Out(), line)
	}
	return nil
}

// hostAddress formats a binding as Docker's port command does:
// 0.0.0.0:8000, or [::]:8000 for IPv6.
func hostAddress(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}
