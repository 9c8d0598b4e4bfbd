package kube

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	containertypes "github.com/moby/moby/api/types/container"
)

// Labels that Docker Compose (1.29 and 2.x) writes with the project's
// files: config_files is a comma-separated list of absolute paths.
const (
	composeConfigFilesLabel = "com.docker.compose.project.config_files"
	composeWorkingDirLabel  = "com.docker.compose.project.working_dir"
)

// composeEnvFiles returns, for each service of the compose project that
// created c, the variables of the service's env_file entries, read from
// the files now. The Engine API keeps no record of env files, so they are
// found by loading the project's compose files again. It returns nil
// without error when c is not from a compose project, and prints a
// warning to errOut when the files cannot be loaded, because the
// manifests are still complete with the variables in env.
func composeEnvFiles(ctx context.Context, c containertypes.InspectResponse, errOut io.Writer) map[string]map[string]string {
	if c.Config == nil {
		return nil
	}
	labels := c.Config.Labels
	files := labels[composeConfigFilesLabel]
	if files == "" {
		return nil
	}
	options, err := composecli.NewProjectOptions(strings.Split(files, ","),
		composecli.WithWorkingDirectory(labels[composeWorkingDirLabel]),
		composecli.WithName(labels[composeProjectLabel]),
		composecli.WithOsEnv,
		composecli.WithDotEnv,
		composecli.WithoutEnvironmentResolution,
		composecli.WithResolvedPaths(true),
		composecli.WithConsistency(false),
	)
	if err == nil {
		var values map[string]map[string]string
		values, err = loadEnvFiles(ctx, options)
		if err == nil {
			return values
		}
	}
	fmt.Fprintf(errOut, "WARNING: env files of compose project %s not read, their variables stay in env: %v\n", labels[composeProjectLabel], err)
	return nil
}

func loadEnvFiles(ctx context.Context, options *composecli.ProjectOptions) (map[string]map[string]string, error) {
	project, err := composecli.ProjectFromOptions(ctx, options)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for name, service := range project.Services {
		var paths []string
		for _, file := range service.EnvFiles {
			path := file.Path
			if !filepath.IsAbs(path) {
				path = filepath.Join(project.WorkingDir, path)
			}
			if _, err := os.Stat(path); err != nil && !bool(file.Required) {
				continue
			}
			paths = append(paths, path)
		}
		if len(paths) == 0 {
			continue
		}
		values, err := dotenv.GetEnvFromFile(project.Environment, paths)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
		out[name] = values
	}
	return out, nil
}
