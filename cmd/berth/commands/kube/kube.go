// Package kube implements "berth kube": generate Kubernetes manifests from
// containers and compose projects, and play manifests on berth.
package kube

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/kube"
)

// Labels that Docker Compose writes on the containers of a project.
const (
	composeProjectLabel = "com.docker.compose.project"
	composeServiceLabel = "com.docker.compose.service"
	composeNumberLabel  = "com.docker.compose.container-number"
)

// NewKubeCommand returns the "kube" command group.
func NewKubeCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube",
		Short: "Generate Kubernetes manifests and play them on berth",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newGenerateCommand(c), newPlayCommand(c))
	return cmd
}

type generateOptions struct {
	service        bool
	composeProject string
	file           string
}

func newGenerateCommand(c *cli.CLI) *cobra.Command {
	var opts generateOptions
	cmd := &cobra.Command{
		Use:   "generate [OPTIONS] CONTAINER [CONTAINER...] | --compose-project NAME",
		Short: "Write Kubernetes manifests for containers or a compose project",
		Long: "Write a Deployment for each container, or for each service of a compose\n" +
			"project, a PersistentVolumeClaim for each named volume, a ConfigMap for the\n" +
			"env files of a compose service and, with --service, a Service for the ports.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.composeProject == "" && len(args) == 0 {
				return fmt.Errorf("\"kube generate\" requires at least one container or --compose-project")
			}
			if opts.composeProject != "" && len(args) > 0 {
				return fmt.Errorf("\"kube generate\" takes containers or --compose-project, not both")
			}
			return runGenerate(cmd.Context(), c, opts, args)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.service, "service", "s", false, "Write a Service for the published ports instead of host ports")
	flags.StringVar(&opts.composeProject, "compose-project", "", "Generate one Deployment per service of this compose project")
	flags.StringVarP(&opts.file, "filename", "f", "", "Write the manifests to this file instead of standard output")
	return cmd
}

func runGenerate(ctx context.Context, c *cli.CLI, opts generateOptions, names []string) error {
	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	var workloads []kube.Workload
	if opts.composeProject != "" {
		workloads, err = projectWorkloads(ctx, c, apiClient, opts.composeProject)
	} else {
		workloads, err = containerWorkloads(ctx, c, apiClient, names)
	}
	if err != nil {
		return err
	}
	data, err := kube.Generate(workloads, kube.GenerateOptions{Service: opts.service})
	if err != nil {
		return err
	}
	if opts.file != "" {
		return os.WriteFile(opts.file, data, 0o644)
	}
	_, err = c.Out().Write(data)
	return err
}

func containerWorkloads(ctx context.Context, c *cli.CLI, apiClient *client.Client, names []string) ([]kube.Workload, error) {
	var workloads []kube.Workload
	envFiles := map[string]map[string]map[string]string{} // by compose project
	for _, name := range names {
		result, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			return nil, err
		}
		inspected := result.Container
		workload := kube.Workload{
			Name:        inspected.Name,
			Containers:  []containertypes.InspectResponse{inspected},
			ImageConfig: imageConfig(ctx, apiClient, inspected.Image),
		}
		if inspected.Config != nil {
			if project := inspected.Config.Labels[composeProjectLabel]; project != "" {
				if _, ok := envFiles[project]; !ok {
					envFiles[project] = composeEnvFiles(ctx, inspected, c.Err())
				}
				workload.EnvFile = envFiles[project][inspected.Config.Labels[composeServiceLabel]]
			}
		}
		workloads = append(workloads, workload)
	}
	return workloads, nil
}

// projectWorkloads groups the containers of a compose project by service,
// ordered by service name and by container number within a service.
func projectWorkloads(ctx context.Context, c *cli.CLI, apiClient *client.Client, project string) ([]kube.Workload, error) {
	filters := make(client.Filters).Add("label", composeProjectLabel+"="+project)
	list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no containers of compose project %q found", project)
	}
	byService := map[string][]containertypes.InspectResponse{}
	for _, summary := range list.Items {
		service := summary.Labels[composeServiceLabel]
		if service == "" {
			continue
		}
		result, err := apiClient.ContainerInspect(ctx, summary.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, err
		}
		byService[service] = append(byService[service], result.Container)
	}
	services := make([]string, 0, len(byService))
	for service := range byService {
		services = append(services, service)
	}
	sort.Strings(services)
	if len(services) == 0 {
		return nil, fmt.Errorf("the containers of compose project %q have no %s label", project, composeServiceLabel)
	}

	envFiles := composeEnvFiles(ctx, byService[services[0]][0], c.Err())
	var workloads []kube.Workload
	for _, service := range services {
		replicas := byService[service]
		sort.Slice(replicas, func(i, j int) bool {
			return containerNumber(replicas[i]) < containerNumber(replicas[j])
		})
		workloads = append(workloads, kube.Workload{
			Name:        service,
			Containers:  replicas,
			ImageConfig: imageConfig(ctx, apiClient, replicas[0].Image),
			EnvFile:     envFiles[service],
		})
	}
	return workloads, nil
}

func containerNumber(c containertypes.InspectResponse) int {
	if c.Config == nil {
		return 0
	}
	n, _ := strconv.Atoi(c.Config.Labels[composeNumberLabel])
	return n
}

// imageConfig returns the parts of the image configuration that Generate
// compares with the container's, or nil when the image is gone, in which
// case the manifest spells out the container's command and environment.
func imageConfig(ctx context.Context, apiClient *client.Client, imageID string) *containertypes.Config {
	result, err := apiClient.ImageInspect(ctx, imageID)
	if err != nil || result.Config == nil {
		return nil
	}
	return &containertypes.Config{
		Entrypoint: result.Config.Entrypoint,
		Cmd:        result.Config.Cmd,
		Env:        result.Config.Env,
		WorkingDir: result.Config.WorkingDir,
	}
}
