package engine

import (
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/network"
)

func testImage(cfg ocispec.ImageConfig) image.Image {
	return image.Image{Config: dockerspec.DockerOCIImage{
		Config: dockerspec.DockerOCIImageConfig{ImageConfig: cfg},
	}}
}

func TestMergeImageConfig(t *testing.T) {
	t.Parallel()
	img := testImage(ocispec.ImageConfig{
		Entrypoint:   []string{"/entry"},
		Cmd:          []string{"serve"},
		Env:          []string{"PATH=/bin", "MODE=image"},
		WorkingDir:   "/app",
		User:         "app",
		ExposedPorts: map[string]struct{}{"3000/tcp": {}},
		Labels:       map[string]string{"from": "image", "kept": "yes"},
		StopSignal:   "SIGQUIT",
	})

	cases := []struct {
		name           string
		request        container.Config
		wantEntrypoint []string
		wantCmd        []string
	}{
		{"image defaults", container.Config{}, []string{"/entry"}, []string{"serve"}},
		{"command replaces cmd", container.Config{Cmd: []string{"debug"}}, []string{"/entry"}, []string{"debug"}},
		{"entrypoint drops image cmd", container.Config{Entrypoint: []string{"sh"}}, []string{"sh"}, nil},
		{"entrypoint and command", container.Config{Entrypoint: []string{"sh"}, Cmd: []string{"-c", "true"}},
			[]string{"sh"}, []string{"-c", "true"}},
		{"empty entrypoint clears it", container.Config{Entrypoint: []string{""}, Cmd: []string{"ls"}}, nil, []string{"ls"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeImageConfig(&tc.request, img)
			assert.Check(t, is.DeepEqual(got.Entrypoint, tc.wantEntrypoint))
			assert.Check(t, is.DeepEqual(got.Cmd, tc.wantCmd))
			assert.Check(t, is.Equal(got.WorkingDir, "/app"))
			assert.Check(t, is.Equal(got.User, "app"))
			assert.Check(t, is.Equal(got.StopSignal, "SIGQUIT"))
		})
	}

	got := mergeImageConfig(&container.Config{
		Env:          []string{"MODE=run", "EXTRA=1"},
		Labels:       map[string]string{"from": "run"},
		ExposedPorts: mobynet.PortSet{mobynet.MustParsePort("8080/tcp"): {}},
		WorkingDir:   "/srv",
	}, img)
	assert.Check(t, is.DeepEqual(got.Env, []string{"PATH=/bin", "MODE=run", "EXTRA=1"}))
	assert.Check(t, is.DeepEqual(got.Labels, map[string]string{"from": "run", "kept": "yes"}))
	assert.Check(t, is.Len(got.ExposedPorts, 2))
	assert.Check(t, is.Equal(got.WorkingDir, "/srv"))
}

func TestParseHostPortRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in          string
		first, last uint16
		invalid     bool
	}{
		{in: "8000", first: 8000, last: 8000},
		{in: "0", first: 0, last: 0},
		{in: "8000-8010", first: 8000, last: 8010},
		{in: "65536", invalid: true},
		{in: "abc", invalid: true},
		{in: "9000-8000", invalid: true},
		{in: "8000-", invalid: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			first, last, err := parseHostPortRange(tc.in)
			if tc.invalid {
				assert.Check(t, err != nil)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(first, tc.first))
			assert.Check(t, is.Equal(last, tc.last))
		})
	}
}

func TestPortBindings(t *testing.T) {
	t.Parallel()
	web := mobynet.MustParsePort("80/tcp")
	dns := mobynet.MustParsePort("53/udp")
	metrics := mobynet.MustParsePort("9100/tcp")
	config := &container.Config{ExposedPorts: mobynet.PortSet{web: {}, dns: {}, metrics: {}}}
	hc := &container.HostConfig{
		PortBindings: mobynet.PortMap{
			web: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}},
			dns: {{HostPort: "5353"}},
		},
		PublishAllPorts: true,
	}

	got, err := portBindings(config, hc)
	assert.NilError(t, err)
	want := map[uint16]network.PortBinding{
		80:   {HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		53:   {HostPort: 5353, ContainerPort: 53, Proto: "udp"},
		9100: {ContainerPort: 9100, Proto: "tcp"},
	}
	assert.Check(t, is.Len(got, len(want)))
	for _, b := range got {
		w := want[b.ContainerPort]
		assert.Check(t, is.Equal(b.HostIP, w.HostIP), "port %d", b.ContainerPort)
		assert.Check(t, is.Equal(b.HostPort, w.HostPort), "port %d", b.ContainerPort)
		assert.Check(t, is.Equal(b.Proto, w.Proto), "port %d", b.ContainerPort)
	}

	_, err = portBindings(config, &container.HostConfig{PortBindings: mobynet.PortMap{web: {{HostPort: "x"}}}})
	assert.Check(t, is.ErrorContains(err, `invalid host port "x"`))
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	got := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4", "A", "UNSET"})
	assert.Check(t, is.DeepEqual(got, []string{"B=3", "C=4"}))
}

