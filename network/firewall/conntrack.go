package firewall

import (
	"context"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/log"
)

// forgetUDPFlows deletes the conntrack entries of UDP flows to the host ports
// of mappings. A client that sent to a host port before its DNAT rule existed
// has an entry without NAT. The kernel keeps using that entry as long as the
// client sends within the UDP timeout (30 s unreplied), so the flow would
// never reach the container. Deleting it makes the next datagram pass the
// DNAT rule. Failures are logged only, because the entries also expire on
// their own once the client pauses.
func forgetUDPFlows(ctx context.Context, mappings []PortMapping) {
	var filters []netlink.CustomConntrackFilter
	for _, m := range mappings {
		if m.Proto != "udp" {
			continue
		}
		f := &netlink.ConntrackFilter{}
		err := f.AddProtocol(unix.IPPROTO_UDP)
		if err == nil {
			err = f.AddPort(netlink.ConntrackOrigDstPort, m.HostPort)
		}
		if err == nil && m.HostIP.IsValid() && !m.HostIP.IsUnspecified() {
			err = f.AddIP(netlink.ConntrackOrigDstIP, m.HostIP.AsSlice())
		}
		if err != nil {
			log.FromContext(ctx).Warn("build conntrack filter for published UDP port",
				"port", m.HostPort, log.Err(err))
			continue
		}
		filters = append(filters, f)
	}
	if len(filters) == 0 {
		return
	}

	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		log.FromContext(ctx).Warn("delete conntrack entries of published UDP ports", log.Err(err))
		return
	}
	log.FromContext(ctx).Debug("deleted conntrack entries of published UDP ports", "entries", n)
}
