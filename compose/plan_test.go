package compose

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func kinds(actions []Action) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a.Kind) + ":" + string(rune('0'+a.Number))
	}
	return out
}

func TestPlanCreatesMissing(t *testing.T) {
	actions := PlanService(PlanInput{Hash: "h", Scale: 2, Policy: RecreateDiverged})
	assert.DeepEqual(t, kinds(actions), []string{"Create:1", "Create:2"})
}

func TestPlanKeepsUnchanged(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "h",
		Scale:    1,
		Existing: []Container{{ID: "a", Number: 1, Hash: "h", Running: true}},
		Policy:   RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Running:1"})
	assert.Check(t, !Changed(actions))
}

func TestPlanRecreatesChangedHash(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "new",
		Scale:    1,
		Existing: []Container{{ID: "a", Number: 1, Hash: "old", Running: true}},
		Policy:   RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Recreate:1"})
	assert.Check(t, Changed(actions))
}

func TestPlanNoRecreateKeepsStale(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "new",
		Scale:    1,
		Existing: []Container{{ID: "a", Number: 1, Hash: "old", Running: true}},
		Policy:   RecreateNever,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Running:1"})
}

func TestPlanForceRecreatesAll(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "h",
		Scale:    1,
		Existing: []Container{{ID: "a", Number: 1, Hash: "h", Running: true}},
		Policy:   RecreateForce,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Recreate:1"})
}

func TestPlanStartsStopped(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "h",
		Scale:    1,
		Existing: []Container{{ID: "a", Number: 1, Hash: "h"}},
		Policy:   RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Start:1"})
}

func TestPlanScaleDownRemovesStaleFirst(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:  "h",
		Scale: 2,
		Existing: []Container{
			{ID: "a", Number: 1, Hash: "old", Running: true},
			{ID: "b", Number: 2, Hash: "h", Running: true},
			{ID: "c", Number: 3, Hash: "h", Running: true},
		},
		Policy: RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Remove:1", "Running:2", "Running:3"})
}

func TestPlanScaleDownRemovesHighest(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:  "h",
		Scale: 1,
		Existing: []Container{
			{ID: "a", Number: 1, Hash: "h", Running: true},
			{ID: "b", Number: 2, Hash: "h", Running: true},
		},
		Policy: RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Remove:2", "Running:1"})
}

func TestPlanScaleUpNumbersAfterHighest(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:     "h",
		Scale:    3,
		Existing: []Container{{ID: "b", Number: 2, Hash: "h", Running: true}},
		Policy:   RecreateDiverged,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Running:2", "Create:3", "Create:4"})
}

func TestPlanRestartsForDependency(t *testing.T) {
	actions := PlanService(PlanInput{
		Hash:                 "h",
		Scale:                1,
		Existing:             []Container{{ID: "a", Number: 1, Hash: "h", Running: true}},
		Policy:               RecreateDiverged,
		RestartForDependency: true,
	})
	assert.DeepEqual(t, kinds(actions), []string{"Restart:1"})
	assert.Check(t, !Changed(actions))
}

func TestHashIgnoresScaleAndBuild(t *testing.T) {
	one := 1
	three := 3
	base := types.ServiceConfig{Name: "web", Scale: &one}
	base.Image = "busybox"
	scaled := base
	scaled.Scale = &three
	scaled.Build = &types.BuildConfig{Context: "."}
	scaled.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}

	h1, err := ServiceHash(base)
	assert.NilError(t, err)
	h2, err := ServiceHash(scaled)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(h1, h2))
}