func TestBuildResolvConf(t *testing.T) {
	t.Parallel()
	host := []byte("# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nsearch example.test\noptions edns0\n")
	cases := []struct {
		name                     string
		hostNetwork, embedded    bool
		servers, search, options []string
		want                     string
	}{
		{name: "bridge drops loopback", want: "nameserver 192.0.2.53\nsearch example.test\noptions edns0\n"},
		{name: "host keeps loopback", hostNetwork: true,
			want: "nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nsearch example.test\noptions edns0\n"},
		{name: "embedded DNS", embedded: true,
			want: "nameserver 127.0.0.11\nsearch example.test\noptions edns0 ndots:0\n"},
		{name: "overrides", servers: []string{"192.0.2.1"}, search: []string{"a.test", "b.test"}, options: []string{"ndots:2"},
			want: "nameserver 192.0.2.1\nsearch a.test b.test\noptions ndots:2\n"},
		{name: "embedded keeps ndots option", embedded: true, search: []string{"."}, options: []string{"ndots:3"},
			want: "nameserver 127.0.0.11\noptions ndots:3\n"},
	}
	for _, tc := range cases {
		got := buildResolvConf(host, tc.hostNetwork, tc.embedded, tc.servers, tc.search, tc.options)
		assert.Check(t, is.Equal(string(got), tc.want), tc.name)
	}
}

func TestCheckHostConfigRestartPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy  container.RestartPolicy
		message string
	}{
		{container.RestartPolicy{Name: "unless-stopped"}, ""},
		{container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, ""},
		{container.RestartPolicy{Name: "bogus"},
			"invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{container.RestartPolicy{Name: "always", MaximumRetryCount: 2},
			"invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1},
			"invalid restart policy: maximum retry count cannot be negative"},
	}
	for _, tc := range cases {
		err := checkHostConfig(&container.HostConfig{RestartPolicy: tc.policy})
		if tc.message == "" {
			assert.Check(t, is.Nil(err), "policy %+v", tc.policy)
			continue
		}
		assert.Check(t, errdefs.IsInvalidArgument(err), "policy %+v: %v", tc.policy, err)
		assert.Check(t, is.ErrorContains(err, tc.message))
	}
}

func TestCheckPublishedPorts(t *testing.T) {
	t.Parallel()
	port := func(s string) mobynet.Port { return mobynet.MustParsePort(s) }
	tests := []struct {
		name    string
		exposed mobynet.PortSet
		hc      container.HostConfig
		want    error
	}{
		{
			name: "tcp and udp",
			hc: container.HostConfig{PortBindings: mobynet.PortMap{
				port("80/tcp"): {{HostPort: "8080"}},
				port("53/udp"): {{HostIP: netip.MustParseAddr("127.0.0.1")}},
			}},
		},
		{
			name: "sctp binding",
			hc:   container.HostConfig{PortBindings: mobynet.PortMap{port("80/sctp"): {{HostPort: "8080"}}}},
			want: errdefs.ErrNotImplemented,
		},
		{
			name:    "sctp exposed with publish all",
			exposed: mobynet.PortSet{port("80/sctp"): {}},
			hc:      container.HostConfig{PublishAllPorts: true},
			want:    errdefs.ErrNotImplemented,
		},
		{
			name:    "sctp exposed only",
			exposed: mobynet.PortSet{port("80/sctp"): {}},
		},
		{
			name: "ipv6 host address",
			hc: container.HostConfig{PortBindings: mobynet.PortMap{
				port("80/tcp"): {{HostIP: netip.MustParseAddr("::1"), HostPort: "8080"}},
			}},
			want: errdefs.ErrNotImplemented,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPublishedPorts(&container.Config{ExposedPorts: tc.exposed}, &tc.hc)
			if tc.want == nil {
				assert.NilError(t, err)
				return
			}
			assert.Check(t, is.ErrorIs(err, tc.want))
		})
	}
}
