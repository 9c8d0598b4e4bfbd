package cli

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultHost is the daemon socket used when neither -H nor the
// environment selects one.
const DefaultHost = "unix:///run/berth/berth.sock"

// Environment variables that select the daemon address, in order of
// precedence. DOCKER_HOST is honoured so that existing setups keep working.
const (
	EnvHost       = "BERTH_HOST"
	EnvDockerHost = "DOCKER_HOST"
)

// resolveHost picks the daemon address: the flag, then BERTH_HOST, then
// DOCKER_HOST, then DefaultHost.
func resolveHost(flag string, lookupEnv func(string) (string, bool)) string {
	if flag != "" {
		return flag
	}
	for _, name := range []string{EnvHost, EnvDockerHost} {
		if value, ok := lookupEnv(name); ok && value != "" {
			return value
		}
	}
	return DefaultHost
}

// connectionError rewrites the client's connection failure to name berth.
func connectionError(host string, err error) error {
	if strings.Contains(err.Error(), "permission denied") {
		return fmt.Errorf("permission denied while trying to connect to the berth daemon at %s", host)
	}
	//nolint:staticcheck // The capitalised sentence matches Docker's wording.
	return errors.New("Cannot connect to the berth daemon at " + host + ". Is the berth daemon running?")
}
