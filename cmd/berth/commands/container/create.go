package container

import (
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// exitEngineFailure is the exit code of run and create when the daemon
// fails before the container's process runs, as in Docker.
const exitEngineFailure = 125

// NewCreateCommand returns "create": create a container without starting
// it and print its ID.
func NewCreateCommand(c *cli.CLI) *cobra.Command {
	var opts createOptions

	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd, c, &opts, args[0], args[1:])
		},
	}

	flags := cmd.Flags()
	flags.SetInterspersed(false)
	addCreateFlags(flags, &opts)
	return cmd
}

func runCreate(cmd *cobra.Command, c *cli.CLI, opts *createOptions, image string, command []string) error {
	ctx := cmd.Context()

	cfg, err := parse(cmd.Flags(), opts, image, command)
	if err != nil {
		reportError(c.Err(), "create", err, true)
		return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		reportError(c.Err(), "create", err, false)
		return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
	}

	setConsoleSize(c, cfg)
	id, err := createContainer(ctx, c, apiClient, cfg, opts.name, opts.pull)
	if err != nil {
		reportError(c.Err(), "create", err, false)
		return cli.StatusError{StatusCode: exitEngineFailure, Cause: err}
	}

	fmt.Fprintln(c.Out(), id)
	return nil
}

// Values of --pull.
const (
	pullMissing = "missing"
	pullAlways  = "always"
	pullNever   = "never"
)

// createContainer sends the create request and prints the daemon's
// warnings. With pull "missing" a missing image is pulled, after Docker's
// "Unable to find image" line, and the request sent again; with "always"
// the image is pulled first.
func createContainer(ctx context.Context, c *cli.CLI, apiClient *client.Client, cfg *containerConfig, name, pull string) (string, error) {
	switch pull {
	case pullMissing, pullNever, "":
	case pullAlways:
		if err := pullImage(ctx, c, apiClient, cfg.Config.Image); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("invalid pull option: %q: use always, missing or never", pull)
	}

	create := func() (client.ContainerCreateResult, error) {
		return apiClient.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:           cfg.Config,
			HostConfig:       cfg.HostConfig,
			NetworkingConfig: cfg.NetworkingConfig,
			Name:             name,
		})
	}
	resp, err := create()
	if err != nil && cerrdefs.IsNotFound(err) && strings.Contains(err.Error(), "No such image") {
		fmt.Fprintf(c.Err(), "Unable to find image '%s' locally\n", familiarImage(cfg.Config.Image))
		if pull == pullNever {
			return "", err
		}
		if err := pullImage(ctx, c, apiClient, cfg.Config.Image); err != nil {
			return "", err
		}
		resp, err = create()
	}
	if err != nil {
		return "", err
	}

	for _, warning := range resp.Warnings {
		fmt.Fprintf(c.Err(), "WARNING: %s\n", warning)
	}
	return resp.ID, nil
}

// pullImage pulls image with the stored credentials of its registry,
// showing the progress on standard error, as docker run does.
func pullImage(ctx context.Context, c *cli.CLI, apiClient *client.Client, image string) error {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("invalid reference format: %w", err)
	}
	named = reference.TagNameOnly(named)
	auth, err := c.RegistryAuth(named.String())
	if err != nil {
		return err
	}
	body, err := apiClient.ImagePull(ctx, named.String(), client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer body.Close()
	fd, isTerminal := cli.TerminalFd(c.Err())
	return format.DisplayJSONStreamTo(body, c.Err(), fd, isTerminal, nil)
}

// familiarImage returns image in Docker's short form with a tag, such as
// "busybox:latest", or image itself when it is not a valid reference.
func familiarImage(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// setConsoleSize gives a TTY container the size of the local terminal from
// the start, so that its first output is laid out right.
func setConsoleSize(c *cli.CLI, cfg *containerConfig) {
	if !cfg.Config.Tty {
		return
	}
	fd, isTerminal := cli.TerminalFd(c.Out())
	if !isTerminal {
		return
	}
	width, height, err := term.GetSize(fd)
	if err != nil || width <= 0 || height <= 0 {
		return
	}
	cfg.HostConfig.ConsoleSize = [2]uint{uint(height), uint(width)}
}

// reportError prints a run or create failure like Docker: "berth: " and
// the message ending in a period, with a pointer to --help for usage
// mistakes.
func reportError(w io.Writer, command string, err error, withHelp bool) {
	message := strings.TrimSuffix(err.Error(), ".") + "."
	if withHelp {
		message += "\nSee 'berth " + command + " --help'."
	}
	fmt.Fprintln(w, "berth:", message)
}

// startErrorStatus maps a create or start failure to Docker's exit codes:
// 127 when the command was not found, 126 when it could not be executed,
// 125 for any other daemon failure. The message was already printed.
func startErrorStatus(err error) error {
	message := strings.TrimPrefix(err.Error(), "Error response from daemon: ")

	code := exitEngineFailure
	switch {
	case strings.Contains(message, "executable file not found"),
		strings.Contains(message, "no such file or directory"):
		code = 127
	case strings.Contains(message, syscall.EACCES.Error()),
		strings.Contains(message, syscall.EISDIR.Error()):
		code = 126
	}
	return cli.StatusError{StatusCode: code, Cause: err}
}
