package container

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"

	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

func TestDisplayPorts(t *testing.T) {
	any4 := netip.MustParseAddr("0.0.0.0")
	any6 := netip.MustParseAddr("::")
	local := netip.MustParseAddr("127.0.0.1")

	tests := []struct {
		name  string
		ports []containertypes.PortSummary
		want  string
	}{
		{name: "none", want: ""},
		{
			name:  "exposed only",
			ports: []containertypes.PortSummary{{PrivatePort: 80, Type: "tcp"}},
			want:  "80/tcp",
		},
		{
			name: "published on both families",
			ports: []containertypes.PortSummary{
				{IP: any6, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{IP: any4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
			},
			want: "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp",
		},
		{
			name: "published range",
			ports: []containertypes.PortSummary{
				{IP: local, PrivatePort: 81, PublicPort: 9001, Type: "tcp"},
				{IP: local, PrivatePort: 80, PublicPort: 9000, Type: "tcp"},
			},
			want: "127.0.0.1:9000->80/tcp, 127.0.0.1:9001->81/tcp",
		},
		{
			name: "same host and container ports",
			ports: []containertypes.PortSummary{
				{IP: any4, PrivatePort: 8081, PublicPort: 8081, Type: "tcp"},
				{IP: any4, PrivatePort: 8080, PublicPort: 8080, Type: "tcp"},
			},
			want: "0.0.0.0:8080-8081->8080-8081/tcp",
		},
		{
			name: "exposed before published",
			ports: []containertypes.PortSummary{
				{IP: any4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 9000, Type: "tcp"},
			},
			want: "9000/tcp, 0.0.0.0:8080->80/tcp",
		},
		{
			name: "exposed range and gap",
			ports: []containertypes.PortSummary{
				{PrivatePort: 7000, Type: "udp"},
				{PrivatePort: 7001, Type: "udp"},
				{PrivatePort: 7003, Type: "udp"},
			},
			want: "7000-7001/udp, 7003/udp",
		},
		{
			name: "host ports not consecutive",
			ports: []containertypes.PortSummary{
				{IP: any4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{IP: any4, PrivatePort: 81, PublicPort: 9000, Type: "tcp"},
			},
			want: "0.0.0.0:8080->80/tcp, 0.0.0.0:9000->81/tcp",
		},
		{
			name: "mixed protocols",
			ports: []containertypes.PortSummary{
				{PrivatePort: 53, Type: "udp"},
				{IP: any4, PrivatePort: 53, PublicPort: 5353, Type: "tcp"},
			},
			want: "53/udp, 0.0.0.0:5353->53/tcp",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, displayPorts(tc.ports), tc.want)
		})
	}
}

func testContainers(now time.Time) []containertypes.Summary {
	return []containertypes.Summary{
		{
			ID:      "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
			Names:   []string{"/web"},
			Image:   "docker.io/library/nginx:latest",
			ImageID: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
			Created: now.Add(-2 * time.Minute).Unix(),
			Ports:   []containertypes.PortSummary{{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}},
			State:   "running",
			Status:  "Up 2 minutes",
			Labels:  map[string]string{"tier": "front", "app": "shop"},
			SizeRw:  1200,
		},
		{
			ID:      "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e",
			Names:   []string{"/job"},
			Image:   "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			ImageID: "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			Command: "true",
			Created: now.Add(-3 * time.Hour).Unix(),
			State:   "exited",
			Status:  "Exited (0) 5 seconds ago",
		},
	}
}

func renderContainers(t *testing.T, formatText string, size, trunc bool) string {
	t.Helper()
	now := time.Now()
	var out bytes.Buffer
	writer, err := format.NewWriter(&out, formatText, defaultContainerTable(size), containerHeaders())
	assert.NilError(t, err)
	for _, summary := range testContainers(now) {
		assert.NilError(t, writer.Write(&containerRow{summary: summary, trunc: trunc, now: now}))
	}
	assert.NilError(t, writer.Flush())
	return out.String()
}

func TestContainerTableDefault(t *testing.T) {
	got := renderContainers(t, "", false, true)

	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                     PORTS                  NAMES\n" +
		"4c3b2a1f0e9d   nginx:latest   \"/docker-entrypoint.…\"   2 minutes ago   Up 2 minutes               0.0.0.0:8080->80/tcp   web\n" +
		"9f8e7d6c5b4a   222222222222   \"true\"                   3 hours ago     Exited (0) 5 seconds ago                          job\n"
	assert.Equal(t, got, want)
}

func TestContainerTableNoTrunc(t *testing.T) {
	got := renderContainers(t, "table {{.ID}}\t{{.Image}}\t{{.Command}}", false, false)

	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	assert.Equal(t, len(lines), 3)
	assert.Assert(t, strings.HasPrefix(lines[0], "CONTAINER ID"))
	assert.Assert(t, strings.Contains(lines[1], "4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"))
	assert.Assert(t, strings.Contains(lines[1], "docker.io/library/nginx:latest"))
	assert.Assert(t, strings.Contains(lines[1], `"/docker-entrypoint.sh nginx -g 'daemon off;'"`))
}

func TestContainerTableSize(t *testing.T) {
	got := renderContainers(t, "table {{.Names}}\t{{.Size}}", true, true)

	assert.Equal(t, got, "NAMES     SIZE\nweb       1.2kB\njob       0B\n")
}

func TestContainerRawTemplate(t *testing.T) {
	got := renderContainers(t, `{{.Names}}: {{.State}} {{.Label "tier"}} {{.Labels}}`, false, true)

	assert.Equal(t, got, "web: running front app=shop,tier=front\njob: exited  \n")
}

func TestContainerQuietFormat(t *testing.T) {
	got := renderContainers(t, containerFormat(&listOptions{quiet: true, format: "{{.Names}}"}), false, true)

	assert.Equal(t, got, "4c3b2a1f0e9d\n9f8e7d6c5b4a\n")
}

func TestContainerJSONFormat(t *testing.T) {
	got := renderContainers(t, "json", false, true)

	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	assert.Equal(t, len(lines), 2)
	assert.Assert(t, strings.Contains(lines[0], `"Names":"web"`), lines[0])
	assert.Assert(t, strings.Contains(lines[0], `"Ports":"0.0.0.0:8080->80/tcp"`), lines[0])
	assert.Assert(t, strings.Contains(lines[0], `"RunningFor":"2 minutes ago"`), lines[0])
}

func TestContainerTableHeaderWithoutRows(t *testing.T) {
	var out bytes.Buffer
	writer, err := format.NewWriter(&out, "", defaultContainerTable(false), containerHeaders())
	assert.NilError(t, err)
	assert.NilError(t, writer.Flush())

	assert.Equal(t, out.String(), "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n")
}

func TestBuildListOptions(t *testing.T) {
	tests := []struct {
		name   string
		opts   listOptions
		all    bool
		limit  int
		size   bool
		filter string
	}{
		{name: "defaults", opts: listOptions{last: -1}},
		{name: "all", opts: listOptions{all: true, last: -1}, all: true},
		{name: "latest", opts: listOptions{latest: true, last: -1}, all: true, limit: 1},
		{name: "last n", opts: listOptions{last: 3}, all: true, limit: 3},
		{name: "size from format", opts: listOptions{last: -1, format: "{{.Size}}"}, size: true},
		{name: "filters", opts: listOptions{last: -1, filters: []string{"status=exited", "Label=a=b"}}, filter: `{"label":{"a=b":true},"status":{"exited":true}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildListOptions(&tc.opts)
			assert.NilError(t, err)
			assert.Equal(t, got.All, tc.all)
			assert.Equal(t, got.Limit, tc.limit)
			assert.Equal(t, got.Size, tc.size)
			if tc.filter != "" {
				encoded, err := jsonString(got.Filters)
				assert.NilError(t, err)
				assert.Equal(t, encoded, tc.filter)
			}
		})
	}
}

func TestParseFiltersInvalid(t *testing.T) {
	for _, value := range []string{"status", "=exited"} {
		t.Run(value, func(t *testing.T) {
			_, err := ParseFilters([]string{value})
			assert.ErrorContains(t, err, "bad format of filter")
		})
	}
}

func jsonString(v any) (string, error) {
	data, err := json.Marshal(v)
	return string(data), err
}
