package kube

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	networktypes "github.com/moby/moby/api/types/network"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// webContainer is the inspect data of a container run as
//
//	berth run -d --name Web_1 -p 127.0.0.1:8081:80 -e MODE=prod -m 64m \
//	  --cpus 0.5 -v data:/data --health-cmd 'test -f /ok' \
//	  --health-interval 2s --health-retries 4 web-image httpd -f
func webContainer() containertypes.InspectResponse {
	port := networktypes.MustParsePort("80/tcp")
	return containertypes.InspectResponse{
		ID:   "0123456789abcdef",
		Name: "/Web_1",
		Config: &containertypes.Config{
			Hostname:     "0123456789ab",
			Image:        "registry.example/web:1",
			Cmd:          []string{"httpd", "-f"},
			Env:          []string{"PATH=/usr/bin:/bin", "MODE=prod"},
			ExposedPorts: networktypes.PortSet{port: {}, networktypes.MustParsePort("9090/udp"): {}},
			Healthcheck: &containertypes.HealthConfig{
				Test:     []string{"CMD-SHELL", "test -f /ok"},
				Interval: 2 * time.Second,
				Retries:  4,
			},
		},
		HostConfig: &containertypes.HostConfig{
			PortBindings: networktypes.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8081"}}},
			Resources:    containertypes.Resources{Memory: 64 << 20, NanoCPUs: 5e8},
		},
		Mounts: []containertypes.MountPoint{{Type: mount.TypeVolume, Name: "data", Destination: "/data", RW: true}},
	}
}

var webImage = &containertypes.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/bin:/bin"}}

// decodeDocuments splits generated YAML and decodes each document into
// the type its kind names.
func decodeDocuments(t *testing.T, data []byte) map[string]any {
	t.Helper()
	objects := map[string]any{}
	for _, doc := range splitDocuments(data) {
		var meta struct{ Kind string }
		assert.NilError(t, yaml.Unmarshal(doc, &meta))
		var object any
		switch meta.Kind {
		case "Deployment":
			object = &appsv1.Deployment{}
		case "Service":
			object = &corev1.Service{}
		case "PersistentVolumeClaim":
			object = &corev1.PersistentVolumeClaim{}
		case "ConfigMap":
			object = &corev1.ConfigMap{}
		default:
			t.Fatalf("unexpected kind %q in:\n%s", meta.Kind, doc)
		}
		assert.NilError(t, yaml.UnmarshalStrict(doc, object), string(doc))
		objects[meta.Kind] = object
	}
	return objects
}

func TestGenerateDeploymentFields(t *testing.T) {
	data, err := Generate([]Workload{{Name: "Web_1", Containers: []containertypes.InspectResponse{webContainer()}, ImageConfig: webImage}}, GenerateOptions{})
	assert.NilError(t, err)
	objects := decodeDocuments(t, data)
	assert.Check(t, is.Len(objects, 2), "expected a claim and a Deployment:\n%s", data)

	claim := objects["PersistentVolumeClaim"].(*corev1.PersistentVolumeClaim)
	assert.Check(t, is.Equal(claim.Name, "data"))

	deployment := objects["Deployment"].(*appsv1.Deployment)
	assert.Check(t, is.Equal(deployment.Name, "web-1"))
	assert.Check(t, is.Equal(*deployment.Spec.Replicas, int32(1)))
	assert.Check(t, is.DeepEqual(deployment.Spec.Selector.MatchLabels, map[string]string{"app": "web-1"}))
	assert.Check(t, is.DeepEqual(deployment.Spec.Template.Labels, map[string]string{"app": "web-1"}))
	assert.Check(t, is.Equal(deployment.Spec.Template.Spec.Hostname, ""), "the ID-derived hostname is left out")

	assert.Assert(t, is.Len(deployment.Spec.Template.Spec.Containers, 1))
	c := deployment.Spec.Template.Spec.Containers[0]
	assert.Check(t, is.Equal(c.Name, "web-1"))
	assert.Check(t, is.Equal(c.Image, "registry.example/web:1"))
	assert.Check(t, is.Len(c.Command, 0))
	assert.Check(t, is.DeepEqual(c.Args, []string{"httpd", "-f"}))
	assert.Check(t, is.DeepEqual(c.Env, []corev1.EnvVar{{Name: "MODE", Value: "prod"}}))
	assert.Check(t, is.DeepEqual(c.Ports, []corev1.ContainerPort{
		{ContainerPort: 80, Protocol: corev1.ProtocolTCP, HostPort: 8081, HostIP: "127.0.0.1"},
		{ContainerPort: 9090, Protocol: corev1.ProtocolUDP},
	}))

	memory := c.Resources.Limits[corev1.ResourceMemory]
	assert.Check(t, memory.Equal(resource.MustParse("64Mi")), "memory limit %s", memory.String())
	cpu := c.Resources.Limits[corev1.ResourceCPU]
	assert.Check(t, cpu.Equal(resource.MustParse("500m")), "cpu limit %s", cpu.String())

	assert.Assert(t, c.LivenessProbe != nil)
	assert.Check(t, is.DeepEqual(c.LivenessProbe.Exec.Command, []string{"/bin/sh", "-c", "test -f /ok"}))
	assert.Check(t, is.Equal(c.LivenessProbe.PeriodSeconds, int32(2)))
	assert.Check(t, is.Equal(c.LivenessProbe.FailureThreshold, int32(4)))
	assert.Check(t, c.ReadinessProbe != nil)

	assert.Check(t, is.DeepEqual(c.VolumeMounts, []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}))
	volumes := deployment.Spec.Template.Spec.Volumes
	assert.Assert(t, is.Len(volumes, 1))
	assert.Check(t, volumes[0].PersistentVolumeClaim != nil)
	assert.Check(t, is.Equal(volumes[0].PersistentVolumeClaim.ClaimName, "data"))
}

