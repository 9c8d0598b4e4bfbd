package engine

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/events"
)

// ImageLoad stores the images of an image archive and returns the lines
// docker load prints for them.
func (e *Engine) ImageLoad(ctx context.Context, r io.Reader) ([]string, error) {
	loaded, err := e.images.Load(ctx, r)
	var lines []string
	for _, img := range loaded {
		e.events.Publish(events.ImageEventType, events.ActionLoad, img.ID.String(), nil)
		if len(img.Tags) == 0 {
			lines = append(lines, "Loaded image ID: "+img.ID.String())
		}
		for _, tag := range img.Tags {
			lines = append(lines, "Loaded image: "+tag)
		}
	}
	return lines, err
}

// ImageSave writes the images that names refer to as an image archive.
func (e *Engine) ImageSave(ctx context.Context, names []string, w io.Writer) error {
	if err := e.images.Save(ctx, w, names); err != nil {
		return err
	}
	for _, name := range names {
		e.events.Publish(events.ImageEventType, events.ActionSave, name, nil)
	}
	return nil
}
