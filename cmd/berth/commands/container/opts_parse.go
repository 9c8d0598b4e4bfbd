package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/docker/go-connections/nat"
	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// parsePorts converts -p and --expose values into the exposed port set and
// the port bindings. Every published port is exposed too.
func parsePorts(publish, expose []string) (network.PortSet, network.PortMap, error) {
	exposed := make(network.PortSet)
	bindings := make(network.PortMap)

	for _, spec := range publish {
		mappings, err := nat.ParsePortSpec(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid argument %q for \"-p, --publish\" flag: %w", spec, err)
		}
		for _, mapping := range mappings {
			port, err := network.ParsePort(string(mapping.Port))
			if err != nil {
				return nil, nil, fmt.Errorf("invalid argument %q for \"-p, --publish\" flag: %w", spec, err)
			}
			binding := network.PortBinding{HostPort: mapping.Binding.HostPort}
			if mapping.Binding.HostIP != "" {
				hostIP, err := netip.ParseAddr(mapping.Binding.HostIP)
				if err != nil {
					return nil, nil, fmt.Errorf("invalid argument %q for \"-p, --publish\" flag: %w", spec, err)
				}
				binding.HostIP = hostIP
			}
			exposed[port] = struct{}{}
			bindings[port] = append(bindings[port], binding)
		}
	}

	for _, spec := range expose {
		portRange, err := network.ParsePortRange(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid argument %q for \"--expose\" flag: %w", spec, err)
		}
		for port := range portRange.All() {
			exposed[port] = struct{}{}
		}
	}

	if len(exposed) == 0 {
		exposed = nil
	}
	if len(bindings) == 0 {
		bindings = nil
	}
	return exposed, bindings, nil
}

// readKVStrings reads KEY=VALUE lines from files, then appends values. With
// fromEnv, an entry without "=" takes its value from the client's
// environment when it is set there, as Docker's -e and --env-file do.
func readKVStrings(files, values []string, fromEnv bool) ([]string, error) {
	var out []string
	for _, file := range files {
		lines, err := readKVFile(file, fromEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	for _, value := range values {
		out = append(out, expandFromEnv(value, fromEnv))
	}
	return out, nil
}

// readKVFile parses an env or label file: one KEY=VALUE per line, blank
// lines and lines starting with "#" skipped, leading whitespace removed,
// values taken verbatim (no quotes or escapes are interpreted).
func readKVFile(path string, fromEnv bool) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var lines []string
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for lineNumber := 1; scanner.Scan(); lineNumber++ {
		line := strings.TrimLeftFunc(scanner.Text(), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}

		key, _, hasValue := strings.Cut(line, "=")
		if !hasValue {
			key = strings.TrimRightFunc(key, unicode.IsSpace)
		}
		if key == "" {
			return nil, fmt.Errorf("invalid line %d in %s: no variable name in %q", lineNumber, path, line)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("invalid line %d in %s: variable %q contains whitespace", lineNumber, path, key)
		}

		if hasValue {
			lines = append(lines, line)
			continue
		}
		lines = append(lines, expandFromEnv(key, fromEnv))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return lines, nil
}

// expandFromEnv turns a bare KEY into KEY=VALUE from the client's
// environment; it returns value unchanged when it has "=", when fromEnv is
// false, or when KEY is not set.
func expandFromEnv(value string, fromEnv bool) string {
	if !fromEnv || strings.Contains(value, "=") {
		return value
	}
	if envValue, ok := os.LookupEnv(value); ok {
		return value + "=" + envValue
	}
	return value
}

// validateEnv rejects an environment entry without a variable name.
func validateEnv(value string) error {
	key, _, _ := strings.Cut(value, "=")
	if key == "" {
		return fmt.Errorf("invalid environment variable: %q", value)
	}
	return nil
}

// labelsToMap converts KEY=VALUE strings into a map; a bare KEY maps to "".
func labelsToMap(values []string) map[string]string {
	if len(values) == 0 {
		return nil
	}
	labels := make(map[string]string, len(values))
	for _, value := range values {
		key, val, _ := strings.Cut(value, "=")
		labels[key] = val
	}
	return labels
}

// parseRestartPolicy parses --restart: no, always, unless-stopped or
// on-failure[:max-retries].
func parseRestartPolicy(value string) (containertypes.RestartPolicy, error) {
	var policy containertypes.RestartPolicy
	if value == "" {
		return policy, nil
	}

	name, count, hasCount := strings.Cut(value, ":")
	policy.Name = containertypes.RestartPolicyMode(name)

	switch policy.Name {
	case containertypes.RestartPolicyDisabled, containertypes.RestartPolicyAlways, containertypes.RestartPolicyUnlessStopped:
		if hasCount {
			return policy, fmt.Errorf("invalid restart policy %q: maximum retry count can only be used with 'on-failure'", value)
		}
	case containertypes.RestartPolicyOnFailure:
		if hasCount {
			retries, err := strconv.Atoi(count)
			if err != nil || retries < 0 {
				return policy, fmt.Errorf("invalid restart policy %q: maximum retry count must be a non-negative integer", value)
			}
			policy.MaximumRetryCount = retries
		}
	default:
		return policy, fmt.Errorf("invalid restart policy %q: use no, always, unless-stopped or on-failure[:max-retries]", value)
	}
	return policy, nil
}

// parseCPUs converts a decimal CPU count such as "1.5" into billionths of
// a CPU.
func parseCPUs(value string) (int64, error) {
	cpus, ok := new(big.Rat).SetString(value)
	if !ok {
		return 0, errors.New("not a decimal number")
	}
	if cpus.Sign() < 0 {
		return 0, errors.New("must not be negative")
	}
	nano := cpus.Mul(cpus, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, errors.New("value is too precise")
	}
	if !nano.Num().IsInt64() {
		return 0, errors.New("value is too large")
	}
	return nano.Num().Int64(), nil
}
