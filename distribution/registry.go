// Package distribution moves images between the image store and registries
// that speak the OCI distribution API: pull, push and login. Registry
// traffic goes through go-containerregistry.
//
// Connections follow Docker's rules. Registries on loopback addresses and
// those named as insecure may use plain HTTP. Every other registry is
// reached over TLS, verified against the system's roots and the CA
// certificates in <certs-dir>/<host>/*.crt, with a client certificate from
// <host>/*.cert and *.key when one is there.
package distribution

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/image"
)

// DefaultCertsDir is the directory of per-registry certificates that Docker,
// and berth, read.
const DefaultCertsDir = "/etc/docker/certs.d"

// Config configures a Service.
type Config struct {
	// InsecureRegistries are hosts ("myregistry:5000") and CIDR ranges
	// ("10.0.0.0/8") that may be reached over plain HTTP or TLS without
	// verification. Loopback addresses and localhost always may.
	InsecureRegistries []string

	// CertsDir holds per-registry certificates, DefaultCertsDir if empty.
	CertsDir string

	// UserAgent is sent with every registry request.
	UserAgent string
}

// Service pulls and pushes images between the image store and registries.
// It is safe for concurrent use.
type Service struct {
	images    *image.Store
	certsDir  string
	userAgent string
	insecure  []string
	cidrs     []netip.Prefix

	mu         sync.Mutex
	transports map[string]cachedTransport // by registry host
}

// cachedTransport is the transport of one registry host, built from the
// certificates directory in the state that certsState describes.
type cachedTransport struct {
	certsState string
	transport  *schemeGuard
}

// New returns a Service for the image store images. An entry of
// cfg.InsecureRegistries that is neither a host nor a CIDR range is an
// error wrapping errdefs.ErrInvalidArgument.
func New(images *image.Store, cfg Config) (*Service, error) {
	s := &Service{
		images:     images,
		certsDir:   cfg.CertsDir,
		userAgent:  cfg.UserAgent,
		transports: map[string]cachedTransport{},
	}
	if s.certsDir == "" {
		s.certsDir = DefaultCertsDir
	}
	for _, entry := range cfg.InsecureRegistries {
		if prefix, err := netip.ParsePrefix(entry); err == nil {
			s.cidrs = append(s.cidrs, prefix.Masked())
			continue
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(entry, "http://"), "https://"), "/")
		if host == "" || strings.ContainsAny(host, "/ ") {
			return nil, fmt.Errorf("%w: invalid insecure registry %q: give a host[:port] or a CIDR range",
				errdefs.ErrInvalidArgument, entry)
		}
		s.insecure = append(s.insecure, host)
	}
	return s, nil
}

// isInsecure reports whether the registry host (with optional port) may be
// reached over plain HTTP.
func (s *Service) isInsecure(host string) bool {
	for _, h := range s.insecure {
		if h == host {
			return true
		}
	}
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	if hostname == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(hostname)
	if err != nil {
		return false
	}
	if addr.IsLoopback() {
		return true
	}
	for _, prefix := range s.cidrs {
		if prefix.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// parseReference parses ref as Docker does ("busybox" is
// docker.io/library/busybox:latest) and returns it in Docker's normalized
// form with the go-containerregistry reference for it.
func (s *Service) parseReference(ref string) (reference.Named, name.Reference, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: invalid reference format %q: %w", errdefs.ErrInvalidArgument, ref, err)
	}
	named = reference.TagNameOnly(named)

	var opts []name.Option
	if s.isInsecure(reference.Domain(named)) {
		opts = append(opts, name.Insecure)
	}
	var target name.Reference
	if canonical, ok := named.(reference.Canonical); ok {
		target, err = name.NewDigest(reference.TrimNamed(named).String()+"@"+canonical.Digest().String(), opts...)
	} else {
		target, err = name.NewTag(named.String(), opts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: invalid reference format %q: %w", errdefs.ErrInvalidArgument, ref, err)
	}
	return named, target, nil
}

// transport returns the HTTP transport for the registry host. A transport
// is reused until the host's certificates directory changes, so CA and
// client certificates added while the daemon runs take effect on the next
// request, as they do in Docker.
func (s *Service) transport(host string) (http.RoundTripper, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	state, err := s.certsState(host)
	if err != nil {
		return nil, err
	}
	cached, ok := s.transports[host]
	if ok && cached.certsState == state {
		return cached.transport, nil
	}
	if ok {
		cached.transport.base.CloseIdleConnections()
	}
	tlsConfig, err := s.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConfig,
	}
	t := &schemeGuard{base: base, plainHTTP: s.isInsecure(host)}
	s.transports[host] = cachedTransport{certsState: state, transport: t}
	return t, nil
}

// certsState returns the names, sizes and modification times of the files
// in the certificates directory of host, empty when it does not exist.
func (s *Service) certsState(host string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(s.certsDir, host))
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read registry certificates: %w", err)
	}
	var state strings.Builder
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		fmt.Fprintf(&state, "%s %d %d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return state.String(), nil
}

