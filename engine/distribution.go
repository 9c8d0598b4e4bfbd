package engine

import (
	"context"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/distribution"
	"github.com/berth-engine/berth/image"
)

// ImagePull pulls ref for platform ("" for the daemon's), passing Docker's
// progress messages to send.
func (e *Engine) ImagePull(ctx context.Context, ref, platform string, auth registry.AuthConfig, send func(jsonstream.Message) error) error {
	opts := distribution.PullOptions{Auth: auth, Progress: distribution.NewProgress(send)}
	if platform != "" {
		p, err := image.ParsePlatform(platform)
		if err != nil {
			return err
		}
		opts.Platform = &p
	}
	imgs, err := e.registry.Pull(ctx, ref, opts)
	for _, img := range imgs {
		name := img.ID.String()
		if len(img.RepoTags) > 0 {
			name = image.FamiliarName(img.RepoTags[0])
		}
		e.events.Publish(events.ImageEventType, events.ActionPull, name, map[string]string{"name": name})
	}
	return err
}

// ImagePush pushes the tag ref, or every tag of its repository when it has
// none, passing Docker's progress messages to send.
func (e *Engine) ImagePush(ctx context.Context, ref string, auth registry.AuthConfig, send func(jsonstream.Message) error) error {
	results, err := e.registry.Push(ctx, ref, distribution.PushOptions{Auth: auth, Progress: distribution.NewProgress(send)})
	for _, r := range results {
		e.events.Publish(events.ImageEventType, events.ActionPush, ref, map[string]string{"name": ref, "tag": r.Tag})
	}
	return err
}

// Login checks credentials against a registry.
func (e *Engine) Login(ctx context.Context, auth registry.AuthConfig) error {
	return e.registry.Login(ctx, auth)
}
