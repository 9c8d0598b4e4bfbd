// Package compose implements "berth compose": it loads a Compose project
// and drives the daemon through the Engine API the way Docker Compose v2
// does, with the same labels and names, so both tools see the same
// projects.
package compose

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/compose"
)

// projectFlags are the flags of "berth compose" that select the project.
type projectFlags struct {
	files     []string
	name      string
	directory string
	envFiles  []string
	profiles  []string
}

func (f *projectFlags) loadOptions() compose.LoadOptions {
	return compose.LoadOptions{
		Files:            f.files,
		ProjectName:      f.name,
		ProjectDirectory: f.directory,
		EnvFiles:         f.envFiles,
		Profiles:         f.profiles,
	}
}

// NewComposeCommand returns the "compose" command group.
//
// The group parses its own flags: the project flags come before the
// subcommand, as in "berth compose -f FILE logs -f", where the second -f
// is "logs --follow". cobra cannot give a persistent -f/--file and a
// subcommand's -f/--follow to one command tree, so the subcommands live in
// a tree of their own that receives the arguments after the project flags.
func NewComposeCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:                "compose [OPTIONS] COMMAND",
		Short:              "Define and run multi-container applications",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompose(cmd, c, args)
		},
	}
	return cmd
}

func runCompose(cmd *cobra.Command, c *cli.CLI, args []string) error {
	flags := &projectFlags{}
	tree := newComposeTree(c, flags)

	set := pflag.NewFlagSet("compose", pflag.ContinueOnError)
	set.SetInterspersed(false)
	set.SetOutput(c.Err())
	flags.addFlags(set)
	// The global client flags (-H, --config) may also follow "compose".
	set.AddFlagSet(cmd.Root().PersistentFlags())
	help := set.BoolP("help", "h", false, "Print usage")
	if err := set.Parse(args); err != nil {
		return cli.FlagError(cmd, err)
	}
	rest := set.Args()
	if *help || len(rest) == 0 {
		rest = append([]string{"--help"}, rest...)
	}

	root := &cobra.Command{Use: cmd.Root().Name(), SilenceUsage: true, SilenceErrors: true}
	root.SetOut(c.Out())
	root.SetErr(c.Err())
	root.AddCommand(tree)
	tree.Flags().AddFlagSet(set)
	configure(tree)
	root.SetArgs(append([]string{"compose"}, rest...))
	return root.ExecuteContext(cmd.Context())
}

// newComposeTree returns the "compose" command with its subcommands.
func newComposeTree(c *cli.CLI, flags *projectFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compose [OPTIONS] COMMAND",
		Short: "Define and run multi-container applications",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		newUpCommand(c, flags),
		newDownCommand(c, flags),
		newPsCommand(c, flags),
		newLogsCommand(c, flags),
		newBuildCommand(c, flags),
		newPullCommand(c, flags),
		newPushCommand(c, flags),
		newExecCommand(c, flags),
		newRunCommand(c, flags),
		newStopCommand(c, flags),
		newStartCommand(c, flags),
		newRestartCommand(c, flags),
		newConfigCommand(c, flags),
		newLsCommand(c),
	)
	return cmd
}

func (f *projectFlags) addFlags(set *pflag.FlagSet) {
	set.StringArrayVarP(&f.files, "file", "f", nil, "Compose configuration files")
	set.StringVarP(&f.name, "project-name", "p", "", "Project name")
	set.StringVar(&f.directory, "project-directory", "", "Alternate working directory (default: the directory of the first compose file)")
	set.StringArrayVar(&f.envFiles, "env-file", nil, "Alternate environment files (default: .env in the project directory)")
	set.StringArrayVar(&f.profiles, "profile", nil, "Profile to enable")
}

// configure makes cmd and its subcommands report errors like the rest of
// berth's commands: no usage dump, and exit code 125 for invalid flags.
func configure(cmd *cobra.Command) {
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cli.FlagError(cmd, err)
	})
	for _, sub := range cmd.Commands() {
		configure(sub)
	}
}

// session is one compose command's project and API client.
type session struct {
	cli     *cli.CLI
	api     *client.Client
	project *types.Project
}

// openProject loads the project and connects to the daemon.
func openProject(ctx context.Context, c *cli.CLI, flags *projectFlags) (*session, error) {
	project, err := compose.Load(ctx, flags.loadOptions())
	if err != nil {
		return nil, err
	}
	apiClient, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	return &session{cli: c, api: apiClient, project: project}, nil
}

// openProjectName connects to the daemon for commands that work from the
// project name alone when no compose file is found, as "down", "ps",
// "logs", "stop", "start" and "restart" do with -p.
func openProjectName(ctx context.Context, c *cli.CLI, flags *projectFlags) (*session, error) {
	project, err := compose.Load(ctx, flags.loadOptions())
	if err != nil {
		if flags.name == "" {
			return nil, err
		}
		project = &types.Project{Name: flags.name, Services: types.Services{}}
	}
	apiClient, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	return &session{cli: c, api: apiClient, project: project}, nil
}

// projectContainer is a container of the project with its compose labels
// read.
type projectContainer struct {
	container.Summary
	Service string
	Number  int
	Oneoff  bool
}

// Name returns the container's name without the leading slash.
func (pc projectContainer) Name() string {
	if len(pc.Names) == 0 {
		return pc.ID[:12]
	}
	name := pc.Names[0]
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	return name
}

// containers lists the project's containers, sorted by service and number.
// all includes stopped containers and oneoff includes those of "run".
func (s *session) containers(ctx context.Context, all, oneoff bool, services ...string) ([]projectContainer, error) {
	filters := make(client.Filters).Add("label", compose.ProjectLabel+"="+s.project.Name)
	result, err := s.api.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: filters})
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, name := range services {
		wanted[name] = true
	}
	var out []projectContainer
	for _, summary := range result.Items {
		pc := projectContainer{Summary: summary, Service: summary.Labels[compose.ServiceLabel]}
		pc.Number, _ = strconv.Atoi(summary.Labels[compose.NumberLabel])
		pc.Oneoff = summary.Labels[compose.OneoffLabel] == "True"
		if pc.Oneoff && !oneoff {
			continue
		}
		if len(wanted) > 0 && !wanted[pc.Service] {
			continue
		}
		out = append(out, pc)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].Name() < out[j].Name()
	})
	return out, nil
}

// checkServices rejects service names that the project does not define.
func (s *session) checkServices(names []string) error {
	for _, name := range names {
		if _, ok := s.project.Services[name]; ok {
			continue
		}
		if _, ok := s.project.DisabledServices[name]; ok {
			continue
		}
		return fmt.Errorf("no such service: %s", name)
	}
	return nil
}

// status prints a progress line such as "Container p-web-1  Started" to
// the error stream, in the form of Docker Compose's plain progress output.
func (s *session) status(kind, name, state string) {
	fmt.Fprintf(s.cli.Err(), " %s %s  %s\n", kind, name, state)
}

func isTerminal(f any) bool {
	_, ok := cli.TerminalFd(f)
	return ok
}
