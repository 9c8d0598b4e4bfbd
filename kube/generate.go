// Package kube converts between containers on berth and Kubernetes
// manifests. Generate builds Deployments, Services, ConfigMaps and
// PersistentVolumeClaims from inspected containers; Decode and PlanPod turn
// a Deployment or Pod manifest into the container, host and network
// configuration that "berth kube play" creates. Both directions use the
// Kubernetes API types of k8s.io/api, so the YAML they read and write is
// the API server's.
package kube

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Label keys that generated objects and played containers carry.
const (
	// AppLabel selects a Deployment's pods and a Service's endpoints.
	AppLabel = "app"
	// PodLabel names the pod that "berth kube play" created a container for.
	PodLabel = "io.berth.kube.pod"
	// ManifestLabel is the manifest path that "berth kube play" read.
	ManifestLabel = "io.berth.kube.manifest"
)

// Workload is one Deployment's worth of containers: a single container,
// or the replicas of one compose service.
type Workload struct {
	// Name becomes the Deployment's name and the pod template's container
	// name, after conversion to a DNS-1123 label.
	Name string
	// Containers are the inspected replicas. The first one is the
	// template, and len(Containers) is the replica count.
	Containers []containertypes.InspectResponse
	// ImageConfig is the configuration of the containers' image, if known.
	// Entrypoint, Cmd and Env equal to the image's are left out of the
	// manifest, because the image supplies them in the cluster too.
	ImageConfig *containertypes.Config
	// EnvFile contains the variables of the env files that the containers
	// were created with, if known. Generate writes them to a ConfigMap
	// named NAME-env that the container reads with envFrom, and leaves
	// them out of env while the container's value is the file's.
	EnvFile map[string]string
}

// GenerateOptions change what Generate writes.
type GenerateOptions struct {
	// Service adds a Service for each workload with exposed or published
	// ports, and leaves hostPort out of the pod template, because the
	// Service then exposes the ports.
	Service bool
}

// Generate returns the YAML manifests for workloads: a
// PersistentVolumeClaim per named volume, a ConfigMap per workload with
// env files, a Deployment per workload and,
// with opts.Service, a Service per workload with ports. The
// documents are separated by "---" lines.
func Generate(workloads []Workload, opts GenerateOptions) ([]byte, error) {
	var objects []any
	claims := map[string]bool{}
	for _, w := range workloads {
		if len(w.Containers) == 0 {
			return nil, fmt.Errorf("workload %s has no containers", w.Name)
		}
		deployment, err := deploymentFor(w, opts)
		if err != nil {
			return nil, err
		}
		for _, v := range deployment.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] {
				claims[v.PersistentVolumeClaim.ClaimName] = true
				objects = append(objects, claimFor(v.PersistentVolumeClaim.ClaimName))
			}
		}
		if len(w.EnvFile) > 0 {
			objects = append(objects, configMapFor(deployment.Name+"-env", w.EnvFile))
		}
		objects = append(objects, deployment)
		if opts.Service {
			if service := serviceFor(w); service != nil {
				objects = append(objects, service)
			}
		}
	}
	return marshalDocuments(objects)
}

func marshalDocuments(objects []any) ([]byte, error) {
	var out bytes.Buffer
	for i, object := range objects {
		data, err := yaml.Marshal(object)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(data)
	}
	return out.Bytes(), nil
}

var invalidNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// ObjectName converts a container, service or volume name to a DNS-1123
// label, which Kubernetes requires for object and container names:
// lowercase letters, digits and '-', at most 63 characters, starting and
// ending with a letter or digit.
func ObjectName(name string) string {
	name = strings.TrimPrefix(name, "/")
	name = invalidNameChars.ReplaceAllString(strings.ToLower(name), "-")
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.Trim(name, "-")
	if name == "" {
		return "unnamed"
	}
	return name
}

func deploymentFor(w Workload, opts GenerateOptions) (*appsv1.Deployment, error) {
	name := ObjectName(w.Name)
	template := w.Containers[0]
	if template.Config == nil || template.HostConfig == nil {
		return nil, fmt.Errorf("container %s: inspect data has no Config or HostConfig", template.Name)
	}
	container, volumes, err := containerFor(name, template, w.ImageConfig, w.EnvFile, opts)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{AppLabel: name}
	replicas := int32(len(w.Containers))
	podSpec := corev1.PodSpec{
		Containers:    []corev1.Container{container},
		Volumes:       volumes,
		RestartPolicy: corev1.RestartPolicyAlways,
	}
	if hostname := template.Config.Hostname; hostname != "" && !strings.HasPrefix(template.ID, hostname) {
		podSpec.Hostname = hostname
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec,
			},
		},
	}, nil
}

