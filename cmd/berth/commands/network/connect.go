package network

import (
	"fmt"
	"net"
	"net/netip"

	networktypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

func newConnectCommand(c *cli.CLI) *cobra.Command {
	var (
		aliases []string
		ip      string
		links   []string
		mac     string
	)
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings := &networktypes.EndpointSettings{Aliases: aliases, Links: links}
			if ip != "" {
				addr, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("invalid IPv4 address %s: %w", ip, err)
				}
				settings.IPAMConfig = &networktypes.EndpointIPAMConfig{IPv4Address: addr}
			}
			if mac != "" {
				hw, err := net.ParseMAC(mac)
				if err != nil {
					return fmt.Errorf("invalid MAC address %s: %w", mac, err)
				}
				settings.MacAddress = networktypes.HardwareAddr(hw)
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = apiClient.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{
				Container: args[1], EndpointConfig: settings,
			})
			return err
		},
	}
	flags := cmd.Flags()
	flags.StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	flags.StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	flags.StringArrayVar(&links, "link", nil, "Add link to another container")
	flags.StringVar(&mac, "mac-address", "", "MAC address of the container on this network")
	return cmd
}

func newDisconnectCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = apiClient.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{
				Container: args[1], Force: force,
			})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}
