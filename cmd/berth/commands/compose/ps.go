package compose

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
	"github.com/berth-engine/berth/compose"
)

type psOptions struct {
	all      bool
	quiet    bool
	services bool
	format   string
	status   []string
}

func newPsCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts psOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), c, flags, &opts, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display IDs")
	f.BoolVar(&opts.services, "services", false, "Display services")
	f.StringVar(&opts.format, "format", "table", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'")
	f.StringArrayVar(&opts.status, "status", nil, "Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]")
	return cmd
}

// psRow is one line of "compose ps", with the fields of Docker Compose's
// JSON output.
type psRow struct {
	ID           string
	Name         string
	Image        string
	Command      string
	Project      string
	Service      string
	Created      int64
	State        string
	Status       string
	Health       string
	ExitCode     int
	Publishers   []publisher
	Labels       string
	LocalVolumes string
	Mounts       string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
}

type publisher struct {
	URL           string
	TargetPort    uint16
	PublishedPort uint16
	Protocol      string
}

func runPs(ctx context.Context, c *cli.CLI, flags *projectFlags, opts *psOptions, args []string) error {
	s, err := openProjectName(ctx, c, flags)
	if err != nil {
		return err
	}
	if err := s.checkServices(args); err != nil {
		return err
	}
	if opts.services {
		names := args
		if len(names) == 0 {
			names = s.project.ServiceNames()
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintln(c.Out(), name)
		}
		return nil
	}
	containers, err := s.containers(ctx, opts.all || len(opts.status) > 0, opts.all, args...)
	if err != nil {
		return err
	}
	if len(opts.status) > 0 {
		wanted := map[string]bool{}
		for _, st := range opts.status {
			wanted[st] = true
		}
		var kept []projectContainer
		for _, pc := range containers {
			if wanted[string(pc.State)] {
				kept = append(kept, pc)
			}
		}
		containers = kept
	}
	if opts.quiet {
		for _, pc := range containers {
			fmt.Fprintln(c.Out(), pc.ID)
		}
		return nil
	}

	writer, err := format.NewWriter(c.Out(), opts.format,
		"table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}",
		map[string]string{
			"ID": "CONTAINER ID", "Name": "NAME", "Image": "IMAGE", "Command": "COMMAND",
			"Project": "PROJECT", "Service": "SERVICE", "RunningFor": "CREATED", "Created": "CREATED",
			"State": "STATE", "Status": "STATUS", "Health": "HEALTH", "ExitCode": "EXIT CODE",
			"Ports": "PORTS", "Labels": "LABELS", "Networks": "NETWORKS", "Mounts": "MOUNTS",
		})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, pc := range containers {
		if err := writer.Write(newPsRow(pc, now)); err != nil {
			return err
		}
	}
	return writer.Flush()
}

func newPsRow(pc projectContainer, now time.Time) *psRow {
	row := &psRow{
		ID:         pc.ID,
		Name:       pc.Name(),
		Image:      pc.Image,
		Command:    quoteCommand(pc.Command),
		Project:    pc.Labels[compose.ProjectLabel],
		Service:    pc.Service,
		Created:    pc.Created,
		State:      string(pc.State),
		Status:     pc.Status,
		RunningFor: format.Ago(time.Unix(pc.Created, 0), now),
	}
	if code, ok := strings.CutPrefix(pc.Status, "Exited ("); ok {
		code, _, _ = strings.Cut(code, ")")
		row.ExitCode, _ = strconv.Atoi(code)
	}
	if pc.Health != nil {
		row.Health = string(pc.Health.Status)
	}
	var labels []string
	for k, v := range pc.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	row.Labels = strings.Join(labels, ",")
	if pc.NetworkSettings != nil {
		var networks []string
		for name := range pc.NetworkSettings.Networks {
			networks = append(networks, name)
		}
		sort.Strings(networks)
		row.Networks = strings.Join(networks, ",")
	}
	var ports []string
	for _, p := range pc.Ports {
		pub := publisher{TargetPort: p.PrivatePort, PublishedPort: p.PublicPort, Protocol: string(p.Type)}
		if p.IP.IsValid() {
			pub.URL = p.IP.String()
		}
		row.Publishers = append(row.Publishers, pub)
		if p.PublicPort != 0 {
			ports = append(ports, fmt.Sprintf("%s:%d->%d/%s", pub.URL, p.PublicPort, p.PrivatePort, p.Type))
		} else {
			ports = append(ports, fmt.Sprintf("%d/%s", p.PrivatePort, p.Type))
		}
	}
	row.Ports = strings.Join(ports, ", ")
	return row
}

// quoteCommand shows the command the way Docker Compose's ps does, in
// double quotes and cut to 20 characters.
func quoteCommand(command string) string {
	if len(command) > 20 {
		command = command[:19] + "…"
	}
	return `"` + command + `"`
}
