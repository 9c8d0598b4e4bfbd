package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network"
)

// ContainerRename gives a container a new name, which must be valid and
// unused.
func (e *Engine) ContainerRename(ctx context.Context, ref, newName string) error {
	if ref == "" || newName == "" {
		return fmt.Errorf("Neither old nor new names may be empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkName(newName); err != nil {
		return err
	}
	newName = strings.TrimPrefix(newName, "/")
	c, err := e.get(ref)
	if err != nil {
		return err
	}

	c.Lock()
	oldName := c.Name
	if oldName == newName {
		c.Unlock()
		return fmt.Errorf("Renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
	}
	if err := e.containers.Rename(c, newName); err != nil {
		c.Unlock()
		return err
	}
	if err := e.containers.Save(c); err != nil {
		// The record on disk keeps the old name, so the index goes back to
		// it as well.
		if undoErr := e.containers.Rename(c, oldName); undoErr != nil {
			log.FromContext(ctx).Error("restore container name after a failed rename",
				log.KeyContainer, c.ID, "name", oldName, log.Err(undoErr))
		}
		c.Unlock()
		return fmt.Errorf("save container %s: %w", c.ID, err)
	}
	// The embedded DNS server answers for the new name at once.
	for name, att := range c.Networks {
		if !att.IPAddress.IsValid() || name == network.BridgeNetwork {
			continue
		}
		att.DNSNames = dnsNames(c, att.Aliases)
		if err := e.network.SetDNSNames(c.ID, att.NetworkID, att.DNSNames); err != nil {
			log.FromContext(ctx).Warn("update DNS names after rename", log.KeyContainer, c.ID, log.Err(err))
		}
	}
	c.Unlock()

	log.FromContext(ctx).Info("container renamed", log.KeyContainer, c.ID, "old_name", oldName, "name", newName)
	if !c.Hidden {
		e.publishContainerWith(c, events.ActionRename, map[string]string{"oldName": "/" + oldName})
	}
	return nil
}
