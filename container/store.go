package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

const recordFile = "container.json"

// Store keeps every container record in memory and persists each one as
// <root>/<id>/container.json. The daemon is its only writer.
type Store struct {
	root string

	mu     sync.RWMutex
	byID   map[string]*Container
	byName map[string]string
}

// NewStore loads the records under root. A directory without a readable
// record (a crash during create) is removed.
func NewStore(ctx context.Context, root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o710); err != nil {
		return nil, err
	}
	s := &Store{root: root, byID: map[string]*Container{}, byName: map[string]string{}}

	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := s.load(e.Name())
		if err != nil {
			log.FromContext(ctx).Warn("removing unreadable container directory",
				log.KeyContainer, e.Name(), log.Err(err))
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				log.FromContext(ctx).Warn("remove container directory", log.KeyContainer, e.Name(), log.Err(err))
			}
			continue
		}
		s.byID[c.ID] = c
		s.byName[c.Name] = c.ID
	}
	return s, nil
}

func (s *Store) load(id string) (*Container, error) {
	data, err := os.ReadFile(filepath.Join(s.root, id, recordFile))
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode record of %s: %w", id, err)
	}
	if c.ID != id || c.Config == nil || c.HostConfig == nil {
		return nil, fmt.Errorf("record of %s is incomplete", id)
	}
	return &c, nil
}

// Dir returns the directory holding a container's record, logs and
// configuration files.
func (s *Store) Dir(id string) string {
	return filepath.Join(s.root, id)
}

// Add reserves c's name and persists c. The name must be unused.
func (s *Store) Add(c *Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if other, ok := s.byName[c.Name]; ok {
		return fmt.Errorf("%s: %w", nameConflictMessage(c.Name, other), errdefs.ErrConflict)
	}
	if err := os.MkdirAll(s.Dir(c.ID), 0o710); err != nil {
		return err
	}
	if err := s.save(c); err != nil {
		os.RemoveAll(s.Dir(c.ID))
		return err
	}
	s.byID[c.ID] = c
	s.byName[c.Name] = c.ID
	return nil
}

// Save persists c. The caller holds c's lock.
func (s *Store) Save(c *Container) error {
	return s.save(c)
}

func (s *Store) save(c *Container) error {
	return atomicfile.WriteJSON(filepath.Join(s.Dir(c.ID), recordFile), c, 0o600)
}

// Delete removes c from the index and deletes its directory.
func (s *Store) Delete(c *Container) error {
	s.mu.Lock()
	delete(s.byID, c.ID)
	if s.byName[c.Name] == c.ID {
		delete(s.byName, c.Name)
	}
	s.mu.Unlock()

	if err := os.RemoveAll(s.Dir(c.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove container directory %s: %w", c.ID, err)
	}
	return nil
}

// Get finds a container by full ID, name (with or without the leading
// slash) or unique ID prefix, in that order, as Docker does.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()

	if ref == "" {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	if id, ok := s.byName[strings.TrimPrefix(ref, "/")]; ok {
		return s.byID[id], nil
	}
	var found *Container
	for id, c := range s.byID {
		if !strings.HasPrefix(id, ref) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w",
				ref, errdefs.ErrInvalidArgument)
		}
		found = c
	}
	if found == nil {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// List returns every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	list := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		list = append(list, c)
	}
	s.mu.RUnlock()

	sort.Slice(list, func(i, j int) bool { return list[i].Created.After(list[j].Created) })
	return list
}

// Rename moves c to a new, unused name.
func (s *Store) Rename(c *Container, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if other, ok := s.byName[name]; ok && other != c.ID {
		// Docker 28 (daemon/rename.go) wraps the conflict with this prefix.
		return fmt.Errorf("Error when allocating new name: %s: %w",
			nameConflictMessage(name, other), errdefs.ErrConflict)
	}
	delete(s.byName, c.Name)
	s.byName[name] = c.ID
	c.Name = name
	return nil
}

// nameConflictMessage returns Docker's text for a name that container id
// already has.
func nameConflictMessage(name, id string) string {
	return fmt.Sprintf("Conflict. The container name \"/%s\" is already in use by container %q. "+
		"You have to remove (or rename) that container to be able to reuse that name.", name, id)
}
