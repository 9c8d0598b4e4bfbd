package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
	"github.com/berth-engine/berth/compose"
)

// projectRow is one line of "compose ls", with the fields of Docker
// Compose's JSON output.
type projectRow struct {
	Name        string
	Status      string
	ConfigFiles string
}

func newLsCommand(c *cli.CLI) *cobra.Command {
	var (
		all        bool
		quiet      bool
		formatFlag string
	)
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := listProjects(cmd.Context(), c, all)
			if err != nil {
				return err
			}
			if quiet {
				for _, row := range rows {
					fmt.Fprintln(c.Out(), row.Name)
				}
				return nil
			}
			if formatFlag == format.JSONKey {
				// Docker Compose prints one JSON array, not a line per
				// project.
				data, err := json.Marshal(rows)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(c.Out(), string(data))
				return err
			}
			writer, err := format.NewWriter(c.Out(), formatFlag,
				"table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}",
				map[string]string{"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"})
			if err != nil {
				return err
			}
			for i := range rows {
				if err := writer.Write(&rows[i]); err != nil {
					return err
				}
			}
			return writer.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	f.StringVar(&formatFlag, "format", "table", "Format the output. Values: [table | json]")
	return cmd
}

// listProjects groups the containers that carry the project label by
// project. Status counts containers per state, as "running(2), exited(1)".
func listProjects(ctx context.Context, c *cli.CLI, all bool) ([]projectRow, error) {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	filters := make(client.Filters).Add("label", compose.ProjectLabel)
	result, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: filters})
	if err != nil {
		return nil, err
	}
	states := map[string]map[string]int{}
	files := map[string]string{}
	for _, summary := range result.Items {
		name := summary.Labels[compose.ProjectLabel]
		if states[name] == nil {
			states[name] = map[string]int{}
		}
		states[name][string(summary.State)]++
		if f := summary.Labels[compose.ConfigFilesLabel]; f != "" {
			files[name] = f
		}
	}
	rows := make([]projectRow, 0, len(states))
	for name, counts := range states {
		keys := make([]string, 0, len(counts))
		for state := range counts {
			keys = append(keys, state)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, state := range keys {
			parts[i] = fmt.Sprintf("%s(%d)", state, counts[state])
		}
		rows = append(rows, projectRow{Name: name, Status: strings.Join(parts, ", "), ConfigFiles: files[name]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows, nil
}
