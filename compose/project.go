package compose

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions are the project flags shared by every compose command.
type LoadOptions struct {
	// Files are the -f values. Empty selects compose.yaml, compose.yml,
	// docker-compose.yml or docker-compose.yaml in the project directory
	// or its parents.
	Files []string
	// ProjectName is -p. Empty selects the top-level name, then
	// $COMPOSE_PROJECT_NAME, then the project directory's base name.
	ProjectName string
	// ProjectDirectory is --project-directory. Empty selects the
	// directory of the first compose file.
	ProjectDirectory string
	// EnvFiles are the --env-file values. Empty selects .env in the
	// project directory.
	EnvFiles []string
	// Profiles are the --profile values, added to $COMPOSE_PROFILES.
	Profiles []string
}

// Load reads, merges, interpolates and validates the compose files that
// opts select, with extends and include resolved, and enables the services
// of the selected profiles.
func Load(ctx context.Context, opts LoadOptions) (*types.Project, error) {
	projectOptions, err := newProjectOptions(opts)
	if err != nil {
		return nil, err
	}
	project, err := projectOptions.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	return project, nil
}

// LoadModel reads and merges the compose files like Load but returns the
// canonical model before it becomes a Project.
func LoadModel(ctx context.Context, opts LoadOptions) (map[string]any, error) {
	projectOptions, err := newProjectOptions(opts)
	if err != nil {
		return nil, err
	}
	return projectOptions.LoadModel(ctx)
}

func newProjectOptions(opts LoadOptions) (*cli.ProjectOptions, error) {
	return cli.NewProjectOptions(opts.Files,
		cli.WithWorkingDirectory(opts.ProjectDirectory),
		cli.WithOsEnv,
		cli.WithEnvFiles(opts.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithName(opts.ProjectName),
		withProfiles(opts.Profiles),
	)
}

// withProfiles activates the profiles of --profile and of
// $COMPOSE_PROFILES, as Docker Compose does.
func withProfiles(profiles []string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		active := append([]string(nil), profiles...)
		for _, p := range strings.Split(o.Environment["COMPOSE_PROFILES"], ",") {
			if p = strings.TrimSpace(p); p != "" {
				active = append(active, p)
			}
		}
		return cli.WithProfiles(active)(o)
	}
}

// ApplyScale sets the replica count of services from --scale SERVICE=N
// values.
func ApplyScale(project *types.Project, values []string) error {
	for _, value := range values {
		name, count, ok := strings.Cut(value, "=")
		if !ok {
			return fmt.Errorf("invalid --scale value %q: expected SERVICE=NUMBER", value)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid --scale value %q: %q is not a non-negative number", value, count)
		}
		service, ok := project.Services[name]
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		service.SetScale(n)
		if service.Deploy != nil {
			service.Deploy.Replicas = &n
		}
		project.Services[name] = service
	}
	return nil
}

// ServiceOrder returns the project's service names so that each service
// comes after the services it depends on. Services without an order
// between them are sorted by name.
func ServiceOrder(project *types.Project) ([]string, error) {
	var (
		order    []string
		visiting = map[string]bool{}
		done     = map[string]bool{}
	)
	var visit func(name string) error
	visit = func(name string) error {
		if done[name] {
			return nil
		}
		if visiting[name] {
			return fmt.Errorf("dependency cycle detected at service %q", name)
		}
		visiting[name] = true
		service, ok := project.Services[name]
		if ok {
			deps := make([]string, 0, len(service.DependsOn))
			for dep := range service.DependsOn {
				deps = append(deps, dep)
			}
			sort.Strings(deps)
			for _, dep := range deps {
				if _, enabled := project.Services[dep]; !enabled {
					continue
				}
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		visiting[name] = false
		done[name] = true
		order = append(order, name)
		return nil
	}
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return order, nil
}
