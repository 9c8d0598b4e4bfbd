package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/atomicfile"
	"github.com/berth-engine/berth/network"
)

// writeEtcFiles writes the hosts, hostname and resolv.conf files that are
// bind-mounted into the container.
func (e *Engine) writeEtcFiles(c *ctr.Container) error {
	dir := e.containers.Dir(c.ID)
	hostname := c.Config.Hostname
	mode := primaryNetwork(c)
	if target, ok := strings.CutPrefix(mode, "container:"); ok {
		return e.copyEtcFiles(c, target)
	}
	if mode == network.HostNetwork {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}

	var servers []string
	for _, addr := range c.HostConfig.DNS {
		servers = append(servers, addr.String())
	}
	resolv, err := resolvConf(mode == network.HostNetwork, e.usesEmbeddedDNS(c), servers,
		c.HostConfig.DNSSearch, c.HostConfig.DNSOptions)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"hosts":       []byte(e.hostsFile(c)),
		"hostname":    []byte(hostname + "\n"),
		"resolv.conf": resolv,
	}
	for name, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s of container %s: %w", name, c.ID, err)
		}
	}
	return nil
}

// usesEmbeddedDNS reports whether the container is on a user-defined
// network, where resolv.conf names the embedded DNS server.
func (e *Engine) usesEmbeddedDNS(c *ctr.Container) bool {
	for name := range c.Networks {
		switch name {
		case network.BridgeNetwork, network.HostNetwork, network.NoneNetwork:
		default:
			return true
		}
	}
	return false
}

// hostsFile returns the container's /etc/hosts: the loopback entries, the
// --add-host entries, the --link entries and the container's own address
// with its hostname, in the order Docker Engine writes them.
func (e *Engine) hostsFile(c *ctr.Container) string {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	hosts.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, entry := range c.HostConfig.ExtraHosts {
		// Docker accepts "host:ip" and "host=ip", and an IPv6 address contains colons.
		host, ip, ok := strings.Cut(entry, "=")
		if !ok {
			host, ip, _ = strings.Cut(entry, ":")
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, host)
	}
	for _, link := range c.HostConfig.Links {
		if line := e.linkEntry(link); line != "" {
			hosts.WriteString(line)
		}
	}

	var own netip.Prefix
	if c.Network != nil && c.Network.IPAddress.IsValid() {
		own = c.Network.IPAddress
	} else {
		for _, name := range orderedNetworks(c) {
			if att := c.Networks[name]; att.IPAddress.IsValid() {
				own = att.IPAddress
				break
			}
		}
	}
	if own.IsValid() {
		fmt.Fprintf(&hosts, "%s\t%s\n", own.Addr(), c.Config.Hostname)
	}
	return hosts.String()
}

// linkEntry returns the hosts line of a --link NAME[:ALIAS] to a running
// container on the default bridge, "ADDRESS\tALIAS ID NAME", or "" when
// that container has no address there.
func (e *Engine) linkEntry(link string) string {
	name, alias, _ := strings.Cut(link, ":")
	name = strings.TrimPrefix(name, "/")
	if i := strings.LastIndex(alias, "/"); i >= 0 {
		// The API form is "/target:/container/alias".
		alias = alias[i+1:]
	}
	if alias == "" {
		alias = name
	}
	target, err := e.get(name)
	if err != nil {
		return ""
	}
	target.Lock()
	defer target.Unlock()
	att := target.Networks[network.BridgeNetwork]
	if att == nil || !att.IPAddress.IsValid() || !target.State.IsRunning() {
		return ""
	}
	names := []string{alias}
	for _, n := range []string{target.ID[:12], target.Name} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return fmt.Sprintf("%s\t%s\n", att.IPAddress.Addr(), strings.Join(names, " "))
}

// resolvConf returns the container's resolv.conf. It starts from the host's
// file, keeps loopback nameservers only in the host's namespace and names
// the embedded DNS server instead on user-defined networks. --dns,
// --dns-search and --dns-option replace the host's nameservers, search
// domains and options.
func resolvConf(hostNetwork, embeddedDNS bool, servers, search, options []string) ([]byte, error) {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return buildResolvConf(data, hostNetwork, embeddedDNS, servers, search, options), nil
}

// buildResolvConf returns the resolv.conf for a container from the host's
// file, data (see resolvConf). Comments are dropped.
func buildResolvConf(data []byte, hostNetwork, embeddedDNS bool, servers, search, options []string) []byte {
	var hostServers, hostSearch, hostOptions, other []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				continue
			}
			if addr, err := netip.ParseAddr(fields[1]); err == nil && addr.IsLoopback() && !hostNetwork {
				continue
			}
			hostServers = append(hostServers, fields[1])
		case "search", "domain":
			hostSearch = fields[1:]
		case "options":
			hostOptions = append(hostOptions, fields[1:]...)
		default:
			other = append(other, line)
		}
	}
	if len(servers) == 0 {
		servers = hostServers
	}
	if len(search) == 0 {
		search = hostSearch
	}
	if len(options) == 0 {
		options = hostOptions
	}
	if embeddedDNS {
		// The embedded server forwards other names to the host's
		// nameservers. Docker Engine sets ndots:0 unless an option sets it.
		servers = []string{network.DNSAddress}
		if !slices.ContainsFunc(options, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
			options = append(slices.Clone(options), "ndots:0")
		}
	}

	var out strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&out, "nameserver %s\n", s)
	}
	// A search of "." alone clears the search list, as in Docker.
	if len(search) > 0 && !(len(search) == 1 && search[0] == ".") {
		fmt.Fprintf(&out, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&out, "options %s\n", strings.Join(options, " "))
	}
	for _, line := range other {
		out.WriteString(line + "\n")
	}
	return []byte(out.String())
}

// copyEtcFiles gives a container in network mode container:TARGET the
// hosts, hostname and resolv.conf files of TARGET, as Docker Engine does.
func (e *Engine) copyEtcFiles(c *ctr.Container, target string) error {
	t, err := e.get(target)
	if err != nil {
		return err
	}
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		data, err := os.ReadFile(filepath.Join(e.containers.Dir(t.ID), name))
		if err != nil {
			return fmt.Errorf("read %s of container %s: %w", name, t.ID, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(e.containers.Dir(c.ID), name), data, 0o644); err != nil {
			return fmt.Errorf("write %s of container %s: %w", name, c.ID, err)
		}
	}
	return nil
}
