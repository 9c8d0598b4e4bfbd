package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/moby/moby/api/types/registry"
)

// IndexServer is the key under which Docker's config file stores the
// credentials of Docker Hub.
const IndexServer = "https://index.docker.io/v1/"

// ConfigFile loads the client configuration file, config.json in Docker's
// format, from --config, $DOCKER_CONFIG or ~/.docker. A missing file is an
// empty configuration.
func (c *CLI) ConfigFile() (*configfile.ConfigFile, error) {
	dir := c.opts.ConfigDir
	if dir == "" {
		dir = config.Dir()
	}
	cf, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load client configuration from %s: %w", dir, err)
	}
	return cf, nil
}

// AuthKey returns the key under which the config file stores credentials
// for the registry host, such as "localhost:5000", or IndexServer for
// Docker Hub.
func AuthKey(host string) string {
	if host == "" || host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" {
		return IndexServer
	}
	return host
}

// RegistryAuth returns the X-Registry-Auth header for pulling or pushing
// ref: the stored credentials of its registry, encoded as Docker clients
// encode them, or "" when there are none.
func (c *CLI) RegistryAuth(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	cf, err := c.ConfigFile()
	if err != nil {
		return "", err
	}
	key := AuthKey(reference.Domain(named))
	stored, err := cf.GetAuthConfig(key)
	if err != nil {
		return "", fmt.Errorf("read credentials for %s: %w", key, err)
	}
	if stored.Username == "" && stored.IdentityToken == "" && stored.RegistryToken == "" {
		return "", nil
	}
	return EncodeAuth(registry.AuthConfig{
		Username:      stored.Username,
		Password:      stored.Password,
		ServerAddress: key,
		IdentityToken: stored.IdentityToken,
		RegistryToken: stored.RegistryToken,
	})
}

// AllRegistryAuths returns the stored credentials of every registry, keyed
// as the config file keys them, for the X-Registry-Config header of a
// build, which may pull from any registry.
func (c *CLI) AllRegistryAuths() (map[string]registry.AuthConfig, error) {
	cf, err := c.ConfigFile()
	if err != nil {
		return nil, err
	}
	stored, err := cf.GetAllCredentials()
	if err != nil {
		return nil, fmt.Errorf("read stored credentials: %w", err)
	}
	auths := make(map[string]registry.AuthConfig, len(stored))
	for key, a := range stored {
		auths[key] = registry.AuthConfig{
			Username:      a.Username,
			Password:      a.Password,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
	}
	return auths, nil
}

// EncodeAuth encodes auth for the X-Registry-Auth header: base64url JSON.
func EncodeAuth(auth registry.AuthConfig) (string, error) {
	data, err := json.Marshal(auth)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(data), nil
}