func TestHashChangesWithEnvironment(t *testing.T) {
	a, b := "1", "2"
	one := types.ServiceConfig{Name: "web"}
	one.Environment = types.MappingWithEquals{"X": &a}
	two := types.ServiceConfig{Name: "web"}
	two.Environment = types.MappingWithEquals{"X": &b}

	h1, err := ServiceHash(one)
	assert.NilError(t, err)
	h2, err := ServiceHash(two)
	assert.NilError(t, err)
	assert.Check(t, h1 != h2)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestLoadResolvesProjectFeatures(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".env"), "TAG=1.2\n")
	writeFile(t, filepath.Join(dir, "base.yaml"), "services:\n  base:\n    image: busybox:${TAG}\n    environment:\n      FROM_BASE: \"yes\"\n")
	writeFile(t, filepath.Join(dir, "extra", "compose.yaml"), "services:\n  extra:\n    image: busybox\n")
	writeFile(t, filepath.Join(dir, "compose.yaml"), `name: demo
include:
  - extra/compose.yaml
services:
  web:
    extends:
      file: base.yaml
      service: base
    depends_on: [db]
  db:
    image: busybox
  debug:
    image: busybox
    profiles: [debug]
`)
	project, err := Load(context.Background(), LoadOptions{ProjectDirectory: dir, Files: []string{filepath.Join(dir, "compose.yaml")}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(project.Name, "demo"))
	assert.Check(t, is.Equal(project.Services["web"].Image, "busybox:1.2"))
	assert.Check(t, is.Equal(*project.Services["web"].Environment["FROM_BASE"], "yes"))
	_, hasExtra := project.Services["extra"]
	assert.Check(t, hasExtra)
	_, hasDebug := project.Services["debug"]
	assert.Check(t, !hasDebug)
	assert.Check(t, is.Equal(project.Networks["default"].Name, "demo_default"))

	order, err := ServiceOrder(project)
	assert.NilError(t, err)
	assert.DeepEqual(t, order, []string{"db", "extra", "web"})

	withDebug, err := Load(context.Background(), LoadOptions{ProjectDirectory: dir, Files: []string{filepath.Join(dir, "compose.yaml")}, Profiles: []string{"debug"}})
	assert.NilError(t, err)
	_, hasDebug = withDebug.Services["debug"]
	assert.Check(t, hasDebug)
}

func TestContainerRequestLabels(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), `name: demo
services:
  web:
    image: busybox
    command: ["httpd", "-f"]
    ports: ["127.0.0.1:8080:80"]
    volumes: [data:/data]
    networks:
      back:
        aliases: [www]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: busybox
networks:
  back: {}
volumes:
  data: {}
`)
	project, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}})
	assert.NilError(t, err)
	req, err := ContainerRequest(project, project.Services["web"], "demo-web-1", 1, "abc", false)
	assert.NilError(t, err)

	labels := req.Config.Labels
	assert.Check(t, is.Equal(labels[ProjectLabel], "demo"))
	assert.Check(t, is.Equal(labels[ServiceLabel], "web"))
	assert.Check(t, is.Equal(labels[NumberLabel], "1"))
	assert.Check(t, is.Equal(labels[OneoffLabel], "False"))
	assert.Check(t, is.Equal(labels[ConfigHashLabel], "abc"))
	assert.Check(t, is.Equal(labels[DependenciesLabel], "db:service_healthy:false"))
	assert.Check(t, is.Equal(labels[WorkingDirLabel], dir))
	assert.Check(t, is.Equal(string(req.HostConfig.NetworkMode), "demo_back"))
	assert.Check(t, is.DeepEqual(req.NetworkingConfig.EndpointsConfig["demo_back"].Aliases, []string{"web", "www"}))
	assert.Check(t, is.Len(req.HostConfig.Mounts, 1))
	assert.Check(t, is.Equal(req.HostConfig.Mounts[0].Source, "demo_data"))
	assert.Check(t, is.Len(req.HostConfig.PortBindings, 1))
}

func TestContainerRequestSharedNamespaces(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yaml"), `name: demo
services:
  app:
    image: busybox
  sidecar:
    image: busybox
    network_mode: service:app
    volumes_from: [app, "container:other:ro"]
`)
	project, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}})
	assert.NilError(t, err)
	req, err := ContainerRequest(project, project.Services["sidecar"], "demo-sidecar-1", 1, "abc", false)
	assert.NilError(t, err)

	assert.Check(t, is.Equal(string(req.HostConfig.NetworkMode), "container:demo-app-1"))
	assert.Check(t, is.Nil(req.NetworkingConfig))
	assert.Check(t, is.DeepEqual(req.HostConfig.VolumesFrom, []string{"demo-app-1", "other:ro"}))

	order, err := ServiceOrder(project)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(order, []string{"app", "sidecar"}))
}
