package container

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// parseArgs parses a run or create command line with the real flag set and
// returns the create request.
func parseArgs(t *testing.T, args ...string) (*containerConfig, error) {
	t.Helper()
	var opts createOptions
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	flags.SetInterspersed(false)
	addCreateFlags(flags, &opts)
	assert.NilError(t, flags.Parse(args))

	positional := flags.Args()
	assert.Assert(t, len(positional) >= 1, "no image in %v", args)
	return parse(flags, &opts, positional[0], positional[1:])
}

func mustParseArgs(t *testing.T, args ...string) *containerConfig {
	t.Helper()
	cfg, err := parseArgs(t, args...)
	assert.NilError(t, err)
	return cfg
}

// portStrings renders port bindings as sorted "port=ip:hostport" strings,
// since network.Port values cannot be compared with go-cmp.
func portStrings(bindings network.PortMap) []string {
	var out []string
	for port, list := range bindings {
		for _, binding := range list {
			ip := ""
			if binding.HostIP.IsValid() {
				ip = binding.HostIP.String()
			}
			out = append(out, fmt.Sprintf("%s=%s:%s", port, ip, binding.HostPort))
		}
	}
	slices.Sort(out)
	return out
}

func exposedStrings(exposed network.PortSet) []string {
	var out []string
	for port := range exposed {
		out = append(out, port.String())
	}
	slices.Sort(out)
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	assert.NilError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestParseImageAndCommand(t *testing.T) {
	cfg := mustParseArgs(t, "--rm", "busybox", "sh", "-c", "echo hi", "--rm")

	assert.Equal(t, cfg.Config.Image, "busybox")
	assert.DeepEqual(t, cfg.Config.Cmd, []string{"sh", "-c", "echo hi", "--rm"})
	assert.Equal(t, cfg.HostConfig.AutoRemove, true)
}

func TestParseNoCommandKeepsImageDefault(t *testing.T) {
	cfg := mustParseArgs(t, "busybox")

	assert.Assert(t, cfg.Config.Cmd == nil)
	assert.Assert(t, cfg.Config.Entrypoint == nil)
}

func TestParsePublish(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		bindings []string
		exposed  []string
	}{
		{
			name:     "container port only",
			args:     []string{"-p", "80"},
			bindings: []string{"80/tcp=:"},
			exposed:  []string{"80/tcp"},
		},
		{
			name:     "host and container port",
			args:     []string{"-p", "8080:80"},
			bindings: []string{"80/tcp=:8080"},
			exposed:  []string{"80/tcp"},
		},
		{
			name:     "ip host container udp",
			args:     []string{"-p", "127.0.0.1:5353:53/udp"},
			bindings: []string{"53/udp=127.0.0.1:5353"},
			exposed:  []string{"53/udp"},
		},
		{
			name:     "ipv6 address",
			args:     []string{"-p", "[::1]:8080:80"},
			bindings: []string{"80/tcp=::1:8080"},
			exposed:  []string{"80/tcp"},
		},
		{
			name:     "ip without host port",
			args:     []string{"-p", "127.0.0.1::80"},
			bindings: []string{"80/tcp=127.0.0.1:"},
			exposed:  []string{"80/tcp"},
		},
		{
			name:     "ranges",
			args:     []string{"-p", "8000-8001:80-81/tcp"},
			bindings: []string{"80/tcp=:8000", "81/tcp=:8001"},
			exposed:  []string{"80/tcp", "81/tcp"},
		},
		{
			name:     "same port twice",
			args:     []string{"-p", "8080:80", "-p", "127.0.0.1:9090:80"},
			bindings: []string{"80/tcp=127.0.0.1:9090", "80/tcp=:8080"},
			exposed:  []string{"80/tcp"},
		},
		{
			name:    "expose range",
			args:    []string{"--expose", "7000-7002/udp"},
			exposed: []string{"7000/udp", "7001/udp", "7002/udp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParseArgs(t, append(tc.args, "busybox")...)

			assert.DeepEqual(t, portStrings(cfg.HostConfig.PortBindings), tc.bindings)
			assert.DeepEqual(t, exposedStrings(cfg.Config.ExposedPorts), tc.exposed)
		})
	}
}

func TestParsePublishInvalid(t *testing.T) {
	tests := []struct {
		name string
		spec string
	}{
		{name: "not a number", spec: "abc"},
		{name: "bad protocol", spec: "80/icmp"},
		{name: "bad ip", spec: "300.1.1.1:80:80"},
		{name: "mismatched ranges", spec: "8000-8002:80-81"},
		{name: "port too large", spec: "70000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseArgs(t, "-p", tc.spec, "busybox")

			assert.ErrorContains(t, err, "--publish")
		})
	}
}

func TestParsePublishAll(t *testing.T) {
	cfg := mustParseArgs(t, "-P", "busybox")

	assert.Equal(t, cfg.HostConfig.PublishAllPorts, true)
}