func containerFor(name string, c containertypes.InspectResponse, image *containertypes.Config, envFile map[string]string, opts GenerateOptions) (corev1.Container, []corev1.Volume, error) {
	config := c.Config
	out := corev1.Container{
		Name:       name,
		Image:      config.Image,
		WorkingDir: config.WorkingDir,
		Stdin:      config.OpenStdin,
		TTY:        config.Tty,
	}
	if image == nil || !slices.Equal(config.Entrypoint, image.Entrypoint) {
		out.Command = slices.Clone(config.Entrypoint)
	}
	if image == nil || out.Command != nil || !slices.Equal(config.Cmd, image.Cmd) {
		out.Args = slices.Clone(config.Cmd)
	}
	if image != nil && out.WorkingDir == image.WorkingDir {
		out.WorkingDir = ""
	}
	out.Env = envFor(config.Env, image, envFile)
	if len(envFile) > 0 {
		out.EnvFrom = []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-env"}},
		}}
	}
	out.Ports = portsFor(c, opts)

	resources, err := resourcesFor(c.HostConfig)
	if err != nil {
		return out, nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	out.Resources = resources

	if probe := probeFor(config.Healthcheck); probe != nil {
		out.LivenessProbe = probe
		readiness := *probe
		out.ReadinessProbe = &readiness
	}

	volumes, mounts := volumesFor(c.Mounts)
	out.VolumeMounts = mounts
	return out, volumes, nil
}

// envFor returns the container's environment without the variables that
// the image or the env files set to the same value.
func envFor(env []string, image *containertypes.Config, envFile map[string]string) []corev1.EnvVar {
	fromImage := map[string]bool{}
	if image != nil {
		for _, kv := range image.Env {
			fromImage[kv] = true
		}
	}
	var out []corev1.EnvVar
	for _, kv := range env {
		if fromImage[kv] {
			continue
		}
		key, value, _ := strings.Cut(kv, "=")
		if fileValue, ok := envFile[key]; ok && fileValue == value {
			continue
		}
		out = append(out, corev1.EnvVar{Name: key, Value: value})
	}
	return out
}

func configMapFor(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       data,
	}
}

// portsFor lists the exposed and published container ports, sorted. A
// published port gets its host port unless opts.Service moves publishing
// to a Service.
func portsFor(c containertypes.InspectResponse, opts GenerateOptions) []corev1.ContainerPort {
	seen := map[string]*corev1.ContainerPort{}
	var keys []string
	add := func(key string, number uint16, proto string) *corev1.ContainerPort {
		if p, ok := seen[key]; ok {
			return p
		}
		p := &corev1.ContainerPort{ContainerPort: int32(number), Protocol: corev1.Protocol(strings.ToUpper(proto))}
		seen[key] = p
		keys = append(keys, key)
		return p
	}
	for port := range c.Config.ExposedPorts {
		add(port.String(), port.Num(), string(port.Proto()))
	}
	for port, bindings := range c.HostConfig.PortBindings {
		p := add(port.String(), port.Num(), string(port.Proto()))
		if opts.Service || len(bindings) == 0 {
			continue
		}
		if hostPort, err := strconv.ParseUint(bindings[0].HostPort, 10, 16); err == nil && hostPort != 0 {
			p.HostPort = int32(hostPort)
			if bindings[0].HostIP.IsValid() && !bindings[0].HostIP.IsUnspecified() {
				p.HostIP = bindings[0].HostIP.String()
			}
		}
	}
	sort.Strings(keys)
	var out []corev1.ContainerPort
	for _, key := range keys {
		out = append(out, *seen[key])
	}
	return out
}

// resourcesFor turns the memory limit and the CPU limit (--cpus, or
// --cpu-quota over --cpu-period) into resource limits.
func resourcesFor(host *containertypes.HostConfig) (corev1.ResourceRequirements, error) {
	limits := corev1.ResourceList{}
	if host.Memory > 0 {
		limits[corev1.ResourceMemory] = *resource.NewQuantity(host.Memory, resource.BinarySI)
	}
	milliCPUs := host.NanoCPUs / 1e6
	if milliCPUs == 0 && host.CPUQuota > 0 {
		period := host.CPUPeriod
		if period == 0 {
			period = 100000 // the kernel's default CFS period, in microseconds
		}
		milliCPUs = host.CPUQuota * 1000 / period
	}
	if milliCPUs > 0 {
		limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(milliCPUs, resource.DecimalSI)
	}
	if len(limits) == 0 {
		return corev1.ResourceRequirements{}, nil
	}
	return corev1.ResourceRequirements{Limits: limits}, nil
}