func TestGenerateServiceForPublishedPorts(t *testing.T) {
	data, err := Generate([]Workload{{Name: "web", Containers: []containertypes.InspectResponse{webContainer(), webContainer()}}}, GenerateOptions{Service: true})
	assert.NilError(t, err)
	objects := decodeDocuments(t, data)

	deployment := objects["Deployment"].(*appsv1.Deployment)
	assert.Check(t, is.Equal(*deployment.Spec.Replicas, int32(2)))
	c := deployment.Spec.Template.Spec.Containers[0]
	assert.Check(t, is.DeepEqual(c.Args, []string{"httpd", "-f"}), "without the image config, Cmd is written")
	assert.Check(t, is.Equal(c.Ports[0].HostPort, int32(0)), "the Service exposes the port")

	service := objects["Service"].(*corev1.Service)
	assert.Check(t, is.Equal(service.Name, "web"))
	assert.Check(t, is.DeepEqual(service.Spec.Selector, map[string]string{"app": "web"}))
	assert.Check(t, is.Equal(service.Spec.Type, corev1.ServiceTypeLoadBalancer))
	assert.Assert(t, is.Len(service.Spec.Ports, 2))
	assert.Check(t, is.DeepEqual(service.Spec.Ports[0], corev1.ServicePort{
		Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80),
	}))
	assert.Check(t, is.Equal(service.Spec.Ports[1].Name, "udp-9090"))
	assert.Check(t, is.Equal(service.Spec.Ports[1].Protocol, corev1.ProtocolUDP))
}

func TestGenerateServiceForExposedPorts(t *testing.T) {
	c := webContainer()
	c.HostConfig.PortBindings = nil
	data, err := Generate([]Workload{{Name: "api", Containers: []containertypes.InspectResponse{c}}}, GenerateOptions{Service: true})
	assert.NilError(t, err)
	service := decodeDocuments(t, data)["Service"].(*corev1.Service)
	assert.Check(t, is.Equal(service.Spec.Type, corev1.ServiceTypeClusterIP))
	assert.Check(t, is.Len(service.Spec.Ports, 2))

	c.Config.ExposedPorts = nil
	data, err = Generate([]Workload{{Name: "worker", Containers: []containertypes.InspectResponse{c}}}, GenerateOptions{Service: true})
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(string(data), "kind: Service"), "no ports, no Service:\n%s", data)
}

func TestGenerateDocumentSeparators(t *testing.T) {
	first := webContainer()
	second := webContainer()
	second.Name = "/api"
	second.Mounts = nil
	data, err := Generate([]Workload{
		{Name: "web", Containers: []containertypes.InspectResponse{first}},
		{Name: "api", Containers: []containertypes.InspectResponse{second}},
	}, GenerateOptions{Service: true})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(strings.Count(string(data), "\n---\n"), 4), "five documents:\n%s", data)
	assert.Check(t, is.Len(splitDocuments(data), 5))
}

