package build

import (
	"archive/tar"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// isURL reports whether an ADD or COPY source is a remote URL.
func isURL(source string) bool {
	return strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
}

// fetchURL downloads an ADD source into blobs. Like Docker, the file is
// named after the last element of the URL path, has mode 0600, and takes
// its modification time from the Last-Modified header. With checksum
// ("sha256:<hex>"), content of another digest is rejected.
func fetchURL(ctx context.Context, client *http.Client, blobs *blobStore, rawURL, checksum string) (copySource, error) {
	var want digest.Digest
	if checksum != "" {
		want = digest.Digest(checksum)
		if err := want.Validate(); err != nil {
			return copySource{}, fmt.Errorf("ADD failed: invalid checksum %q: %v: %w", checksum, err, errdefs.ErrInvalidArgument)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD failed: invalid URL %s: %w", rawURL, invalid(err))
	}
	name := path.Base(u.Path)
	if name == "." || name == "/" || strings.HasSuffix(u.Path, "/") {
		name = ""
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD failed: %w", invalid(err))
	}
	resp, err := client.Do(req)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD failed: download %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return copySource{}, fmt.Errorf("ADD failed: download %s: server returned %s: %w",
			rawURL, resp.Status, errdefs.ErrUnavailable)
	}

	content, sum, err := blobs.write(resp.Body)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD failed: download %s: %w", rawURL, err)
	}
	if want != "" {
		got, err := fileDigest(content, want.Algorithm())
		if err != nil {
			return copySource{}, err
		}
		if got != want {
			return copySource{}, fmt.Errorf("ADD failed: checksum of %s does not match: expected %s, got %s: %w",
				rawURL, want, got, errdefs.ErrInvalidArgument)
		}
	}

	modTime := time.Unix(0, 0).UTC()
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		modTime = lm.UTC()
	}
	size, err := content.size()
	if err != nil {
		return copySource{}, err
	}
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: size, ModTime: modTime}
	return copySource{name: name, node: &fsNode{hdr: hdr, content: content, sum: sum}, inline: true, url: rawURL}, nil
}

func fileDigest(content *blob, algorithm digest.Algorithm) (digest.Digest, error) {
	if !algorithm.Available() {
		return "", fmt.Errorf("ADD failed: unsupported checksum algorithm %s: %w", algorithm, errdefs.ErrInvalidArgument)
	}
	f, err := content.open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	return algorithm.FromReader(f)
}
