package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

// cacheFile is the name of the cache index inside the builder's state directory.
const cacheFile = "cache.json"

// cacheIndex maps a step's cache key to the image the step produced. It is
// kept in memory and rewritten atomically to disk on every change.
//
// TODO: entries are dropped only when a lookup finds their image deleted,
// so the index grows with every uncached step.
type cacheIndex struct {
	path string

	mu      sync.Mutex
	entries map[string]digest.Digest
}

func loadCache(stateDir string) (*cacheIndex, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create builder state directory: %w", err)
	}
	c := &cacheIndex{path: filepath.Join(stateDir, cacheFile), entries: map[string]digest.Digest{}}
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read build cache: %w", err)
	}
	if err := json.Unmarshal(data, &c.entries); err != nil {
		return nil, fmt.Errorf("decode build cache %s: %w", c.path, err)
	}
	return c, nil
}

// get returns the image cached for key. An entry whose image is no longer
// in the store is dropped.
func (c *cacheIndex) get(ctx context.Context, images ImageStore, key string) (image.Image, bool) {
	c.mu.Lock()
	id, ok := c.entries[key]
	c.mu.Unlock()
	if !ok {
		return image.Image{}, false
	}

	img, err := images.Get(ctx, id.String())
	if err != nil {
		log.FromContext(ctx).Debug("cached build step image is gone", log.KeyImage, id, log.Err(err))
		c.mu.Lock()
		if c.entries[key] == id {
			delete(c.entries, key)
		}
		c.mu.Unlock()
		return image.Image{}, false
	}
	return img, true
}

// put records that the step with key produced image id.
func (c *cacheIndex) put(key string, id digest.Digest) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.entries[key] = id
	if err := atomicfile.WriteJSON(c.path, c.entries, 0o600); err != nil {
		return fmt.Errorf("write build cache: %w", err)
	}
	return nil
}

// cacheKey identifies a build step: the image it starts from, the
// configuration it commits, the instruction with variables expanded (for
// RUN including the build arguments in effect) and, for COPY and ADD, the
// digests of the source files.
func cacheKey(parent digest.Digest, cfg dockerspec.DockerOCIImage, instruction string, sources ...string) (string, error) {
	committed, err := json.Marshal(struct {
		Author string
		Config dockerspec.DockerOCIImageConfig
	}{cfg.Author, cfg.Config})
	if err != nil {
		return "", fmt.Errorf("encode configuration for the cache key: %w", err)
	}
	fields, err := json.Marshal(struct {
		Parent      digest.Digest
		Config      string
		Instruction string
		Sources     []string
	}{parent, string(committed), instruction, sources})
	if err != nil {
		return "", fmt.Errorf("encode cache key: %w", err)
	}
	sum := sha256.Sum256(fields)
	return hex.EncodeToString(sum[:]), nil
}

// clear removes every entry and returns the distinct images they named,
// sorted.
func (c *cacheIndex) clear() ([]digest.Digest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	seen := map[digest.Digest]bool{}
	var ids []digest.Digest
	for _, id := range c.entries {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	c.entries = map[string]digest.Digest{}
	if err := atomicfile.WriteJSON(c.path, c.entries, 0o600); err != nil {
		return nil, fmt.Errorf("write build cache: %w", err)
	}
	return ids, nil
}
