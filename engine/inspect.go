package engine

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
)

// ContainerInspect returns the low-level view of a container.
func (e *Engine) ContainerInspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
	c, err := e.get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	c.Lock()
	defer c.Unlock()

	dir := e.containers.Dir(c.ID)
	config := *c.Config
	hostConfig := *c.HostConfig
	resp := container.InspectResponse{
		ID:             c.ID,
		Created:        c.Created.Format(time.RFC3339Nano),
		Path:           c.Path,
		Args:           nonNil(c.Args),
		State:          apiState(c),
		Image:          c.Image.String(),
		ResolvConfPath: dir + "/resolv.conf",
		HostnamePath:   dir + "/hostname",
		HostsPath:      dir + "/hosts",
		LogPath:        e.logPath(c.ID),
		Name:           "/" + c.Name,
		RestartCount:   c.RestartCount,
		Driver:         "overlay2",
		Platform:       "linux",
		HostConfig:     &hostConfig,
		Config:         &config,
		Mounts:         e.apiMountPoints(c),
		GraphDriver:    &storage.DriverData{Name: "overlay2", Data: map[string]string{}},
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*mobynet.EndpointSettings{},
			Ports:    mobynet.PortMap{},
		},
	}
	if hostConfig.NetworkMode == "" {
		resp.HostConfig.NetworkMode = "bridge"
	}
	if hostConfig.LogConfig.Type == "" {
		resp.HostConfig.LogConfig.Type = "json-file"
	}
	e.fillNetwork(c, resp.NetworkSettings)
	if size {
		rw, rootfs := e.containerSize(ctx, c)
		resp.SizeRw = &rw
		resp.SizeRootFs = &rootfs
	}
	return resp, nil
}

