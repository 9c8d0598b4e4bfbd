package system

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/container"
	"github.com/berth-engine/berth/cmd/berth/commands/image"
	"github.com/berth-engine/berth/cmd/berth/commands/network"
	"github.com/berth-engine/berth/cmd/berth/commands/volume"
)

// Object types accepted by inspect --type.
const (
	typeContainer = "container"
	typeImage     = "image"
	typeNetwork   = "network"
	typeVolume    = "volume"
)

type inspectOptions struct {
	format     string
	objectType string
	size       bool
}

// NewInspectCommand returns the top-level "inspect", which looks names up
// as containers first, then as images, volumes and networks, unless --type
// selects one.
func NewInspectCommand(c *cli.CLI) *cobra.Command {
	var opts inspectOptions

	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), c, &opts, args)
		},
	}

	flags := cmd.Flags()
	flags.StringVarP(&opts.format, "format", "f", "", "Format output using a custom template or 'json'")
	flags.StringVar(&opts.objectType, "type", "", "Only inspect objects of the given type (container, image, network, volume)")
	flags.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

func runInspect(ctx context.Context, c *cli.CLI, opts *inspectOptions, names []string) error {
	switch opts.objectType {
	case "", typeContainer, typeImage, typeNetwork, typeVolume:
	default:
		return fmt.Errorf("%q is not a valid value for --type", opts.objectType)
	}

	return c.Inspect(ctx, opts.format, names, func(ctx context.Context, apiClient *client.Client, name string) (any, []byte, error) {
		return inspectObject(ctx, apiClient, opts, name)
	})
}

// inspectObject tries each allowed type in turn. A name that matches no
// object gets Docker's "No such object" error.
func inspectObject(ctx context.Context, apiClient *client.Client, opts *inspectOptions, name string) (any, []byte, error) {
	if opts.objectType == "" || opts.objectType == typeContainer {
		typed, raw, err := container.Inspect(ctx, apiClient, name, opts.size)
		if err == nil || opts.objectType == typeContainer || !cerrdefs.IsNotFound(err) {
			return typed, raw, err
		}
	}
	if opts.objectType == "" || opts.objectType == typeImage {
		typed, raw, err := image.Inspect(ctx, apiClient, name)
		if err == nil || opts.objectType == typeImage || !cerrdefs.IsNotFound(err) {
			return typed, raw, err
		}
	}
	if opts.objectType == "" || opts.objectType == typeVolume {
		typed, raw, err := volume.Inspect(ctx, apiClient, name)
		if err == nil || opts.objectType == typeVolume || !cerrdefs.IsNotFound(err) {
			return typed, raw, err
		}
	}
	typed, raw, err := network.Inspect(ctx, apiClient, name)
	if err == nil || opts.objectType == typeNetwork || !cerrdefs.IsNotFound(err) {
		return typed, raw, err
	}
	//nolint:staticcheck // The capitalised text matches Docker's wording.
	return nil, nil, errors.New("Error: No such object: " + name)
}
