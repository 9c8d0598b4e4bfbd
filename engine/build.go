package engine

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/distribution/reference"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/build"
	"github.com/berth-engine/berth/distribution"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/log"
)

var (
	_ build.Runner = (*Engine)(nil)
	_ build.Puller = (*Engine)(nil)
)

// Build runs a Dockerfile build from a context tarball.
func (e *Engine) Build(ctx context.Context, req server.BuildRequest, out io.Writer) (string, error) {
	img, err := e.builder.Build(ctx, req.Context, build.Options{
		Dockerfile:  req.Dockerfile,
		Tags:        req.Tags,
		BuildArgs:   req.BuildArgs,
		Labels:      req.Labels,
		NoCache:     req.NoCache,
		Pull:        req.Pull,
		Puller:      buildPuller{engine: e, auths: req.AuthConfigs},
		Target:      req.Target,
		Quiet:       req.Quiet,
		NetworkMode: req.NetworkMode,
		ExtraHosts:  req.ExtraHosts,
	}, out)
	if err != nil {
		return "", err
	}
	for _, tag := range img.RepoTags {
		e.events.Publish(events.ImageEventType, events.ActionTag, img.ID.String(), map[string]string{"name": tag})
	}
	return img.ID.String(), nil
}

// PullImage pulls an image a build names without credentials. It is the
// builder's default Puller.
func (e *Engine) PullImage(ctx context.Context, ref string, out io.Writer) error {
	return buildPuller{engine: e}.PullImage(ctx, ref, out)
}

// buildPuller pulls for one build with the credentials its client sent.
type buildPuller struct {
	engine *Engine
	auths  map[string]registry.AuthConfig
}

// PullImage pulls ref with the credentials for its registry, writing the
// pull's status lines to out without the per-layer progress bars.
func (p buildPuller) PullImage(ctx context.Context, ref string, out io.Writer) error {
	return p.engine.ImagePull(ctx, ref, "", p.authFor(ref), func(m jsonstream.Message) error {
		if m.Progress != nil || m.Status == "" {
			return nil
		}
		if m.ID != "" {
			_, err := fmt.Fprintf(out, "%s: %s\n", m.ID, m.Status)
			return err
		}
		_, err := fmt.Fprintln(out, m.Status)
		return err
	})
}

// authFor returns the credentials for ref's registry. Docker clients key
// Docker Hub as "https://index.docker.io/v1/" and other registries by host,
// sometimes with a scheme.
func (p buildPuller) authFor(ref string) registry.AuthConfig {
	if len(p.auths) == 0 {
		return registry.AuthConfig{}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return registry.AuthConfig{}
	}
	domain := reference.Domain(named)
	keys := []string{domain, "https://" + domain, "http://" + domain}
	if domain == "docker.io" {
		keys = append([]string{distribution.IndexServer, "index.docker.io", "registry-1.docker.io"}, keys...)
	}
	for _, key := range keys {
		if auth, ok := p.auths[key]; ok {
			return auth
		}
	}
	return registry.AuthConfig{}
}

// BuildCachePrune empties the build cache.
//
// NOTE: SpaceReclaimed is 0 because the cached steps are images, which
// stay until image prune removes them.
func (e *Engine) BuildCachePrune(ctx context.Context) (buildtypes.CachePruneReport, error) {
	ids, err := e.builder.PruneCache()
	if err != nil {
		return buildtypes.CachePruneReport{}, err
	}
	report := buildtypes.CachePruneReport{CachesDeleted: make([]string, 0, len(ids))}
	for _, id := range ids {
		report.CachesDeleted = append(report.CachesDeleted, id.String())
	}
	log.FromContext(ctx).Info("build cache pruned", "entries", len(ids))
	return report, nil
}

// Run executes one RUN step of a build: a temporary container from the
// step's parent image runs the command, and its changes become a new image.
func (e *Engine) Run(ctx context.Context, req build.RunRequest) (image.Image, error) {
	cfg := req.Config.Config
	c, err := e.create(ctx, server.ContainerCreateRequest{
		Config: &container.Config{
			Image:      req.Image.ID.String(),
			Env:        req.Env,
			WorkingDir: cfg.WorkingDir,
			User:       cfg.User,
			Entrypoint: []string{""},
			Cmd:        req.Cmd,
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(req.NetworkMode),
			ExtraHosts:  req.ExtraHosts,
		},
	}, true)
	if err != nil {
		return image.Image{}, err
	}
	ctx = log.With(ctx, log.KeyContainer, c.ID)
	if req.Script != nil {
		if err := e.writeBuildScript(c.ID, *req.Script); err != nil {
			_ = e.remove(context.WithoutCancel(ctx), c, true)
			return image.Image{}, err
		}
	}
	defer func() {
		if err := e.remove(context.WithoutCancel(ctx), c, true); err != nil {
			log.FromContext(ctx).Warn("remove build container", log.Err(err))
			return
		}
		fmt.Fprintf(req.Output, "Removing intermediate container %s\n", c.ID[:12])
	}()
	fmt.Fprintf(req.Output, " ---> Running in %s\n", c.ID[:12])

	// The attach request is queued before the start, so the step's output
	// reaches the client from the first byte.
	opts := server.AttachOptions{Stdout: req.Output, Stderr: req.Output, UseStdout: true, UseStderr: true, Stream: true}
	_, pending := e.queueAttach(e.task(c.ID), opts)
	exited := e.exitChannel(c.ID)
	if err := e.start(ctx, c); err != nil {
		return image.Image{}, err
	}
	<-pending.ready
	if pending.err != nil {
		return image.Image{}, pending.err
	}
	pumpErr := pump(ctx, pending.conn, opts, false, nil)
	pending.conn.Close()
	if pumpErr != nil {
		return image.Image{}, pumpErr
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return image.Image{}, ctx.Err()
	}

	c.Lock()
	code := c.State.ExitCode
	c.Unlock()
	if code != 0 {
		return image.Image{}, &build.RunError{Cmd: req.Cmd, Code: code}
	}

	// The runtime created these files as bind-mount targets when the image
	// lacked them; they are not changes the step made.
	if err := e.snapshots.DropMountPoints(ctx, c.SnapshotKey, "etc/hosts", "etc/hostname", "etc/resolv.conf"); err != nil {
		return image.Image{}, err
	}
	// Docker's classic builder runs the command with the image's volumes
	// mounted, so what it writes below them is not committed.
	if volumes := slices.Sorted(maps.Keys(cfg.Volumes)); len(volumes) > 0 {
		if err := e.snapshots.DiscardChanges(ctx, c.SnapshotKey, volumes...); err != nil {
			return image.Image{}, err
		}
	}
	now := time.Now().UTC()
	return e.images.CommitSnapshot(ctx, req.Image.ID, c.SnapshotKey, req.Config,
		ocispec.History{Created: &now, CreatedBy: req.CreatedBy})
}

// buildScriptDir is the directory in a build container's state directory
// that is mounted read-only at build.ScriptDir.
const buildScriptDir = "build-scripts"

// writeBuildScript writes the executable file a RUN here-document runs.
func (e *Engine) writeBuildScript(id string, script build.Script) error {
	dir := filepath.Join(e.containers.Dir(id), buildScriptDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create build script directory: %w", err)
	}
	name := filepath.Join(dir, filepath.Base(script.Name))
	if err := os.WriteFile(name, []byte(script.Data), 0o755); err != nil {
		return fmt.Errorf("write build script: %w", err)
	}
	return nil
}