// containerSize returns the bytes in the writable layer of c and those
// bytes plus the size of its image. c must be locked. A size that cannot be
// measured is logged and counted as 0.
func (e *Engine) containerSize(ctx context.Context, c *ctr.Container) (rw, rootfs int64) {
	rw, err := e.snapshots.Size(ctx, c.SnapshotKey)
	if err != nil {
		log.FromContext(ctx).Warn("failed to measure writable layer of container", log.KeyContainer, c.ID, log.Err(err))
		rw = 0
	}
	img, err := e.images.Get(ctx, c.Image.String())
	if err != nil {
		log.FromContext(ctx).Warn("failed to measure image of container", log.KeyContainer, c.ID, log.KeyImage, c.Image.String(), log.Err(err))
		return rw, rw
	}
	return rw, rw + img.Size
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func apiState(c *ctr.Container) *container.State {
	s := c.State
	return &container.State{
		Status:     container.ContainerState(s.Status),
		Running:    s.Status == ctr.Running || s.Status == ctr.Paused,
		Paused:     s.Status == ctr.Paused,
		Restarting: s.Status == ctr.Restarting,
		OOMKilled:  s.OOMKilled,
		Dead:       s.Status == ctr.Dead,
		Pid:        s.Pid,
		ExitCode:   s.ExitCode,
		Error:      s.Error,
		StartedAt:  apiTime(s.StartedAt),
		FinishedAt: apiTime(s.FinishedAt),
		Health:     copyHealth(s.Health),
	}
}

// copyHealth returns a copy of h that the health monitor cannot change
// while the response is encoded.
func copyHealth(h *container.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := *h
	out.Log = make([]*container.HealthcheckResult, len(h.Log))
	for i, r := range h.Log {
		result := *r
		out.Log[i] = &result
	}
	return &out
}

// apiTime formats t as Docker does, with the zero time as 0001-01-01.
func apiTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (e *Engine) fillNetwork(c *ctr.Container, ns *container.NetworkSettings) {
	for name, att := range e.attachments(c) {
		ns.Networks[name] = endpointSettings(c, name, att)
	}
	ep := c.Network
	if ep == nil || !c.State.IsRunning() {
		return
	}
	for p, b := range ep.Ports {
		ns.Ports[p] = b
	}
}

// ContainerList returns the containers matching opts, newest first.
func (e *Engine) ContainerList(ctx context.Context, opts server.ContainerListOptions) ([]container.Summary, error) {
	filter, err := newContainerFilter(opts.Filters, func(ref string) (digest.Digest, bool) {
		img, err := e.images.Get(ctx, ref)
		return img.ID, err == nil
	})
	if err != nil {
		return nil, err
	}
	if err := filter.resolveContainers(func(ref string) (containerRef, error) {
		c, err := e.get(ref)
		if err != nil {
			return containerRef{}, err
		}
		c.Lock()
		defer c.Unlock()
		return containerRef{id: c.ID, created: c.Created}, nil
	}); err != nil {
		return nil, err
	}
	// As in Docker, a status filter and a limit (-n, -l) imply all.
	all := opts.All || opts.Limit > 0 || len(opts.Filters["status"]) > 0
	out := []container.Summary{}
	for _, c := range e.containers.List() {
		c.Lock()
		if c.Hidden || (!all && !c.State.IsRunning()) || !filter.match(c) {
			c.Unlock()
			continue
		}
		s := e.summary(ctx, c)
		if opts.Size {
			s.SizeRw, s.SizeRootFs = e.containerSize(ctx, c)
		}
		out = append(out, s)
		c.Unlock()
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
	}
	return out, nil
}

func (e *Engine) summary(ctx context.Context, c *ctr.Container) container.Summary {
	s := container.Summary{
		ID:      c.ID,
		Names:   []string{"/" + c.Name},
		Image:   e.imageDisplayName(ctx, c),
		ImageID: c.Image.String(),
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Created: c.Created.Unix(),
		Ports:   []container.PortSummary{},
		Labels:  c.Config.Labels,
		State:   container.ContainerState(c.State.Status),
		Status:  statusText(c),
		Mounts:  e.apiMountPoints(c),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if h := c.State.Health; h != nil {
		s.Health = &container.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	if s.HostConfig.NetworkMode == "" {
		s.HostConfig.NetworkMode = "bridge"
	}
	ns := &container.NetworkSettings{Networks: map[string]*mobynet.EndpointSettings{}, Ports: mobynet.PortMap{}}
	e.fillNetwork(c, ns)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: ns.Networks}
	for p, bindings := range ns.Ports {
		if len(bindings) == 0 {
			s.Ports = append(s.Ports, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bindings {
			var public uint16
			fmt.Sscan(b.HostPort, &public)
			ip := b.HostIP
			if !ip.IsValid() {
				ip = netip.IPv4Unspecified()
			}
			s.Ports = append(s.Ports, container.PortSummary{IP: ip, PrivatePort: p.Num(), PublicPort: public, Type: string(p.Proto())})
		}
	}
	sort.Slice(s.Ports, func(i, j int) bool { return s.Ports[i].PrivatePort < s.Ports[j].PrivatePort })
	return s
}

// imageDisplayName is the IMAGE column of `ps`: the name the container was
// created from while it still names the container's image, else the image
// ID, as Docker shows it.
func (e *Engine) imageDisplayName(ctx context.Context, c *ctr.Container) string {
	img, err := e.images.Get(ctx, c.ImageName)
	if err == nil && img.ID == c.Image {
		return c.ImageName
	}
	return c.Image.String()
}

// statusText is the STATUS column of `ps`: "Up 3 minutes", "Exited (0) 2
// hours ago", "Created".
func statusText(c *ctr.Container) string {
	s := c.State
	switch s.Status {
	case ctr.Running:
		up := "Up " + units.HumanDuration(time.Since(s.StartedAt))
		switch {
		case s.Health == nil:
			return up
		case s.Health.Status == container.Starting:
			return up + " (health: starting)"
		default:
			return up + " (" + string(s.Health.Status) + ")"
		}
	case ctr.Paused:
		return "Up " + units.HumanDuration(time.Since(s.StartedAt)) + " (Paused)"
	case ctr.Exited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(time.Since(s.FinishedAt)))
	case ctr.Created:
		return "Created"
	case ctr.Removing:
		return "Removal In Progress"
	case ctr.Dead:
		return "Dead"
	case ctr.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(time.Since(s.FinishedAt)))
	}
	return string(s.Status)
}

// containerFilter is the parsed `filters` query of a container listing.
type containerFilter struct {
	filters map[string][]string
	names   map[string]*regexp.Regexp
	// ancestors are the image IDs the ancestor values resolve to.
	ancestors map[string]digest.Digest
	// before and since are the containers that the before and since
	// values name, set by resolveContainers.
	before, since []containerRef
	// publish and expose are the parsed publish and expose values.
	publish, expose []mobynet.PortRange
}

var containerFilterKeys = map[string]bool{
	"id": true, "name": true, "label": true, "status": true, "ancestor": true, "exited": true,
	"before": true, "since": true, "publish": true, "expose": true, "network": true,
	"health": true, "is-task": true, "volume": true,
}

// healthStates are the values of the health filter.
var healthStates = map[string]bool{"none": true, "starting": true, "healthy": true, "unhealthy": true}

// containerRef is a container named by a before or since filter.
type containerRef struct {
	id      string
	created time.Time
}

// parsePortFilter parses the value of a publish or expose filter: a port or
// a range of ports, with an optional protocol ("80", "8000-8080/udp").
func parsePortFilter(key, value string) (mobynet.PortRange, error) {
	if strings.Contains(value, ":") {
		return mobynet.PortRange{}, fmt.Errorf("invalid filter '%s=%s': give a port or port range without ':': %w", key, value, errdefs.ErrInvalidArgument)
	}
	r, err := mobynet.ParsePortRange(value)
	if err != nil {
		return mobynet.PortRange{}, fmt.Errorf("invalid filter '%s=%s': %w: %w", key, value, err, errdefs.ErrInvalidArgument)
	}
	return r, nil
}

func portInRanges(ranges []mobynet.PortRange, num uint16, proto mobynet.IPProtocol) bool {
	for _, r := range ranges {
		if r.Proto() == proto && num >= r.Start() && num <= r.End() {
			return true
		}
	}
	return false
}

// newContainerFilter parses filters; resolve finds the image ID of an
// ancestor value.
func newContainerFilter(filters map[string][]string, resolve func(string) (digest.Digest, bool)) (*containerFilter, error) {
	for k := range filters {
		if !containerFilterKeys[k] {
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	for _, status := range filters["status"] {
		if !ctr.ValidStatus(status) {
			return nil, fmt.Errorf("invalid filter 'status=%s': %w", status, errdefs.ErrInvalidArgument)
		}
	}
	f := &containerFilter{filters: filters, names: map[string]*regexp.Regexp{}, ancestors: map[string]digest.Digest{}}
	for _, name := range filters["name"] {
		re, err := regexp.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("invalid filter 'name=%s': %w: %w", name, err, errdefs.ErrInvalidArgument)
		}
		f.names[name] = re
	}
	for _, ref := range filters["ancestor"] {
		if id, ok := resolve(ref); ok {
			f.ancestors[ref] = id
		}
	}
	for _, key := range []string{"publish", "expose"} {
		for _, v := range filters[key] {
			r, err := parsePortFilter(key, v)
			if err != nil {
				return nil, err
			}
			if key == "publish" {
				f.publish = append(f.publish, r)
			} else {
				f.expose = append(f.expose, r)
			}
		}
	}
	for _, v := range filters["health"] {
		if !healthStates[v] {
			return nil, fmt.Errorf("invalid filter 'health=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	for _, v := range filters["is-task"] {
		if v != "true" && v != "false" {
			return nil, fmt.Errorf("invalid filter 'is-task=%s': %w", v, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

// resolveContainers looks up the containers that the before and since
// values name. As in Docker, an unknown container is an error.
func (f *containerFilter) resolveContainers(lookup func(string) (containerRef, error)) error {
	for _, key := range []string{"before", "since"} {
		for _, v := range f.filters[key] {
			ref, err := lookup(v)
			if err != nil {
				return fmt.Errorf("filter '%s=%s': %w", key, v, err)
			}
			if key == "before" {
				f.before = append(f.before, ref)
			} else {
				f.since = append(f.since, ref)
			}
		}
	}
	return nil
}

// matchPorts reports whether a port of c is published on a host port in
// f.publish or is a container port in f.expose. As in Docker, a container
// matching either filter matches both, and only a running container has
// ports.
func (f *containerFilter) matchPorts(c *ctr.Container) bool {
	if c.Network == nil || !c.State.IsRunning() {
		return false
	}
	for p, bindings := range c.Network.Ports {
		if portInRanges(f.expose, p.Num(), p.Proto()) {
			return true
		}
		for _, b := range bindings {
			var public uint16
			if _, err := fmt.Sscan(b.HostPort, &public); err == nil && portInRanges(f.publish, public, p.Proto()) {
				return true
			}
		}
	}
	return false
}

func (f *containerFilter) match(c *ctr.Container) bool {
	if (len(f.publish) > 0 || len(f.expose) > 0) && !f.matchPorts(c) {
		return false
	}
	for _, ref := range f.before {
		if c.ID == ref.id || !c.Created.Before(ref.created) {
			return false
		}
	}
	for _, ref := range f.since {
		if c.ID == ref.id || !c.Created.After(ref.created) {
			return false
		}
	}
	for key, values := range f.filters {
		if len(values) == 0 {
			continue
		}
		switch key {
		case "publish", "expose", "before", "since":
			continue
		case "label":
			// As in Docker, a container must carry every label filtered
			// on, where other keys match any one of their values.
			for _, v := range values {
				if !f.matchOne(c, key, v) {
					return false
				}
			}
			continue
		}
		ok := false
		for _, v := range values {
			if f.matchOne(c, key, v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f *containerFilter) matchOne(c *ctr.Container, key, value string) bool {
	switch key {
	case "id":
		return strings.HasPrefix(c.ID, value)
	case "name":
		// As in Docker, the pattern is a regular expression matched against
		// the name with its leading slash.
		return f.names[value].MatchString("/" + c.Name)
	case "status":
		return string(c.State.Status) == value
	case "exited":
		return c.State.Status == ctr.Exited && fmt.Sprint(c.State.ExitCode) == value
	case "ancestor":
		if id, ok := f.ancestors[value]; ok && id == c.Image {
			return true
		}
		return c.ImageName == value || strings.HasPrefix(c.Image.Encoded(), strings.TrimPrefix(value, "sha256:"))
	case "label":
		k, v, hasValue := strings.Cut(value, "=")
		got, ok := c.Config.Labels[k]
		return ok && (!hasValue || got == v)
	case "network":
		for name, att := range c.Networks {
			if name == value || att.NetworkID == value {
				return true
			}
		}
		return c.Networks == nil && networkName(c) == value
	case "health":
		return healthStatus(c) == value
	case "is-task":
		// berth has no swarm tasks.
		return value == "false"
	case "volume":
		return usesVolume(c, value)
	}
	return false
}

// networkName is the name of the network in c's network mode, for records
// written before Container.Networks existed.
func networkName(c *ctr.Container) string {
	mode := string(c.HostConfig.NetworkMode)
	if mode == "" || mode == "default" {
		return "bridge"
	}
	return mode
}