func TestGenerateConfigMapForEnvFile(t *testing.T) {
	c := webContainer()
	c.Config.Env = append(c.Config.Env, "LEVEL=debug", "COLOR=red")
	data, err := Generate([]Workload{{
		Name:        "web",
		Containers:  []containertypes.InspectResponse{c},
		ImageConfig: webImage,
		EnvFile:     map[string]string{"LEVEL": "debug", "COLOR": "blue"},
	}}, GenerateOptions{})
	assert.NilError(t, err)
	objects := decodeDocuments(t, data)

	configMap := objects["ConfigMap"].(*corev1.ConfigMap)
	assert.Check(t, is.Equal(configMap.Name, "web-env"))
	assert.Check(t, is.DeepEqual(configMap.Data, map[string]string{"LEVEL": "debug", "COLOR": "blue"}))

	container := objects["Deployment"].(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	assert.Assert(t, is.Len(container.EnvFrom, 1))
	assert.Check(t, is.Equal(container.EnvFrom[0].ConfigMapRef.Name, "web-env"))
	assert.Check(t, is.DeepEqual(container.Env, []corev1.EnvVar{
		{Name: "MODE", Value: "prod"},
		{Name: "COLOR", Value: "red"},
	}), "variables equal to the file's come from the ConfigMap, an override stays")

	m, err := Decode(data)
	assert.NilError(t, err)
	plans, err := PlanPod(m, m.Pods[0], "web", "m.yaml")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(plans[0].Config.Env, []string{"COLOR=blue", "LEVEL=debug", "MODE=prod", "COLOR=red"}))
}

func TestObjectNameRules(t *testing.T) {
	for name, expected := range map[string]string{
		"/Web_1":                 "web-1",
		"shop.api":               "shop-api",
		"-x-":                    "x",
		"___":                    "unnamed",
		strings.Repeat("a", 70):  strings.Repeat("a", 63),
		"project_service_1":      "project-service-1",
		"already-a-valid-name-9": "already-a-valid-name-9",
	} {
		assert.Check(t, is.Equal(ObjectName(name), expected), "ObjectName(%q)", name)
	}
}

func TestPlayPlanFromGenerated(t *testing.T) {
	data, err := Generate([]Workload{{Name: "web", Containers: []containertypes.InspectResponse{webContainer()}, ImageConfig: webImage}}, GenerateOptions{})
	assert.NilError(t, err)
	m, err := Decode(data)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(m.Pods, 1))
	assert.Check(t, is.Len(m.Skipped, 0))

	plans, err := PlanPod(m, m.Pods[0], "web", "/m.yaml")
	assert.NilError(t, err)
	assert.Assert(t, is.Len(plans, 1))
	p := plans[0]
	assert.Check(t, is.Equal(p.Name, "web"))
	assert.Check(t, is.Equal(p.Config.Image, "registry.example/web:1"))
	assert.Check(t, is.DeepEqual(p.Config.Cmd, []string{"httpd", "-f"}))
	assert.Check(t, is.DeepEqual(p.Config.Env, []string{"MODE=prod"}))
	assert.Check(t, is.Equal(p.Config.Labels[PodLabel], "web"))
	assert.Check(t, is.Equal(string(p.HostConfig.NetworkMode), "web"))
	assert.Check(t, is.Equal(p.HostConfig.Memory, int64(64<<20)))
	assert.Check(t, is.Equal(p.HostConfig.NanoCPUs, int64(5e8)))
	assert.Check(t, is.Equal(string(p.HostConfig.RestartPolicy.Name), "always"))
	bindings := p.HostConfig.PortBindings[networktypes.MustParsePort("80/tcp")]
	assert.Assert(t, is.Len(bindings, 1))
	assert.Check(t, is.Equal(bindings[0].HostPort, "8081"))
	assert.Check(t, is.Equal(bindings[0].HostIP.String(), "127.0.0.1"))
	assert.Assert(t, is.Len(p.HostConfig.Mounts, 1))
	assert.Check(t, is.Equal(p.HostConfig.Mounts[0].Source, "data"))
	assert.Check(t, is.Equal(p.HostConfig.Mounts[0].Type, mount.TypeVolume))
	assert.Check(t, is.DeepEqual(p.Networking.EndpointsConfig["web"].Aliases, []string{"web"}))
	assert.Assert(t, p.Config.Healthcheck != nil)
	assert.Check(t, is.DeepEqual(p.Config.Healthcheck.Test, []string{"CMD", "/bin/sh", "-c", "test -f /ok"}))
	assert.Check(t, is.Equal(p.Config.Healthcheck.Interval, 2*time.Second))
	assert.Check(t, is.Equal(p.Config.Healthcheck.Retries, 4))
}

const podManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LEVEL: debug
  COLOR: blue
---
apiVersion: v1
kind: Pod
metadata:
  name: shop
  labels: {app: shop}
