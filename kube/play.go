package kube

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	networktypes "github.com/moby/moby/api/types/network"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Pod is a pod to run: the pod of a Pod manifest, or the pod template of
// a Deployment named after the Deployment.
type Pod struct {
	Name   string
	Labels map[string]string
	Spec   corev1.PodSpec
	// Replicas is the Deployment's replica count, 1 for a Pod.
	Replicas int32
}

// Manifest contains the objects of a manifest file that "berth kube play"
// uses. Other kinds are listed in Skipped.
type Manifest struct {
	Pods       []Pod
	ConfigMaps map[string]*corev1.ConfigMap
	Services   []*corev1.Service
	// Skipped names the documents of other kinds, as "Kind/name".
	Skipped []string
}

// Decode reads a YAML stream of one or more documents separated by "---"
// lines. Unknown fields are errors, as kubectl's strict validation makes
// them.
func Decode(data []byte) (*Manifest, error) {
	m := &Manifest{ConfigMaps: map[string]*corev1.ConfigMap{}}
	for i, doc := range splitDocuments(data) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if meta.Kind == "" {
			return nil, fmt.Errorf("document %d: missing kind", i+1)
		}
		if err := m.add(meta, doc); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, meta.Kind, err)
		}
	}
	if len(m.Pods) == 0 {
		return nil, errors.New("the manifest has no Deployment or Pod")
	}
	return m, nil
}

func (m *Manifest) add(meta metav1.TypeMeta, doc []byte) error {
	switch meta.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(doc, &d); err != nil {
			return err
		}
		if d.Name == "" {
			return errors.New("missing metadata.name")
		}
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		m.Pods = append(m.Pods, Pod{Name: d.Name, Labels: d.Spec.Template.Labels, Spec: d.Spec.Template.Spec, Replicas: replicas})
	case "Pod":
		var p corev1.Pod
		if err := yaml.UnmarshalStrict(doc, &p); err != nil {
			return err
		}
		if p.Name == "" {
			return errors.New("missing metadata.name")
		}
		m.Pods = append(m.Pods, Pod{Name: p.Name, Labels: p.Labels, Spec: p.Spec, Replicas: 1})
	case "ConfigMap":
		var c corev1.ConfigMap
		if err := yaml.UnmarshalStrict(doc, &c); err != nil {
			return err
		}
		m.ConfigMaps[c.Name] = &c
	case "PersistentVolumeClaim":
		// Volumes are created when a container first mounts them, so a
		// claim needs nothing else.
	case "Service":
		var s corev1.Service
		if err := yaml.UnmarshalStrict(doc, &s); err != nil {
			return err
		}
		m.Services = append(m.Services, &s)
	default:
		var object metav1.PartialObjectMetadata
		yaml.Unmarshal(doc, &object)
		m.Skipped = append(m.Skipped, meta.Kind+"/"+object.Name)
	}
	return nil
}

// splitDocuments splits a YAML stream at "---" lines and drops empty
// documents.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var current bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(current.Bytes())) > 0 {
			docs = append(docs, bytes.Clone(current.Bytes()))
		}
		current.Reset()
	}
	reader := bufio.NewReader(bytes.NewReader(data))
	for {
		line, err := reader.ReadString('\n')
		if strings.TrimRight(line, " \t\r\n") == "---" || strings.HasPrefix(line, "--- ") {
			flush()
		} else {
			current.WriteString(line)
		}
		if err == io.EOF {
			break
		}
	}
	flush()
	return docs
}

// ContainerPlan is the container that "berth kube play" creates for one
// container of a pod.
type ContainerPlan struct {
	Name       string
	Config     *containertypes.Config
	HostConfig *containertypes.HostConfig
	Networking *networktypes.NetworkingConfig
}

// ContainerName returns the berth container name for a pod's container:
// the pod's name when the pod has one container of the same name (as
// Generate writes it), else POD-CONTAINER.
func ContainerName(pod Pod, container corev1.Container) string {
	if len(pod.Spec.Containers) == 1 && container.Name == pod.Name {
		return pod.Name
	}
	return pod.Name + "-" + container.Name
}

