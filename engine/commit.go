package engine

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/build"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
)

// ContainerCommit creates an image from the container's changes on top of
// its image, with the container's configuration and req.Changes applied,
// and returns the new image's ID. A running container is paused while its
// changes are read unless req.NoPause.
func (e *Engine) ContainerCommit(ctx context.Context, req server.ContainerCommitRequest) (string, error) {
	var name string
	if req.Repository != "" {
		n, err := tagName(req.Repository, req.Tag)
		if err != nil {
			return "", err
		}
		name = n
	}
	c, err := e.get(req.Container)
	if err != nil {
		return "", err
	}
	c.Lock()
	id, key, imageID, status := c.ID, c.SnapshotKey, c.Image, c.State.Status
	containerCfg := *c.Config
	c.Unlock()

	img, err := e.images.Get(ctx, imageID.String())
	if err != nil {
		return "", fmt.Errorf("failed to find image of container %s: %w", id, err)
	}
	cfg := img.Config
	applyContainerConfig(&cfg, &containerCfg)
	if err := build.ApplyChanges(&cfg, req.Changes); err != nil {
		return "", err
	}
	if req.Author != "" {
		cfg.Author = req.Author
	}
	now := time.Now().UTC()
	cfg.Created = &now
	h := ocispec.History{
		Created:   &now,
		Author:    req.Author,
		CreatedBy: strings.Join(containerCfg.Cmd, " "),
		Comment:   req.Comment,
	}

	if status == ctr.Running && !req.NoPause {
		if err := e.ContainerPause(ctx, id); err != nil {
			return "", fmt.Errorf("pause container %s for commit: %w", id, err)
		}
		defer func() {
			if err := e.ContainerUnpause(context.WithoutCancel(ctx), id); err != nil {
				log.FromContext(ctx).Warn("failed to unpause container after commit", log.KeyContainer, id, log.Err(err))
			}
		}()
	}

	diff, err := e.snapshots.Diff(ctx, key)
	if err != nil {
		return "", err
	}
	defer diff.Close()
	newImg, err := e.images.Create(ctx, img.ID, diff, cfg, h)
	if err != nil {
		return "", fmt.Errorf("commit container %s: %w", id, err)
	}
	if name != "" {
		if err := e.images.Tag(ctx, newImg.ID, name); err != nil {
			return "", err
		}
	}

	c.Lock()
	e.publishContainerWith(c, events.ActionCommit, map[string]string{
		"comment": req.Comment, "imageID": newImg.ID.String(), "imageRef": name,
	})
	c.Unlock()
	return newImg.ID.String(), nil
}

// applyContainerConfig copies the container's settings that an image keeps
// into the image configuration cfg.
func applyContainerConfig(cfg *dockerspec.DockerOCIImage, c *container.Config) {
	ic := &cfg.Config
	ic.Cmd = c.Cmd
	ic.Entrypoint = c.Entrypoint
	ic.Env = c.Env
	ic.WorkingDir = c.WorkingDir
	ic.User = c.User
	ic.StopSignal = c.StopSignal
	ic.Labels = maps.Clone(c.Labels)
	ic.Volumes = maps.Clone(c.Volumes)
	ic.ExposedPorts = nil
	if len(c.ExposedPorts) > 0 {
		ic.ExposedPorts = map[string]struct{}{}
		for port := range c.ExposedPorts {
			ic.ExposedPorts[port.String()] = struct{}{}
		}
	}
}