spec:
  restartPolicy: Never
  containers:
  - name: front
    image: busybox:latest
    command: ["httpd"]
    args: ["-f", "-p", "80"]
    envFrom:
    - configMapRef: {name: settings}
    env:
    - name: COLOR
      value: red
    - name: LEVEL_COPY
      valueFrom:
        configMapKeyRef: {name: settings, key: LEVEL}
    ports:
    - containerPort: 80
  - name: back
    image: busybox:latest
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
  volumes:
  - name: scratch
    emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  type: LoadBalancer
  selector: {app: shop}
  ports:
  - port: 8080
    targetPort: 80
`

func TestPlayPodWithConfigMap(t *testing.T) {
	m, err := Decode([]byte(podManifest))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(m.Pods, 1))
	plans, err := PlanPod(m, m.Pods[0], "shop", "m.yaml")
	assert.NilError(t, err)
	assert.Assert(t, is.Len(plans, 2))

	front := plans[0]
	assert.Check(t, is.Equal(front.Name, "shop-front"))
	assert.Check(t, is.DeepEqual([]string(front.Config.Entrypoint), []string{"httpd"}))
	assert.Check(t, is.DeepEqual(front.Config.Env, []string{"COLOR=blue", "LEVEL=debug", "COLOR=red", "LEVEL_COPY=debug"}))
	assert.Check(t, is.Equal(string(front.HostConfig.RestartPolicy.Name), "no"))
	bindings := front.HostConfig.PortBindings[networktypes.MustParsePort("80/tcp")]
	assert.Assert(t, is.Len(bindings, 1), "the Service publishes port 80")
	assert.Check(t, is.Equal(bindings[0].HostPort, "8080"))

	assert.Check(t, is.DeepEqual(m.ServiceNames(m.Pods[0]), []string{"shop"}))
	assert.Check(t, is.Equal(m.Pods[0].Replicas, int32(1)))

	back := plans[1]
	assert.Check(t, is.Equal(back.Name, "shop-back"))
	assert.Assert(t, is.Len(back.HostConfig.Mounts, 1))
	assert.Check(t, is.Equal(back.HostConfig.Mounts[0].Source, "shop-scratch"))
	assert.Check(t, is.DeepEqual(back.Networking.EndpointsConfig["shop"].Aliases, []string{"back"}))
}

func TestPlayClusterIPServiceUnpublished(t *testing.T) {
	manifest := strings.Replace(podManifest, "type: LoadBalancer", "type: ClusterIP", 1)
	m, err := Decode([]byte(manifest))
	assert.NilError(t, err)
	plans, err := PlanPod(m, m.Pods[0], "shop", "m.yaml")
	assert.NilError(t, err)
	assert.Check(t, is.Len(plans[0].HostConfig.PortBindings, 0))
	assert.Check(t, is.Len(plans[0].Config.ExposedPorts, 1))
}

func TestDecodeRejectsBadManifests(t *testing.T) {
	for name, manifest := range map[string]string{
		"no kind":         "metadata: {name: x}\n",
		"unknown field":   "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containerz: []}\n",
		"no workload":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"unnamed pod":     "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n",
		"not yaml at all": "{",
	} {
		_, err := Decode([]byte(manifest))
		assert.Check(t, err != nil, "%s: Decode accepted:\n%s", name, manifest)
	}
}

// TestKubectlAcceptsGenerated validates generated manifests with kubectl's
// client-side dry run, which creates nothing in the cluster.
func TestKubectlAcceptsGenerated(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed; the client-side dry run needs it")
	}
	data, err := Generate([]Workload{{Name: "web", Containers: []containertypes.InspectResponse{webContainer()}}}, GenerateOptions{Service: true})
	assert.NilError(t, err)
	file := filepath.Join(t.TempDir(), "web.yaml")
	assert.NilError(t, os.WriteFile(file, data, 0o644))
	out, err := exec.Command(kubectl, "apply", "--dry-run=client", "-f", file).CombinedOutput()
	// kubectl reads the OpenAPI schema and maps kinds to resources through
	// the API server even in a client-side dry run, so it needs a
	// reachable cluster.
	if err != nil && unreachable(string(out)) {
		t.Skipf("kubectl found no reachable API server for discovery:\n%s", out)
	}
	assert.NilError(t, err, string(out))
	assert.Check(t, is.Contains(string(out), "deployment.apps/web created (dry run)"))
}

func unreachable(kubectlOutput string) bool {
	for _, message := range []string{"failed to download openapi", "couldn't get current server API group list", "dial tcp"} {
		if strings.Contains(kubectlOutput, message) {
			return true
		}
	}
	return false
}