func TestParseEnv(t *testing.T) {
	t.Setenv("BT_FROM_CLIENT", "client value")
	envFile := writeFile(t, "env", "\ufeff# comment\n\nFILE_ONLY=1\n  INDENTED=yes \nBT_FROM_CLIENT\nBT_UNSET_IN_CLIENT\nSHARED=from-file\n")

	cfg := mustParseArgs(t,
		"--env-file", envFile,
		"-e", "SHARED=from-flag",
		"-e", "BT_FROM_CLIENT",
		"-e", "WITH_EQUALS=a=b",
		"busybox")

	assert.DeepEqual(t, cfg.Config.Env, []string{
		"FILE_ONLY=1",
		"INDENTED=yes ",
		"BT_FROM_CLIENT=client value",
		"BT_UNSET_IN_CLIENT",
		"SHARED=from-file",
		"SHARED=from-flag",
		"BT_FROM_CLIENT=client value",
		"WITH_EQUALS=a=b",
	})
}

func TestParseEnvInvalid(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		message string
	}{
		{name: "empty name flag", args: []string{"-e", "=value"}, message: "invalid environment variable"},
		{name: "whitespace in file key", args: []string{"--env-file", "BAD KEY=1"}, message: "contains whitespace"},
		{name: "empty name in file", args: []string{"--env-file", "=1"}, message: "no variable name"},
		{name: "missing file", args: []string{"--env-file", ""}, message: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Clone(tc.args)
			if args[0] == "--env-file" {
				if args[1] == "" {
					args[1] = filepath.Join(t.TempDir(), "missing")
				} else {
					args[1] = writeFile(t, "env", args[1]+"\n")
				}
			}

			_, err := parseArgs(t, append(args, "busybox")...)

			assert.ErrorContains(t, err, tc.message)
		})
	}
}

func TestParseLabels(t *testing.T) {
	labelFile := writeFile(t, "labels", "# labels\nteam=core\nflag\nshared=file\n")

	cfg := mustParseArgs(t, "--label-file", labelFile, "-l", "shared=flag", "--label", "a=b=c", "busybox")

	assert.DeepEqual(t, cfg.Config.Labels, map[string]string{
		"team":   "core",
		"flag":   "",
		"shared": "flag",
		"a":      "b=c",
	})
}

func TestParseRestartPolicy(t *testing.T) {
	tests := []struct {
		value   string
		want    containertypes.RestartPolicy
		message string
	}{
		{value: "no", want: containertypes.RestartPolicy{Name: "no"}},
		{value: "always", want: containertypes.RestartPolicy{Name: "always"}},
		{value: "unless-stopped", want: containertypes.RestartPolicy{Name: "unless-stopped"}},
		{value: "on-failure", want: containertypes.RestartPolicy{Name: "on-failure"}},
		{value: "on-failure:5", want: containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 5}},
		{value: "on-failure:-1", message: "non-negative integer"},
		{value: "always:3", message: "only be used with 'on-failure'"},
		{value: "sometimes", message: "invalid restart policy"},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := parseArgs(t, "--restart", tc.value, "busybox")
			if tc.message != "" {
				assert.ErrorContains(t, err, tc.message)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, cfg.HostConfig.RestartPolicy, tc.want)
		})
	}
}

func TestParseRestartWithRemove(t *testing.T) {
	_, err := parseArgs(t, "--rm", "--restart", "always", "busybox")
	assert.ErrorContains(t, err, "cannot specify both --restart and --rm")

	cfg, err := parseArgs(t, "--rm", "--restart", "no", "busybox")
	assert.NilError(t, err)
	assert.Equal(t, cfg.HostConfig.AutoRemove, true)
}

func TestParseResources(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		memory    int64
		nanoCPUs  int64
		pidsLimit *int64
		message   string
	}{
		{name: "memory megabytes", args: []string{"-m", "512m"}, memory: 512 * 1024 * 1024},
		{name: "memory gigabytes", args: []string{"--memory", "1g"}, memory: 1024 * 1024 * 1024},
		{name: "memory bytes", args: []string{"-m", "4194304"}, memory: 4194304},
		{name: "memory invalid", args: []string{"-m", "lots"}, message: "--memory"},
		{name: "cpus fraction", args: []string{"--cpus", "1.5"}, nanoCPUs: 1_500_000_000},
		{name: "cpus small", args: []string{"--cpus", "0.001"}, nanoCPUs: 1_000_000},
		{name: "cpus too precise", args: []string{"--cpus", "0.0000000001"}, message: "too precise"},
		{name: "cpus not a number", args: []string{"--cpus", "two"}, message: "not a decimal number"},
		{name: "cpus negative", args: []string{"--cpus", "-1"}, message: "negative"},
		{name: "pids limit", args: []string{"--pids-limit", "100"}, pidsLimit: ptr(int64(100))},
		{name: "pids unlimited", args: []string{"--pids-limit", "-1"}, pidsLimit: ptr(int64(-1))},
		{name: "nothing set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseArgs(t, append(slices.Clone(tc.args), "busybox")...)
			if tc.message != "" {
				assert.ErrorContains(t, err, tc.message)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, cfg.HostConfig.Memory, tc.memory)
			assert.Equal(t, cfg.HostConfig.NanoCPUs, tc.nanoCPUs)
			assert.DeepEqual(t, cfg.HostConfig.PidsLimit, tc.pidsLimit)
		})
	}
}

