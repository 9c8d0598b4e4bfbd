package network

import (
	"fmt"
	"net/netip"

	networktypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type createOptions struct {
	driver     string
	subnets    []string
	gateways   []string
	ipRanges   []string
	internal   bool
	attachable bool
	ipv6       bool
	labels     []string
	options    []string
	ipamDriver string
	scope      string
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var opts createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam, err := ipamConfig(opts)
			if err != nil {
				return err
			}
			createOpts := client.NetworkCreateOptions{
				Driver:     opts.driver,
				Scope:      opts.scope,
				IPAM:       &networktypes.IPAM{Driver: opts.ipamDriver, Config: ipam},
				Internal:   opts.internal,
				Attachable: opts.attachable,
				Options:    parseKeyValues(opts.options),
				Labels:     parseKeyValues(opts.labels),
			}
			if cmd.Flags().Changed("ipv6") {
				createOpts.EnableIPv6 = &opts.ipv6
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			result, err := apiClient.NetworkCreate(cmd.Context(), args[0], createOpts)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out(), result.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.driver, "driver", "d", "bridge", "Driver to manage the Network")
	flags.StringArrayVar(&opts.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	flags.StringArrayVar(&opts.gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	flags.StringArrayVar(&opts.ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	flags.BoolVar(&opts.internal, "internal", false, "Restrict external access to the network")
	flags.BoolVar(&opts.attachable, "attachable", false, "Enable manual container attachment")
	flags.BoolVar(&opts.ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	flags.StringArrayVar(&opts.labels, "label", nil, "Set metadata on a network")
	flags.StringArrayVarP(&opts.options, "opt", "o", nil, "Set driver specific options")
	flags.StringVar(&opts.ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	flags.StringVar(&opts.scope, "scope", "", "Control the network's scope")
	return cmd
}

// ipamConfig pairs each --gateway and --ip-range with the --subnet that
// contains it, as Docker's CLI does.
func ipamConfig(opts createOptions) ([]networktypes.IPAMConfig, error) {
	var configs []networktypes.IPAMConfig
	for _, s := range opts.subnets {
		subnet, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet %s: %w", s, err)
		}
		configs = append(configs, networktypes.IPAMConfig{Subnet: subnet})
	}
	findSubnet := func(flag, value string, addr netip.Addr) (*networktypes.IPAMConfig, error) {
		for i := range configs {
			if configs[i].Subnet.Contains(addr) {
				return &configs[i], nil
			}
		}
		return nil, fmt.Errorf("no matching subnet for %s %s", flag, value)
	}
	for _, g := range opts.gateways {
		addr, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("invalid gateway %s: %w", g, err)
		}
		cfg, err := findSubnet("gateway", g, addr)
		if err != nil {
			return nil, err
		}
		if cfg.Gateway.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways for the same subnet %s", cfg.Subnet)
		}
		cfg.Gateway = addr
	}
	for _, r := range opts.ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid ip-range %s: %w", r, err)
		}
		cfg, err := findSubnet("range", r, p.Addr())
		if err != nil {
			return nil, err
		}
		if cfg.IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, cfg.IPRange, cfg.Subnet)
		}
		cfg.IPRange = p
	}
	return configs, nil
}