// tlsConfig returns the TLS settings for host: the system roots plus the
// CA certificates of its certificates directory, a client certificate if
// there is one, and no verification for insecure registries.
func (s *Service) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.isInsecure(host)} //nolint:gosec // only for registries the user named insecure, as Docker does
	dir := filepath.Join(s.certsDir, host)
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read registry certificates: %w", err)
	}

	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read registry CA certificate: %w", err)
			}
			if !cfg.RootCAs.AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("%w: no PEM certificate in %s", errdefs.ErrInvalidArgument, path)
			}
		case strings.HasSuffix(e.Name(), ".cert"):
			keyPath := strings.TrimSuffix(path, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(path, keyPath)
			if err != nil {
				return nil, fmt.Errorf("load registry client certificate %s (key %s): %w", path, keyPath, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		}
	}
	return cfg, nil
}

// schemeGuard sends a request over plain HTTP only to a registry that may be
// reached that way. go-containerregistry also picks plain HTTP for private
// address ranges, which Docker reaches over TLS unless they are named
// insecure, so such requests are upgraded to HTTPS here.
type schemeGuard struct {
	base      *http.Transport
	plainHTTP bool
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.plainHTTP {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return g.base.RoundTrip(req)
}

// DecodeAuth decodes the X-Registry-Auth header: base64url-encoded JSON of
// an AuthConfig, as Docker clients send it. Empty means anonymous.
func DecodeAuth(header string) (registry.AuthConfig, error) {
	var cfg registry.AuthConfig
	if header == "" {
		return cfg, nil
	}
	data, err := base64.URLEncoding.DecodeString(header)
	if err != nil {
		// Some clients send standard base64 or leave out the padding.
		data, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "="))
	}
	if err != nil {
		if data, err = base64.StdEncoding.DecodeString(header); err != nil {
			return cfg, fmt.Errorf("%w: invalid X-Registry-Auth header: %w", errdefs.ErrInvalidArgument, err)
		}
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%w: invalid X-Registry-Auth header: %w", errdefs.ErrInvalidArgument, err)
	}
	return cfg, nil
}

// authenticator returns the credentials of cfg for go-containerregistry.
func authenticator(cfg registry.AuthConfig) authn.Authenticator {
	if cfg == (registry.AuthConfig{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      cfg.Username,
		Password:      cfg.Password,
		Auth:          cfg.Auth,
		IdentityToken: cfg.IdentityToken,
		RegistryToken: cfg.RegistryToken,
	})
}

// remoteOptions returns the go-containerregistry options for requests to
// the registry reg with the credentials auth.
func (s *Service) remoteOptions(ctx context.Context, reg name.Registry, auth registry.AuthConfig) ([]remote.Option, error) {
	t, err := s.transport(reg.RegistryStr())
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(t),
		remote.WithAuth(authenticator(auth)),
	}
	if s.userAgent != "" {
		opts = append(opts, remote.WithUserAgent(s.userAgent))
	}

	// One puller and one pusher per operation keep the authenticated
	// transport of each repository, so requests after the first skip the
	// registry ping and the token exchange.
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	return append(opts, remote.Reuse(puller), remote.Reuse(pusher)), nil
}
