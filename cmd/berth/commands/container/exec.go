package container

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/internal/detachkeys"
)

type execOptions struct {
	interactive bool
	tty         bool
	detach      bool
	env         []string
	envFiles    []string
	workdir     string
	user        string
	privileged  bool
	detachKeys  string
}

// NewExecCommand returns "exec": run a command in a running container.
func NewExecCommand(c *cli.CLI) *cobra.Command {
	var opts execOptions

	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), c, &opts, args[0], args[1:])
		},
	}

	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&opts.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&opts.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.BoolVarP(&opts.detach, "detach", "d", false, "Detached mode: run command in the background")
	flags.StringArrayVarP(&opts.env, "env", "e", nil, "Set environment variables")
	flags.StringArrayVar(&opts.envFiles, "env-file", nil, "Read in a file of environment variables")
	flags.StringVarP(&opts.workdir, "workdir", "w", "", "Working directory inside the container")
	flags.StringVarP(&opts.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	flags.BoolVar(&opts.privileged, "privileged", false, "Give extended privileges to the command (ignored)")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container (default \""+detachkeys.Default+"\")")
	return cmd
}

func runExec(ctx context.Context, c *cli.CLI, opts *execOptions, name string, command []string) error {
	keys := opts.detachKeys
	if keys == "" {
		keys = detachkeys.Default
	}
	detachKeys, err := detachkeys.Parse(keys)
	if err != nil {
		return err
	}
	env, err := readKVStrings(opts.envFiles, opts.env, true)
	if err != nil {
		return err
	}
	if opts.tty && opts.interactive && !opts.detach {
		if _, isTerminal := cli.TerminalFd(c.In()); !isTerminal {
			return errors.New("the input device is not a TTY")
		}
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	create := client.ExecCreateOptions{
		User:       opts.user,
		Privileged: opts.privileged,
		TTY:        opts.tty,
		DetachKeys: opts.detachKeys,
		Env:        env,
		WorkingDir: opts.workdir,
		Cmd:        command,
	}
	var size client.ConsoleSize
	if opts.tty {
		if fd, isTerminal := cli.TerminalFd(c.Out()); isTerminal {
			if width, height, err := term.GetSize(fd); err == nil && width > 0 && height > 0 {
				size = client.ConsoleSize{Height: uint(height), Width: uint(width)}
			}
		}
		create.ConsoleSize = size
	}
	if !opts.detach {
		create.AttachStdin = opts.interactive
		create.AttachStdout = true
		create.AttachStderr = true
	}
	created, err := apiClient.ExecCreate(ctx, name, create)
	if err != nil {
		return err
	}

	if opts.detach {
		_, err := apiClient.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: opts.tty, ConsoleSize: size})
		return err
	}

	resp, err := apiClient.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: opts.tty, ConsoleSize: size})
	if err != nil {
		return err
	}
	defer resp.Close()

	if opts.tty {
		if fd, isTerminal := cli.TerminalFd(c.Out()); isTerminal {
			monitorExecTTYSize(ctx, apiClient, created.ID, fd)
		}
	}

	streams := localStreams(c, opts.interactive, opts.tty)
	streams.DetachKeys = detachKeys
	if err := streamAttach(ctx, resp.HijackedResponse, streams); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}

	inspect, err := apiClient.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return err
	}
	if inspect.Running {
		return fmt.Errorf("exec %s is still running after its output ended", created.ID)
	}
	if inspect.ExitCode != 0 {
		return cli.StatusError{StatusCode: inspect.ExitCode}
	}
	return nil
}

// monitorExecTTYSize keeps the exec's terminal at the size of the local one
// until ctx ends.
func monitorExecTTYSize(ctx context.Context, apiClient *client.Client, execID string, fd int) {
	followTerminalSize(ctx, fd, func(height, width uint) error {
		_, err := apiClient.ExecResize(ctx, execID, client.ExecResizeOptions{Height: height, Width: width})
		return err
	})
}
