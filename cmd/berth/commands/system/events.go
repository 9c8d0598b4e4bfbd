package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// eventTimeLayout is the time format of Docker's event lines: RFC 3339
// with nanoseconds always printed in full.
const eventTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

type eventsOptions struct {
	since   string
	until   string
	filters []string
	format  string
}

// NewEventsCommand returns "events" (also "system events"): print the
// daemon's events as they happen, or those of a past period.
func NewEventsCommand(c *cli.CLI) *cobra.Command {
	var opts eventsOptions
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), c, &opts)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.since, "since", "", "Show all events created since timestamp")
	flags.StringVar(&opts.until, "until", "", "Stream events until this timestamp")
	flags.StringArrayVarP(&opts.filters, "filter", "f", nil, "Filter output based on conditions provided (name=value)")
	flags.StringVar(&opts.format, "format", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

func runEvents(ctx context.Context, c *cli.CLI, opts *eventsOptions) error {
	filters := make(client.Filters)
	for _, value := range opts.filters {
		name, filterValue, ok := strings.Cut(value, "=")
		if !ok || name == "" {
			return fmt.Errorf("invalid filter %q: expected name=value", value)
		}
		filters.Add(strings.ToLower(strings.TrimSpace(name)), filterValue)
	}

	var tmpl *template.Template
	switch opts.format {
	case "":
	case format.JSONKey:
		tmpl = template.Must(format.Parse("{{json .}}"))
	default:
		text := strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(opts.format)
		parsed, err := format.Parse(text)
		if err != nil {
			return err
		}
		tmpl = parsed
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	result := apiClient.Events(ctx, client.EventsListOptions{Since: opts.since, Until: opts.until, Filters: filters})
	for {
		select {
		case event := <-result.Messages:
			if err := printEvent(c.Out(), tmpl, event); err != nil {
				return err
			}
		case err := <-result.Err:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// printEvent writes one event with tmpl, or, without a template, as
// Docker's line: time, type, action, actor ID and sorted attributes.
func printEvent(out io.Writer, tmpl *template.Template, event events.Message) error {
	if tmpl != nil {
		if err := tmpl.Execute(out, event); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out)
		return err
	}

	var line strings.Builder
	switch {
	case event.TimeNano != 0:
		line.WriteString(time.Unix(0, event.TimeNano).Format(eventTimeLayout) + " ")
	case event.Time != 0:
		line.WriteString(time.Unix(event.Time, 0).Format(eventTimeLayout) + " ")
	}
	fmt.Fprintf(&line, "%s %s %s", event.Type, event.Action, event.Actor.ID)
	if len(event.Actor.Attributes) > 0 {
		attrs := make([]string, 0, len(event.Actor.Attributes))
		for _, key := range slices.Sorted(maps.Keys(event.Actor.Attributes)) {
			attrs = append(attrs, key+"="+event.Actor.Attributes[key])
		}
		fmt.Fprintf(&line, " (%s)", strings.Join(attrs, ", "))
	}
	line.WriteString("\n")
	_, err := io.WriteString(out, line.String())
	return err
}