func TestParseOptionalPointers(t *testing.T) {
	unset := mustParseArgs(t, "busybox")
	assert.Assert(t, unset.Config.StopTimeout == nil)
	assert.Assert(t, unset.HostConfig.Init == nil)
	assert.Assert(t, unset.Config.Entrypoint == nil)

	set := mustParseArgs(t, "--stop-timeout", "0", "--init", "--entrypoint", "", "busybox")
	assert.DeepEqual(t, set.Config.StopTimeout, ptr(0))
	assert.DeepEqual(t, set.HostConfig.Init, ptr(true))
	assert.DeepEqual(t, set.Config.Entrypoint, []string{""})
}

func TestParseSimpleFields(t *testing.T) {
	cfg := mustParseArgs(t,
		"--name", "web", "-w", "/srv", "-u", "1000:1000", "-h", "box",
		"--stop-signal", "SIGINT", "--network", "host", "--privileged", "--read-only",
		"-i", "-t", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD",
		"--add-host", "db:10.0.0.2",
		"busybox")

	assert.Equal(t, cfg.Config.WorkingDir, "/srv")
	assert.Equal(t, cfg.Config.User, "1000:1000")
	assert.Equal(t, cfg.Config.Hostname, "box")
	assert.Equal(t, cfg.Config.StopSignal, "SIGINT")
	assert.Equal(t, cfg.Config.OpenStdin, true)
	assert.Equal(t, cfg.Config.Tty, true)
	assert.Equal(t, cfg.HostConfig.NetworkMode, containertypes.NetworkMode("host"))
	assert.Equal(t, cfg.HostConfig.Privileged, true)
	assert.Equal(t, cfg.HostConfig.ReadonlyRootfs, true)
	assert.DeepEqual(t, cfg.HostConfig.CapAdd, []string{"NET_ADMIN"})
	assert.DeepEqual(t, cfg.HostConfig.CapDrop, []string{"MKNOD"})
	assert.DeepEqual(t, cfg.HostConfig.ExtraHosts, []string{"db:10.0.0.2"})
}

func TestParseVolumes(t *testing.T) {
	cfg := mustParseArgs(t, "-v", "/srv/data:/data", "-v", "/etc/hosts:/etc/hosts:ro", "-v", "/scratch", "busybox")

	assert.DeepEqual(t, cfg.HostConfig.Binds, []string{"/srv/data:/data", "/etc/hosts:/etc/hosts:ro"})
	assert.DeepEqual(t, cfg.Config.Volumes, map[string]struct{}{"/scratch": {}})

	_, err := parseArgs(t, "-v", ":/data", "busybox")
	assert.Check(t, is.ErrorContains(err, "invalid volume specification"))
}

func ptr[T any](v T) *T { return &v }

func TestParseNetworkFlags(t *testing.T) {
	cfg := mustParseArgs(t, "--network", "front", "--network-alias", "web", "--network-alias", "www",
		"--ip", "10.230.0.9", "--mac-address", "02:42:aa:bb:cc:dd", "--dns", "192.0.2.53",
		"--dns-search", "example.test", "--dns-option", "ndots:2", "--link", "db:database", "busybox")
	assert.Check(t, is.Equal(string(cfg.HostConfig.NetworkMode), "front"))
	settings := cfg.NetworkingConfig.EndpointsConfig["front"]
	assert.Assert(t, settings != nil)
	assert.Check(t, is.DeepEqual(settings.Aliases, []string{"web", "www"}))
	assert.Check(t, is.Equal(settings.IPAMConfig.IPv4Address.String(), "10.230.0.9"))
	assert.Check(t, is.Equal(settings.MacAddress.String(), "02:42:aa:bb:cc:dd"))
	assert.Check(t, is.Equal(fmt.Sprint(cfg.HostConfig.DNS), "[192.0.2.53]"))
	assert.Check(t, is.DeepEqual(cfg.HostConfig.DNSSearch, []string{"example.test"}))
	assert.Check(t, is.DeepEqual(cfg.HostConfig.DNSOptions, []string{"ndots:2"}))
	assert.Check(t, is.DeepEqual(cfg.HostConfig.Links, []string{"db:database"}))

	cfg = mustParseArgs(t, "--network-alias", "web", "busybox")
	assert.Check(t, cfg.NetworkingConfig.EndpointsConfig["default"] != nil)

	_, err := parseArgs(t, "--ip", "not-an-ip", "busybox")
	assert.Check(t, is.ErrorContains(err, "invalid IPv4 address: not-an-ip"))
	_, err = parseArgs(t, "--dns", "nameserver", "busybox")
	assert.Check(t, is.ErrorContains(err, "nameserver is not an ip address"))
}
