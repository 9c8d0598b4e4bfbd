package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	networktypes "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/kube"
)

func newPlayCommand(c *cli.CLI) *cobra.Command {
	var down bool
	cmd := &cobra.Command{
		Use:   "play [OPTIONS] FILE",
		Short: "Run the containers of Kubernetes Deployment and Pod manifests",
		Long: "Run each Deployment's or Pod's containers on a network named after the pod,\n" +
			"where they reach each other by container name. When the file has Services,\n" +
			"all its pods also join a network shared by them, on which a pod that a\n" +
			"Service selects has the Service's name. Ports with a hostPort, or with a LoadBalancer or NodePort\n" +
			"Service that selects the pod, are published. With --down, remove the pods'\n" +
			"containers (also those not created by play but named as play names them),\n" +
			"emptyDir volumes and networks instead.",
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			manifest, err := kube.Decode(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			apiClient, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			if down {
				return playDown(cmd.Context(), c, apiClient, manifest, path)
			}
			return playUp(cmd.Context(), c, apiClient, manifest, path)
		},
	}
	cmd.Flags().BoolVar(&down, "down", false, "Remove what an earlier \"kube play\" of the file created")
	return cmd
}

func playUp(ctx context.Context, c *cli.CLI, apiClient *client.Client, manifest *kube.Manifest, path string) error {
	for _, skipped := range manifest.Skipped {
		fmt.Fprintf(c.Err(), "skipping %s: kube play runs only Deployments and Pods\n", skipped)
	}
	// Plan every pod first, so an invalid manifest creates nothing.
	plans := map[string][]kube.ContainerPlan{}
	for _, pod := range manifest.Pods {
		podPlans, err := kube.PlanPod(manifest, pod, pod.Name, path)
		if err != nil {
			return err
		}
		plans[pod.Name] = podPlans
	}
	// Every pod joins the Services network, so that pods without a Service
	// reach those with one.
	servicesNetwork := ""
	for _, pod := range manifest.Pods {
		if len(manifest.ServiceNames(pod)) > 0 {
			servicesNetwork = kube.ServicesNetwork(path)
		}
	}
	if servicesNetwork != "" {
		if err := ensureNetwork(ctx, apiClient, servicesNetwork, kube.ManifestLabel, path); err != nil {
			return err
		}
	}
	for _, pod := range manifest.Pods {
		if pod.Replicas > 1 {
			fmt.Fprintf(c.Err(), "Deployment %s: running 1 of %d replicas, because replicas would share the host ports\n", pod.Name, pod.Replicas)
		}
		if err := ensureNetwork(ctx, apiClient, pod.Name, kube.PodLabel, pod.Name); err != nil {
			return err
		}
		serviceNames := manifest.ServiceNames(pod)
		for _, plan := range plans[pod.Name] {
			if err := ensureImage(ctx, c, apiClient, plan.Config.Image); err != nil {
				return err
			}
			created, err := apiClient.ContainerCreate(ctx, client.ContainerCreateOptions{
				Name:             plan.Name,
				Config:           plan.Config,
				HostConfig:       plan.HostConfig,
				NetworkingConfig: plan.Networking,
			})
			if err != nil {
				return fmt.Errorf("pod %s: creating container %s: %w", pod.Name, plan.Name, err)
			}
			for _, warning := range created.Warnings {
				fmt.Fprintf(c.Err(), "WARNING: %s\n", warning)
			}
			if servicesNetwork != "" {
				_, err := apiClient.NetworkConnect(ctx, servicesNetwork, client.NetworkConnectOptions{
					Container:      created.ID,
					EndpointConfig: &networktypes.EndpointSettings{Aliases: serviceNames},
				})
				if err != nil {
					return fmt.Errorf("pod %s: connecting container %s to %s: %w", pod.Name, plan.Name, servicesNetwork, err)
				}
			}
			if _, err := apiClient.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
				return fmt.Errorf("pod %s: starting container %s: %w", pod.Name, plan.Name, err)
			}
			fmt.Fprintln(c.Out(), plan.Name)
		}
	}
	return nil
}

// ensureNetwork creates a network with the label key=value unless an
// earlier play created it. A network of the same name without that label
// is an error, because the pod's containers would share it with others.
func ensureNetwork(ctx context.Context, apiClient *client.Client, name, key, value string) error {
	existing, err := apiClient.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		if existing.Network.Labels[key] != value {
			return fmt.Errorf("network %s exists and was not created by kube play: remove or rename it", name)
		}
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return err
	}
	_, err = apiClient.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{key: value},
	})
	return err
}

// removeNetwork removes the network name if it has the label key=value.
func removeNetwork(ctx context.Context, apiClient *client.Client, name, key, value string) error {
	network, err := apiClient.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if network.Network.Labels[key] != value {
		return nil
	}
	if _, err := apiClient.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// ensureImage pulls image when berth does not have it.
func ensureImage(ctx context.Context, c *cli.CLI, apiClient *client.Client, image string) error {
	if _, err := apiClient.ImageInspect(ctx, image); err == nil {
		return nil
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("invalid image reference %q: %w", image, err)
	}
	named = reference.TagNameOnly(named)
	fmt.Fprintf(c.Err(), "pulling %s\n", reference.FamiliarString(named))
	response, err := apiClient.ImagePull(ctx, named.String(), client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", image, err)
	}
	defer response.Close()
	if err := response.Wait(ctx); err != nil {
		return fmt.Errorf("pulling %s: %w", image, err)
	}
	return nil
}

// playDown removes the containers, emptyDir volumes and networks that
// playUp created for the manifest's pods, and the containers that have the
// names playUp would give, such as those a manifest was generated from.
// Missing ones are skipped, so --down also cleans up after a play that
// failed halfway.
func playDown(ctx context.Context, c *cli.CLI, apiClient *client.Client, manifest *kube.Manifest, path string) error {
	for _, pod := range manifest.Pods {
		names, err := podContainers(ctx, apiClient, pod)
		if err != nil {
			return err
		}
		for _, name := range names {
			if _, err := apiClient.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
			fmt.Fprintln(c.Out(), name)
		}
		for _, v := range pod.Spec.Volumes {
			if v.EmptyDir == nil {
				continue
			}
			name := kube.VolumeName(pod, v.Name)
			if _, err := apiClient.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
		if err := removeNetwork(ctx, apiClient, pod.Name, kube.PodLabel, pod.Name); err != nil {
			return err
		}
	}
	return removeNetwork(ctx, apiClient, kube.ServicesNetwork(path), kube.ManifestLabel, path)
}

// podContainers returns the names of the containers that play created
// for pod and of those that have the names play gives its containers.
func podContainers(ctx context.Context, apiClient *client.Client, pod kube.Pod) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	filters := make(client.Filters).Add("label", kube.PodLabel+"="+pod.Name)
	list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, err
	}
	for _, summary := range list.Items {
		if len(summary.Names) > 0 {
			add(strings.TrimPrefix(summary.Names[0], "/"))
		}
	}
	for _, c := range pod.Spec.Containers {
		name := kube.ContainerName(pod, c)
		if _, err := apiClient.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil {
			add(name)
		} else if !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	return names, nil
}