// PlanPod returns the containers to create for pod, attached to network,
// where each is reachable by its container name from the manifest. The
// configuration comes from image, command and args, env and envFrom
// (resolved against the manifest's ConfigMaps), ports with hostPort or a
// matching Service, volume mounts, working directory and the restart
// policy.
func PlanPod(m *Manifest, pod Pod, network, manifestPath string) ([]ContainerPlan, error) {
	if len(pod.Spec.InitContainers) > 0 {
		// NOTE: init containers are not run; the pod's containers start
		// without them.
		return nil, fmt.Errorf("pod %s: init containers are not supported", pod.Name)
	}
	servicePorts := m.servicePorts(pod)
	var plans []ContainerPlan
	for _, c := range pod.Spec.Containers {
		if c.Image == "" {
			return nil, fmt.Errorf("pod %s, container %s: missing image", pod.Name, c.Name)
		}
		env, err := m.environment(c)
		if err != nil {
			return nil, fmt.Errorf("pod %s, container %s: %w", pod.Name, c.Name, err)
		}
		config := &containertypes.Config{
			Image:        c.Image,
			Entrypoint:   c.Command,
			Cmd:          c.Args,
			Env:          env,
			WorkingDir:   c.WorkingDir,
			Tty:          c.TTY,
			OpenStdin:    c.Stdin,
			Hostname:     pod.Spec.Hostname,
			ExposedPorts: networktypes.PortSet{},
			Labels:       map[string]string{PodLabel: pod.Name, ManifestLabel: manifestPath},
		}
		host := &containertypes.HostConfig{
			NetworkMode:   containertypes.NetworkMode(network),
			PortBindings:  networktypes.PortMap{},
			RestartPolicy: restartPolicy(pod.Spec.RestartPolicy),
		}
		if err := addPorts(config, host, c, servicePorts); err != nil {
			return nil, fmt.Errorf("pod %s, container %s: %w", pod.Name, c.Name, err)
		}
		mounts, err := mountsFor(pod, c)
		if err != nil {
			return nil, fmt.Errorf("pod %s, container %s: %w", pod.Name, c.Name, err)
		}
		host.Mounts = mounts
		addLimits(host, c.Resources)
		config.Healthcheck = healthcheckFor(c)
		plans = append(plans, ContainerPlan{
			Name:       ContainerName(pod, c),
			Config:     config,
			HostConfig: host,
			Networking: &networktypes.NetworkingConfig{EndpointsConfig: map[string]*networktypes.EndpointSettings{
				network: {Aliases: []string{c.Name}},
			}},
		})
	}
	return plans, nil
}

func restartPolicy(policy corev1.RestartPolicy) containertypes.RestartPolicy {
	switch policy {
	case corev1.RestartPolicyNever:
		return containertypes.RestartPolicy{Name: containertypes.RestartPolicyDisabled}
	case corev1.RestartPolicyOnFailure:
		return containertypes.RestartPolicy{Name: containertypes.RestartPolicyOnFailure}
	default:
		return containertypes.RestartPolicy{Name: containertypes.RestartPolicyAlways}
	}
}

// environment returns the container's environment as KEY=VALUE: envFrom
// ConfigMaps first, then env, which overrides them as in Kubernetes.
func (m *Manifest) environment(c corev1.Container) ([]string, error) {
	var env []string
	for _, source := range c.EnvFrom {
		if source.ConfigMapRef == nil {
			return nil, errors.New("envFrom supports only configMapRef")
		}
		configMap, ok := m.ConfigMaps[source.ConfigMapRef.Name]
		if !ok {
			if source.ConfigMapRef.Optional != nil && *source.ConfigMapRef.Optional {
				continue
			}
			return nil, fmt.Errorf("ConfigMap %s not found in the manifest", source.ConfigMapRef.Name)
		}
		for _, key := range sortedKeys(configMap.Data) {
			env = append(env, source.Prefix+key+"="+configMap.Data[key])
		}
	}
	for _, v := range c.Env {
		value := v.Value
		if v.ValueFrom != nil {
			ref := v.ValueFrom.ConfigMapKeyRef
			if ref == nil {
				return nil, fmt.Errorf("env %s: valueFrom supports only configMapKeyRef", v.Name)
			}
			configMap, ok := m.ConfigMaps[ref.Name]
			if !ok {
				return nil, fmt.Errorf("env %s: ConfigMap %s not found in the manifest", v.Name, ref.Name)
			}
			value, ok = configMap.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("env %s: ConfigMap %s has no key %s", v.Name, ref.Name, ref.Key)
			}
		}
		env = append(env, v.Name+"="+value)
	}
	return env, nil
}

// ServicesNetwork returns the name of the network that "berth kube play"
// creates for the Services of the manifest at path: the file's base name
// without extension, as a DNS-1123 label, and "-services".
func ServicesNetwork(path string) string {
	base := filepath.Base(path)
	return ObjectName(strings.TrimSuffix(base, filepath.Ext(base))) + "-services"
}

