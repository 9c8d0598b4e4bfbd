package container

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewWaitCommand returns "wait": block until containers stop and print
// their exit codes.
func NewWaitCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd.Context(), c, args)
		},
	}
}

func runWait(ctx context.Context, c *cli.CLI, names []string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}

	var errs []error
	for _, name := range names {
		wait := apiClient.ContainerWait(ctx, name, client.ContainerWaitOptions{})
		select {
		case result := <-wait.Result:
			if result.Error != nil {
				errs = append(errs, errors.New(result.Error.Message))
				continue
			}
			fmt.Fprintln(c.Out(), result.StatusCode)
		case err := <-wait.Error:
			errs = append(errs, err)
		}
	}
	return cli.JoinErrors(errs)
}
