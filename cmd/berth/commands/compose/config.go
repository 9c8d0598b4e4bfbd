package compose

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/compose"
)

func newConfigCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var (
		formatFlag string
		services   bool
		volumes    bool
		networks   bool
		quiet      bool
		hash       string
	)
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			project, err := compose.Load(cmd.Context(), flags.loadOptions())
			if err != nil {
				return err
			}
			out := c.Out()
			switch {
			case quiet:
				return nil
			case services:
				names := project.ServiceNames()
				sort.Strings(names)
				for _, name := range names {
					fmt.Fprintln(out, name)
				}
				return nil
			case volumes:
				names := project.VolumeNames()
				sort.Strings(names)
				for _, name := range names {
					fmt.Fprintln(out, name)
				}
				return nil
			case networks:
				names := project.NetworkNames()
				sort.Strings(names)
				for _, name := range names {
					fmt.Fprintln(out, name)
				}
				return nil
			case hash != "":
				names := project.ServiceNames()
				if hash != "*" {
					names = []string{hash}
				}
				sort.Strings(names)
				for _, name := range names {
					service, ok := project.Services[name]
					if !ok {
						return fmt.Errorf("no such service: %s", name)
					}
					h, err := compose.ServiceHash(service)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "%s %s\n", name, h)
				}
				return nil
			}
			if len(args) > 0 {
				if project, err = project.WithSelectedServices(args); err != nil {
					return err
				}
			}
			var data []byte
			switch formatFlag {
			case "", "yaml":
				data, err = project.MarshalYAML()
			case "json":
				data, err = project.MarshalJSON()
			default:
				return fmt.Errorf("unsupported format %q (expected \"yaml\" or \"json\")", formatFlag)
			}
			if err != nil {
				return err
			}
			_, err = out.Write(data)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&formatFlag, "format", "yaml", "Format the output. Values: [yaml | json]")
	f.BoolVar(&services, "services", false, "Print the service names, one per line")
	f.BoolVar(&volumes, "volumes", false, "Print the volume names, one per line")
	f.BoolVar(&networks, "networks", false, "Print the network names, one per line")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	f.StringVar(&hash, "hash", "", "Print the service config hash, one per line (SERVICE or \"*\")")
	return cmd
}