// ServiceNames returns the names of the manifest's Services that select
// pod, sorted. "berth kube play" gives the pod's containers these names as
// aliases on a network shared by the manifest's pods, so pods reach each
// other through Service names as in a cluster.
func (m *Manifest) ServiceNames(pod Pod) []string {
	var names []string
	for _, s := range m.Services {
		if selects(s, pod) {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names
}

func selects(s *corev1.Service, pod Pod) bool {
	if len(s.Spec.Selector) == 0 {
		return false
	}
	for key, value := range s.Spec.Selector {
		if pod.Labels[key] != value {
			return false
		}
	}
	return true
}

// servicePorts maps container port numbers to the port of a LoadBalancer
// or NodePort Service in the manifest whose selector matches the pod's
// labels, for publishing pods whose containers have no hostPort. Such a
// Service's port is published on the host under the same number.
// ClusterIP Services are reachable only inside a cluster, so their ports
// stay unpublished.
func (m *Manifest) servicePorts(pod Pod) map[int32]int32 {
	out := map[int32]int32{}
	for _, s := range m.Services {
		external := s.Spec.Type == corev1.ServiceTypeLoadBalancer || s.Spec.Type == corev1.ServiceTypeNodePort
		if !external || !selects(s, pod) {
			continue
		}
		for _, p := range s.Spec.Ports {
			target := p.Port
			if p.TargetPort.IntValue() != 0 {
				target = int32(p.TargetPort.IntValue())
			}
			out[target] = p.Port
		}
	}
	return out
}

func addPorts(config *containertypes.Config, host *containertypes.HostConfig, c corev1.Container, servicePorts map[int32]int32) error {
	for _, p := range c.Ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		port, err := networktypes.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, proto))
		if err != nil {
			return err
		}
		config.ExposedPorts[port] = struct{}{}
		hostPort := p.HostPort
		if hostPort == 0 {
			hostPort = servicePorts[p.ContainerPort]
		}
		if hostPort == 0 {
			continue
		}
		binding := networktypes.PortBinding{HostPort: strconv.Itoa(int(hostPort))}
		if p.HostIP != "" {
			addr, err := netip.ParseAddr(p.HostIP)
			if err != nil {
				return fmt.Errorf("port %d: invalid hostIP %q", p.ContainerPort, p.HostIP)
			}
			binding.HostIP = addr
		}
		host.PortBindings[port] = append(host.PortBindings[port], binding)
	}
	return nil
}

// VolumeName returns the berth volume for an emptyDir volume of a pod,
// which "kube play --down" removes with the pod.
func VolumeName(pod Pod, volume string) string {
	return pod.Name + "-" + volume
}

func mountsFor(pod Pod, c corev1.Container) ([]mount.Mount, error) {
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	var mounts []mount.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s: no volume of that name in the pod", vm.Name)
		}
		if vm.SubPath != "" {
			return nil, fmt.Errorf("volume mount %s: subPath is not supported", vm.Name)
		}
		m := mount.Mount{Target: vm.MountPath, ReadOnly: vm.ReadOnly}
		switch {
		case v.PersistentVolumeClaim != nil:
			m.Type = mount.TypeVolume
			m.Source = v.PersistentVolumeClaim.ClaimName
		case v.HostPath != nil:
			m.Type = mount.TypeBind
			m.Source = v.HostPath.Path
			if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathDirectoryOrCreate {
				m.BindOptions = &mount.BindOptions{CreateMountpoint: true}
			}
		case v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory:
			m.Type = mount.TypeTmpfs
		case v.EmptyDir != nil:
			m.Type = mount.TypeVolume
			m.Source = VolumeName(pod, v.Name)
		default:
			return nil, fmt.Errorf("volume %s: only persistentVolumeClaim, hostPath and emptyDir volumes are supported", v.Name)
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// addLimits sets the memory and CPU limits. Requests have no counterpart
// in a single engine and are ignored.
func addLimits(host *containertypes.HostConfig, resources corev1.ResourceRequirements) {
	if memory, ok := resources.Limits[corev1.ResourceMemory]; ok {
		host.Memory = memory.Value()
	}
	if cpu, ok := resources.Limits[corev1.ResourceCPU]; ok {
		host.NanoCPUs = cpu.MilliValue() * 1e6
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// healthcheckFor converts the readiness probe, or else the liveness probe,
// to a health check when it runs a command. HTTP, TCP and gRPC probes have
// no health check counterpart and are left out.
func healthcheckFor(c corev1.Container) *containertypes.HealthConfig {
	probe := c.ReadinessProbe
	if probe == nil {
		probe = c.LivenessProbe
	}
	if probe == nil || probe.Exec == nil || len(probe.Exec.Command) == 0 {
		return nil
	}
	return &containertypes.HealthConfig{
		Test:        append([]string{"CMD"}, probe.Exec.Command...),
		Interval:    time.Duration(probe.PeriodSeconds) * time.Second,
		Timeout:     time.Duration(probe.TimeoutSeconds) * time.Second,
		StartPeriod: time.Duration(probe.InitialDelaySeconds) * time.Second,
		Retries:     int(probe.FailureThreshold),
	}
}
