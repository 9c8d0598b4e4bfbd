package compose

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/container"
)

type execOptions struct {
	noTTY      bool
	detach     bool
	env        []string
	workdir    string
	user       string
	index      int
	privileged bool
}

func newExecCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts execOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := openProjectName(ctx, c, flags)
			if err != nil {
				return err
			}
			if err := s.checkServices(args[:1]); err != nil {
				return err
			}
			containers, err := s.containers(ctx, false, false, args[0])
			if err != nil {
				return err
			}
			var target *projectContainer
			for i := range containers {
				if containers[i].Number == opts.index {
					target = &containers[i]
				}
			}
			if target == nil {
				if opts.index == 1 {
					return fmt.Errorf("service %q is not running", args[0])
				}
				return fmt.Errorf("service %q is not running container #%d", args[0], opts.index)
			}

			execArgs := []string{}
			if opts.detach {
				execArgs = append(execArgs, "-d")
			} else {
				execArgs = append(execArgs, "-i")
				if !opts.noTTY && isTerminal(c.In()) && isTerminal(c.Out()) {
					execArgs = append(execArgs, "-t")
				}
			}
			for _, e := range opts.env {
				execArgs = append(execArgs, "-e", e)
			}
			if opts.workdir != "" {
				execArgs = append(execArgs, "-w", opts.workdir)
			}
			if opts.user != "" {
				execArgs = append(execArgs, "-u", opts.user)
			}
			if opts.privileged {
				execArgs = append(execArgs, "--privileged")
			}
			execArgs = append(execArgs, target.ID)
			execArgs = append(execArgs, args[1:]...)
			return runSubcommand(ctx, container.NewExecCommand(c), execArgs)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&opts.noTTY, "no-tty", "T", false, "Disable pseudo-TTY allocation (by default a TTY is allocated when the standard streams are terminals)")
	f.BoolVarP(&opts.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.StringArrayVarP(&opts.env, "env", "e", nil, "Set environment variables")
	f.StringVarP(&opts.workdir, "workdir", "w", "", "Path to workdir directory for this command")
	f.StringVarP(&opts.user, "user", "u", "", "Run the command as this user")
	f.IntVar(&opts.index, "index", 1, "Index of the container if the service has multiple replicas")
	f.BoolVar(&opts.privileged, "privileged", false, "Give extended privileges to the process")
	return cmd
}
