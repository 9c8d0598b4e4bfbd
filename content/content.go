// Package content stores blobs addressed by their digest.
//
// Blobs live in <root>/blobs/<algorithm>/<hex>. A write goes to a temporary
// file in <root>/ingest, is hashed while it is copied, verified, synced and
// renamed into place, so a blob path only ever contains complete, verified data.
package content

import (
	"context"
	_ "crypto/sha256" // registers sha256 for digest.Algorithm.Available
	_ "crypto/sha512" // registers sha384 and sha512 for digest.Algorithm.Available
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/internal/log"
)

// Store is a content-addressed blob store. It is safe for concurrent use.
type Store struct {
	root string
}

// New opens the store at root, creating its directories, and removes the
// temporary files of writes that a crash interrupted.
func New(root string) (*Store, error) {
	s := &Store{root: root}

	if err := os.RemoveAll(s.ingestDir()); err != nil {
		return nil, fmt.Errorf("clean content ingest dir: %w", err)
	}
	for _, dir := range []string{s.ingestDir(), filepath.Join(root, "blobs", string(digest.SHA256))} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create content store: %w", err)
		}
	}
	return s, nil
}

func (s *Store) ingestDir() string {
	return filepath.Join(s.root, "ingest")
}

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), d.Encoded())
}

// Write copies r into the store and returns the digest and size of the
// blob. With expected set, the data is hashed with expected's algorithm and
// must match it. Otherwise it is hashed with sha256. On a mismatch the error
// wraps errdefs.ErrInvalidArgument and nothing is stored. A successful Write
// has read r to its end, also when the blob already existed.
func (s *Store) Write(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	algorithm := digest.SHA256
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return "", 0, fmt.Errorf("write blob %q: %w: %w", expected, errdefs.ErrInvalidArgument, err)
		}
		algorithm = expected.Algorithm()
	}

	tmp, err := os.CreateTemp(s.ingestDir(), "blob-")
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) //nolint:errcheck // no-op once the rename has happened

	d, size, err := copyAndHash(ctx, tmp, r, algorithm)
	if closeErr := tmp.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	if expected != "" && d != expected {
		return "", 0, fmt.Errorf("write blob: %w: digest mismatch: expected %s, got %s",
			errdefs.ErrInvalidArgument, expected, d)
	}

	if err := s.commit(tmpName, d); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", d, err)
	}
	log.FromContext(ctx).Debug("wrote blob", log.KeyDigest, d, "size", size)
	return d, size, nil
}

// copyAndHash copies r to f while hashing it, then syncs f.
func copyAndHash(ctx context.Context, f *os.File, r io.Reader, algorithm digest.Algorithm) (digest.Digest, int64, error) {
	if !algorithm.Available() {
		return "", 0, fmt.Errorf("%w: unsupported digest algorithm %q", errdefs.ErrInvalidArgument, algorithm)
	}
	digester := algorithm.Digester()

	size, err := io.Copy(io.MultiWriter(f, digester.Hash()), contextReader{ctx: ctx, r: r})
	if err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	return digester.Digest(), size, nil
}

// commit moves a verified temporary file to the blob path of d.
func (s *Store) commit(tmpName string, d digest.Digest) error {
	path := s.blobPath(d)
	if _, err := os.Stat(path); err == nil {
		return nil
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(tmpName, 0o444); err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// Open returns a reader for the blob d. The error wraps errdefs.ErrNotFound
// when the store has no such blob.
func (s *Store) Open(d digest.Digest) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("open blob %q: %w: %w", d, errdefs.ErrInvalidArgument, err)
	}

	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, notFound("open", d, err)
	}
	return f, nil
}

// ReadAll returns the content of the blob d.
func (s *Store) ReadAll(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("read blob %q: %w: %w", d, errdefs.ErrInvalidArgument, err)
	}

	data, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, notFound("read", d, err)
	}
	return data, nil
}

// Has reports whether the store holds the blob d.
func (s *Store) Has(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// Size returns the size in bytes of the blob d.
func (s *Store) Size(d digest.Digest) (int64, error) {
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("stat blob %q: %w: %w", d, errdefs.ErrInvalidArgument, err)
	}

	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		return 0, notFound("stat", d, err)
	}
	return fi.Size(), nil
}

// Delete removes the blob d. The error wraps errdefs.ErrNotFound when the
// store has no such blob.
func (s *Store) Delete(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("delete blob %q: %w: %w", d, errdefs.ErrInvalidArgument, err)
	}

	path := s.blobPath(d)
	if err := os.Remove(path); err != nil {
		return notFound("delete", d, err)
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}

// Walk calls fn with the digest and size of every blob, in lexical order of
// algorithm and hex digest. It stops at the first error fn returns.
func (s *Store) Walk(fn func(digest.Digest, int64) error) error {
	blobs := filepath.Join(s.root, "blobs")

	algorithms, err := os.ReadDir(blobs)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, a := range algorithms {
		entries, err := os.ReadDir(filepath.Join(blobs, a.Name()))
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), e.Name())
			if d.Validate() != nil {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while walking
			}
			if err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if err := fn(d, info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

func notFound(op string, d digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s blob %s: %w", op, d, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s blob %s: %w", op, d, err)
}

// contextReader stops a copy once ctx is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
