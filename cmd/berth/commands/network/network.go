// Package network implements "berth network": create, list, inspect,
// connect to and remove networks.
package network

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewNetworkCommand returns the "network" command group.
func NewNetworkCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
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
		newConnectCommand(c),
		newDisconnectCommand(c),
	)
	return cmd
}

// Inspect returns a network's inspect response, decoded and as the
// daemon's JSON.
func Inspect(ctx context.Context, apiClient *client.Client, network string) (any, []byte, error) {
	result, err := apiClient.NetworkInspect(ctx, network, client.NetworkInspectOptions{})
	if err != nil {
		return nil, nil, err
	}
	return result.Network, bytes.Clone(result.Raw), nil
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var formatFlag string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.Inspect(cmd.Context(), formatFlag, args, Inspect)
		},
	}
	cmd.Flags().StringVarP(&formatFlag, "format", "f", "", "Format output using a custom template or 'json'")
	cmd.Flags().BoolP("verbose", "v", false, "Verbose output for diagnostics (no extra output for bridge networks)")
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