// probeFor converts a health check to an exec probe. A CMD-SHELL test runs
// through /bin/sh -c as Docker runs it. NONE, or no test, gives no probe.
func probeFor(health *containertypes.HealthConfig) *corev1.Probe {
	if health == nil || len(health.Test) == 0 {
		return nil
	}
	var command []string
	switch health.Test[0] {
	case "CMD":
		command = slices.Clone(health.Test[1:])
	case "CMD-SHELL":
		command = append([]string{"/bin/sh", "-c"}, strings.Join(health.Test[1:], " "))
	default:
		return nil
	}
	if len(command) == 0 {
		return nil
	}
	probe := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: command}},
	}
	probe.PeriodSeconds = seconds(health.Interval)
	probe.TimeoutSeconds = seconds(health.Timeout)
	probe.InitialDelaySeconds = seconds(health.StartPeriod)
	if health.Retries > 0 {
		probe.FailureThreshold = int32(health.Retries)
	}
	return probe
}

// seconds rounds d up to whole seconds, the unit of probe fields. Zero
// stays zero so the cluster's default applies.
func seconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32((d + time.Second - 1) / time.Second)
}

// volumesFor maps named volumes to PersistentVolumeClaims of the same name
// and bind mounts to hostPath volumes. tmpfs mounts become memory-backed
// emptyDir volumes.
func volumesFor(mounts []containertypes.MountPoint) ([]corev1.Volume, []corev1.VolumeMount) {
	var volumes []corev1.Volume
	var volumeMounts []corev1.VolumeMount
	sorted := slices.Clone(mounts)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Destination < sorted[j].Destination })
	for i, m := range sorted {
		var source corev1.VolumeSource
		var name string
		switch m.Type {
		case mount.TypeVolume:
			name = ObjectName(m.Name)
			source.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}
		case mount.TypeBind:
			name = fmt.Sprintf("host-%d", i)
			directory := corev1.HostPathDirectoryOrCreate
			source.HostPath = &corev1.HostPathVolumeSource{Path: m.Source, Type: &directory}
		case mount.TypeTmpfs:
			name = fmt.Sprintf("tmpfs-%d", i)
			source.EmptyDir = &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		default:
			continue
		}
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: source})
		volumeMounts = append(volumeMounts, corev1.VolumeMount{
			Name:      name,
			MountPath: m.Destination,
			ReadOnly:  !m.RW,
		})
	}
	return volumes, volumeMounts
}

// claimSize is the storage request of generated claims. Docker volumes
// have no size, and a claim must request one.
// NOTE: 1Gi is a placeholder. Edit it to what the data needs.
const claimSize = "1Gi"

func claimFor(name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(claimSize)},
			},
		},
	}
}

// serviceFor returns a Service named after the workload for its exposed
// and published ports, or nil when it has none. Each Service port is the
// container port, so that other workloads reach it by name and port as
// compose services do. With published ports the Service is of type
// LoadBalancer, which exposes those port numbers outside the cluster.
// NOTE: a host port that differs from its container port is not kept,
// because the Service's port number is the one that peers use.
func serviceFor(w Workload) *corev1.Service {
	name := ObjectName(w.Name)
	template := w.Containers[0]
	serviceType := corev1.ServiceTypeClusterIP
	if len(template.HostConfig.PortBindings) > 0 {
		serviceType = corev1.ServiceTypeLoadBalancer
	}
	var ports []corev1.ServicePort
	for _, p := range portsFor(template, GenerateOptions{Service: true}) {
		ports = append(ports, corev1.ServicePort{
			Name:       fmt.Sprintf("%s-%d", strings.ToLower(string(p.Protocol)), p.ContainerPort),
			Protocol:   p.Protocol,
			Port:       p.ContainerPort,
			TargetPort: intstr.FromInt32(p.ContainerPort),
		})
	}
	if len(ports) == 0 {
		return nil
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{AppLabel: name}},
		Spec: corev1.ServiceSpec{
			Type:     serviceType,
			Selector: map[string]string{AppLabel: name},
			Ports:    ports,
		},
	}
}
