package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

// IndexServer is the address under which Docker stores credentials for
// Docker Hub, and the registry that an empty server address means.
const IndexServer = "https://index.docker.io/v1/"

// RegistryHost returns the registry host of a server address as docker
// login takes it: "localhost:5000", "https://registry.example.com/v2/" or
// "" for Docker Hub.
func RegistryHost(server string) string {
	if server == "" || server == IndexServer || server == "docker.io" {
		return name.DefaultRegistry
	}
	host := server
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		host = u.Host
	}
	host, _, _ = strings.Cut(host, "/")
	return host
}

// Login checks the credentials of auth against the registry at
// auth.ServerAddress. It fails with an error wrapping
// errdefs.ErrUnauthenticated when the registry rejects them.
func (s *Service) Login(ctx context.Context, auth registry.AuthConfig) error {
	host := RegistryHost(auth.ServerAddress)
	var opts []name.Option
	if s.isInsecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return fmt.Errorf("%w: invalid registry address %q: %w", errdefs.ErrInvalidArgument, auth.ServerAddress, err)
	}
	base, err := s.transport(reg.RegistryStr())
	if err != nil {
		return err
	}

	// A registry with token authentication checks the credentials here,
	// when the token is requested.
	rt, err := transport.NewWithContext(ctx, reg, authenticator(auth), base, nil)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("login to %s failed: %w: %w", host, err, errdefs.ErrUnauthenticated)
		}
		return fmt.Errorf("login to %s: %w", host, err)
	}

	// A registry with basic authentication checks them on a request.
	scheme := "https"
	if s.isInsecure(host) {
		scheme = reg.Scheme()
	}
	endpoint := url.URL{Scheme: scheme, Host: reg.RegistryStr(), Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint.String(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("login attempt to %s failed with status: %s: %w", endpoint.String(), resp.Status, errdefs.ErrUnauthenticated)
	default:
		return fmt.Errorf("login attempt to %s failed with status: %s", endpoint.String(), resp.Status)
	}
}
