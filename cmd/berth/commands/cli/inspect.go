package cli

import (
	"context"

	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// InspectFunc fetches one object for an inspect command: the decoded
// response, for templates, and the daemon's JSON, for plain output.
type InspectFunc func(ctx context.Context, apiClient *client.Client, name string) (any, []byte, error)

// Inspect prints the objects names refer to, as a JSON array or through the
// template tmpl. A name that fails is reported at the end and the others
// are still printed, as Docker's inspect commands do.
func (c *CLI) Inspect(ctx context.Context, tmpl string, names []string, get InspectFunc) error {
	inspector, err := format.NewInspector(c.Out(), tmpl)
	if err != nil {
		return err
	}
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	var errs []error
	for _, name := range names {
		typed, raw, err := get(ctx, apiClient, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := inspector.Add(typed, raw); err != nil {
			return err
		}
	}
	if err := inspector.Flush(); err != nil {
		return err
	}
	return JoinErrors(errs)
}
