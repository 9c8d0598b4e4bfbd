package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
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
			"where they reach each other by container name. Ports with a hostPort, or\n" +
			"with a Service in the file that selects the pod, are published. With\n" +
			"--down, remove the pods' containers (also those not created by play but\n" +
			"named as play names them), emptyDir volumes and networks instead.",
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
				return playDown(cmd.Context(), c, apiClient, manifest)
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
	for _, pod := range manifest.Pods {
		if err := ensureNetwork(ctx, apiClient, pod.Name); err != nil {
			return err
		}
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
			if _, err := apiClient.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
				return fmt.Errorf("pod %s: starting container %s: %w", pod.Name, plan.Name, err)
			}
			fmt.Fprintln(c.Out(), plan.Name)
		}
	}
	return nil
}

// ensureNetwork creates the pod's network unless an earlier play created
// it. A network of the same name that play did not create is an error,
// because the pod's containers would share it with others.
func ensureNetwork(ctx context.Context, apiClient *client.Client, name string) error {
	existing, err := apiClient.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		if existing.Network.Labels[kube.PodLabel] != name {
			return fmt.Errorf("network %s exists and was not created by kube play: remove or rename it", name)
		}
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return err
	}
	_, err = apiClient.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{kube.PodLabel: name},
	})
	return err
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
func playDown(ctx context.Context, c *cli.CLI, apiClient *client.Client, manifest *kube.Manifest) error {
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
		network, err := apiClient.NetworkInspect(ctx, pod.Name, client.NetworkInspectOptions{})
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if network.Network.Labels[kube.PodLabel] != pod.Name {
			continue
		}
		if _, err := apiClient.NetworkRemove(ctx, pod.Name, client.NetworkRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
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
