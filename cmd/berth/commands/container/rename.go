package container

import (
	"errors"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

// NewRenameCommand returns "rename": give a container a new name.
func NewRenameCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			oldName := strings.TrimSpace(args[0])
			newName := strings.TrimSpace(args[1])
			if oldName == "" || newName == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			_, err = apiClient.ContainerRename(cmd.Context(), oldName, client.ContainerRenameOptions{NewName: newName})
			return err
		},
	}
}
