package container

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	containertypes "github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// containerHeaders returns the column titles of the container table, keyed
// by the row field.
func containerHeaders() map[string]string {
	return map[string]string{
		"ID":         "CONTAINER ID",
		"Image":      "IMAGE",
		"Command":    "COMMAND",
		"CreatedAt":  "CREATED AT",
		"RunningFor": "CREATED",
		"Ports":      "PORTS",
		"State":      "STATE",
		"Status":     "STATUS",
		"Size":       "SIZE",
		"Names":      "NAMES",
		"Labels":     "LABELS",
		"Mounts":     "MOUNTS",
		"Networks":   "NETWORKS",
	}
}

func defaultContainerTable(size bool) string {
	table := "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	if size {
		table += "\t{{.Size}}"
	}
	return table
}

// containerRow is one container as seen by --format templates.
type containerRow struct {
	summary containertypes.Summary
	trunc   bool
	now     time.Time
}

// MarshalJSON encodes every field for --format json.
func (r *containerRow) MarshalJSON() ([]byte, error) {
	return format.MarshalMethods(r)
}

// ID returns the container ID, shortened unless --no-trunc.
func (r *containerRow) ID() string {
	if r.trunc {
		return format.TruncateID(r.summary.ID)
	}
	return r.summary.ID
}

// Image returns the image as the user named it, or its short ID when it was
// created from an ID.
func (r *containerRow) Image() string {
	image := r.summary.Image
	if image == "" {
		return "<no image>"
	}
	if !r.trunc {
		return image
	}
	if strings.HasPrefix(image, "sha256:") || format.TruncateID(image) == format.TruncateID(r.summary.ImageID) {
		return format.TruncateID(image)
	}
	if named, err := reference.ParseNormalizedNamed(image); err == nil {
		return reference.FamiliarString(named)
	}
	return image
}

// Command returns the quoted command, cut to 20 characters unless
// --no-trunc.
func (r *containerRow) Command() string {
	command := r.summary.Command
	if r.trunc {
		command = format.Ellipsis(command, 20)
	}
	return strconv.Quote(command)
}

// CreatedAt returns the creation time.
func (r *containerRow) CreatedAt() string {
	return time.Unix(r.summary.Created, 0).String()
}

// RunningFor returns how long ago the container was created.
func (r *containerRow) RunningFor() string {
	return format.Ago(time.Unix(r.summary.Created, 0), r.now)
}

// Ports returns the published and exposed ports.
func (r *containerRow) Ports() string {
	return displayPorts(r.summary.Ports)
}

// State returns the state, such as "running".
func (r *containerRow) State() string {
	return string(r.summary.State)
}

// Status returns the daemon's status text, such as "Up 3 seconds".
func (r *containerRow) Status() string {
	if r.summary.Status == "" {
		return string(r.summary.State)
	}
	return r.summary.Status
}

// Size returns the size of the writable layer and of the whole root
// filesystem.
func (r *containerRow) Size() string {
	size := format.Size(r.summary.SizeRw)
	if r.summary.SizeRootFs > 0 {
		size += " (virtual " + format.Size(r.summary.SizeRootFs) + ")"
	}
	return size
}

// Names returns the names without their "/" prefix; truncated output shows
// only the first.
func (r *containerRow) Names() string {
	names := make([]string, 0, len(r.summary.Names))
	for _, name := range r.summary.Names {
		names = append(names, format.StripNamePrefix(name))
	}
	if r.trunc && len(names) > 1 {
		names = names[:1]
	}
	return strings.Join(names, ",")
}

// Labels returns the labels as sorted key=value pairs.
func (r *containerRow) Labels() string {
	pairs := make([]string, 0, len(r.summary.Labels))
	for key, value := range r.summary.Labels {
		pairs = append(pairs, key+"="+value)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// Label returns the value of one label.
func (r *containerRow) Label(name string) string {
	return r.summary.Labels[name]
}

// Mounts returns the mount names or sources.
func (r *containerRow) Mounts() string {
	mounts := make([]string, 0, len(r.summary.Mounts))
	for _, mount := range r.summary.Mounts {
		name := mount.Name
		if name == "" {
			name = mount.Source
		}
		if r.trunc {
			name = format.Ellipsis(name, 15)
		}
		mounts = append(mounts, name)
	}
	return strings.Join(mounts, ",")
}

// Networks returns the names of the attached networks.
func (r *containerRow) Networks() string {
	if r.summary.NetworkSettings == nil {
		return ""
	}
	names := make([]string, 0, len(r.summary.NetworkSettings.Networks))
	for name := range r.summary.NetworkSettings.Networks {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// portGroup is a run of consecutive container ports that share a protocol
// and, when published, a host address and equal host ports.
type portGroup struct {
	key         string // protocol, or "address/protocol" when published
	first, last uint16
}

func (g portGroup) String() string {
	ip, proto, published := strings.Cut(g.key, "/")
	if !published {
		return portRange(g.first, g.last) + "/" + g.key
	}
	ports := portRange(g.first, g.last)
	return fmt.Sprintf("%s->%s/%s", net.JoinHostPort(ip, ports), ports, proto)
}

// displayPorts renders ports as the PORTS column of Docker's CLI (version
// 28) does, for example "9000-9001/udp, 0.0.0.0:8080->80/tcp". The ports
// are sorted by container port, host address, host port and protocol. Ports
// that are unpublished or published on the same host port number are merged
// into ranges and listed first. Every port published on a different host
// port follows on its own, so "-p 8000-8001:80-81" lists two entries.
func displayPorts(ports []containertypes.PortSummary) string {
	sorted := slices.Clone(ports)
	slices.SortFunc(sorted, func(a, b containertypes.PortSummary) int {
		return cmp.Or(
			cmp.Compare(a.PrivatePort, b.PrivatePort),
			a.IP.Compare(b.IP),
			cmp.Compare(a.PublicPort, b.PublicPort),
			cmp.Compare(a.Type, b.Type),
		)
	})

	var parts, mappings []string
	var keys []string // in the order each key's first group started
	open := map[string]*portGroup{}
	for _, port := range sorted {
		key := port.Type
		if port.IP.IsValid() {
			if port.PublicPort != port.PrivatePort {
				host := net.JoinHostPort(port.IP.String(), strconv.Itoa(int(port.PublicPort)))
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", host, port.PrivatePort, port.Type))
				continue
			}
			key = port.IP.String() + "/" + port.Type
		}

		group, ok := open[key]
		switch {
		case !ok:
			keys = append(keys, key)
		case port.PrivatePort == group.last+1:
			group.last = port.PrivatePort
			continue
		default:
			// A gap ends the group, which is listed before the groups
			// still open.
			parts = append(parts, group.String())
		}
		open[key] = &portGroup{key: key, first: port.PrivatePort, last: port.PrivatePort}
	}
	for _, key := range keys {
		parts = append(parts, open[key].String())
	}
	return strings.Join(append(parts, mappings...), ", ")
}

func portRange(first, last uint16) string {
	if first == last {
		return strconv.Itoa(int(first))
	}
	return fmt.Sprintf("%d-%d", first, last)
}
