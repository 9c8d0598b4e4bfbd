package container

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
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
		requested := private
		if !strings.Contains(private, "/") {
			private += "/tcp"
		}
		port, err := network.ParsePort(private)
		if err != nil {
			return fmt.Errorf("invalid port %q: %w", private, err)
		}
		bindings := ports[port]
		if len(bindings) == 0 {
			// Docker's wording, with the port as the user typed it.
			return fmt.Errorf("Error: No public port '%s' published for %s", requested, name)
		}
		var lines []string
		for _, b := range bindings {
			lines = append(lines, hostAddress(b))
		}
		printSorted(c, lines)
		return nil
	}

	var lines []string
	for port, bindings := range ports {
		for _, b := range bindings {
			lines = append(lines, fmt.Sprintf("%s -> %s", port, hostAddress(b)))
		}
	}
	printSorted(c, lines)
	return nil
}

// printSorted prints lines in natural order, comparing runs of digits by
// value as Docker's port command does, so "80/tcp" comes before "7000/tcp".
func printSorted(c *cli.CLI, lines []string) {
	slices.SortFunc(lines, compareNatural)
	for _, line := range lines {
		fmt.Fprintln(c.Out(), line)
	}
}

// compareNatural compares a and b character by character, except that runs
// of digits compare by their numeric value.
func compareNatural(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da == "" || db == "" {
			if a[0] != b[0] {
				return cmp.Compare(a[0], b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
		if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
			return c
		}
		a, b = a[len(da):], b[len(db):]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
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
