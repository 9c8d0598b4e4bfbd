package network

// Embedded DNS: every container with an endpoint on a user-defined network
// gets a DNS server at 127.0.0.11:53 (UDP and TCP) inside its own network
// namespace, the address Docker uses, and its resolv.conf names it. The
// daemon opens the two sockets on a thread switched into the namespace.
// So they belong to that namespace, and the daemon serves them from its
// own goroutines. No NAT rule or extra process is needed, and the sockets close
// with the daemon. New opens them again for the endpoints it restores.
//
// The server answers from the Manager's endpoints at query time, so names
// follow connects, disconnects, starts and stops at once:
//   - A: a name, alias, short ID or hostname (see ConnectRequest.DNSNames) of
//     a container on one of the querying container's user-defined networks,
//     also as "NAME.NETWORK". Several containers with one name all answer,
//     and each query rotates their order (round robin).
//   - AAAA for such a name: an empty answer, because endpoints are IPv4 only.
//   - PTR for an endpoint address on those networks: "NAME.NETWORK.".
// Other queries go to the nameservers of the host's /etc/resolv.conf, sent
// from the host's namespace, so loopback resolvers such as systemd-resolved
// work too.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/berth-engine/berth/internal/log"
)

// DNSAddress is the address of the embedded DNS server in each container.
const DNSAddress = "127.0.0.11"

// dnsTTL is the TTL of records about containers, the value Docker uses.
const dnsTTL = 600

// forwardTimeout bounds one query to a host nameserver.
const forwardTimeout = 3 * time.Second

type dnsServer struct {
	udp       net.PacketConn
	tcp       net.Listener
	upstreams []string // host nameservers as host:port
}

// startDNSLocked starts the container's DNS server unless it runs. It
// forwards to upstreams, or to the host's nameservers when that is empty.
// The caller holds m.mu.
func (m *Manager) startDNSLocked(ctx context.Context, containerID, nsPath string, upstreams []string) error {
	if _, ok := m.dns[containerID]; ok {
		return nil
	}
	udp, tcp, err := listenInNetNS(nsPath, net.JoinHostPort(DNSAddress, "53"))
	if err != nil {
		return err
	}
	if len(upstreams) == 0 {
		upstreams = hostNameservers()
	}
	s := &dnsServer{udp: udp, tcp: tcp, upstreams: upstreams}
	m.dns[containerID] = s

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m.serveDNS(ctx, containerID, s, w, r)
	})
	for _, srv := range []*dns.Server{
		{PacketConn: udp, Handler: handler},
		{Listener: tcp, Handler: handler},
	} {
		go func() {
			// The error after Close is expected, so it is logged at debug
			// level only.
			if err := srv.ActivateAndServe(); err != nil {
				log.FromContext(ctx).Debug("embedded DNS server stopped", log.KeyContainer, containerID, log.Err(err))
			}
		}()
	}
	return nil
}

// stopDNSLocked closes the container's DNS sockets. The caller holds m.mu.
func (m *Manager) stopDNSLocked(containerID string) {
	s, ok := m.dns[containerID]
	if !ok {
		return
	}
	s.udp.Close()
	s.tcp.Close()
	delete(m.dns, containerID)
}

// listenInNetNS opens a UDP and a TCP socket on addr inside the namespace
// at nsPath.
func listenInNetNS(nsPath, addr string) (net.PacketConn, net.Listener, error) {
	type result struct {
		udp net.PacketConn
		tcp net.Listener
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()

		origin, err := netns.Get()
		if err != nil {
			r.err = fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer origin.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			r.err = fmt.Errorf("open network namespace %s: %w", nsPath, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			r.err = fmt.Errorf("enter network namespace %s: %w", nsPath, err)
			return
		}

		r.udp, r.err = net.ListenPacket("udp4", addr)
		if r.err == nil {
			r.tcp, r.err = net.Listen("tcp4", addr)
			if r.err != nil {
				r.udp.Close()
			}
		}
		if r.err != nil {
			r.err = fmt.Errorf("listen on %s in network namespace %s: %w", addr, nsPath, r.err)
		}
		// A thread that cannot switch back stays locked, so the runtime
		// ends it with this goroutine.
		if err := netns.Set(origin); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	r := <-done
	return r.udp, r.tcp, r.err
}

// hostNameservers returns the nameservers of the host's /etc/resolv.conf.
func hostNameservers() []string {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	return out
}

func (m *Manager) serveDNS(ctx context.Context, containerID string, s *dnsServer, w dns.ResponseWriter, r *dns.Msg) {
	defer w.Close()
	if len(r.Question) != 1 {
		reply := new(dns.Msg)
		reply.SetRcode(r, dns.RcodeFormatError)
		w.WriteMsg(reply)
		return
	}
	q := r.Question[0]

	reply := new(dns.Msg)
	reply.SetReply(r)
	reply.RecursionAvailable = true
	answered := false
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		// Only A queries advance the round robin, so that a client's A and
		// AAAA pair for one name moves the order by one.
		addrs := m.lookupName(containerID, q.Name, q.Qtype == dns.TypeA)
		if len(addrs) > 0 {
			answered = true
			if q.Qtype == dns.TypeA {
				for _, a := range addrs {
					reply.Answer = append(reply.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
						A:   a.AsSlice(),
					})
				}
			}
		}
	case dns.TypePTR:
		if name := m.lookupAddr(containerID, q.Name); name != "" {
			answered = true
			reply.Answer = append(reply.Answer, &dns.PTR{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: dnsTTL},
				Ptr: name,
			})
		}
	}
	if answered {
		w.WriteMsg(reply)
		return
	}

	if forwarded := forward(ctx, s.upstreams, w.LocalAddr().Network(), r); forwarded != nil {
		forwarded.Id = r.Id
		w.WriteMsg(forwarded)
		return
	}
	reply.SetRcode(r, dns.RcodeServerFailure)
	reply.RecursionAvailable = true
	w.WriteMsg(reply)
}

// forward sends r to the upstream nameservers in turn and returns the first
// response, or nil when none responded.
func forward(ctx context.Context, upstreams []string, network string, r *dns.Msg) *dns.Msg {
	client := &dns.Client{Net: "udp", Timeout: forwardTimeout}
	if network == "tcp" {
		client.Net = "tcp"
	}
	for _, upstream := range upstreams {
		reply, _, err := client.Exchange(r, upstream)
		if err == nil && reply != nil {
			return reply
		}
		log.FromContext(ctx).Debug("forward DNS query", "upstream", upstream, "name", r.Question[0].Name, log.Err(err))
	}
	return nil
}

// lookupName returns the addresses of the endpoints named name on the
// user-defined networks of the container. With rotate, each call moves
// their order by one position.
func (m *Manager) lookupName(containerID, name string, rotate bool) []netip.Addr {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return nil
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	var addrs []netip.Addr
	for _, n := range m.user {
		if _, ok := n.Endpoints[containerID]; !ok {
			continue
		}
		short := name
		if suffix := "." + strings.ToLower(n.Name); strings.HasSuffix(name, suffix) {
			short = strings.TrimSuffix(name, suffix)
		}
		if target := linkTarget(n.Endpoints[containerID].Links, name); target != "" {
			name, short = target, target
		}
		for _, ep := range n.Endpoints {
			for _, dnsName := range ep.DNSNames {
				if strings.EqualFold(dnsName, name) || strings.EqualFold(dnsName, short) {
					if a := ep.Address.Addr(); !slices.Contains(addrs, a) {
						addrs = append(addrs, a)
					}
					break
				}
			}
		}
	}
	if len(addrs) < 2 {
		return addrs
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	if rotate {
		m.dnsRotation++
	}
	shift := int(m.dnsRotation % uint64(len(addrs)))
	return append(addrs[shift:], addrs[:shift]...)
}

// linkTarget returns the TARGET of the legacy link "TARGET:ALIAS" whose
// ALIAS is name, or "".
func linkTarget(links []string, name string) string {
	for _, link := range links {
		target, alias, ok := strings.Cut(link, ":")
		if ok && strings.EqualFold(alias, name) {
			return strings.ToLower(strings.TrimPrefix(target, "/"))
		}
	}
	return ""
}

// lookupAddr returns "NAME.NETWORK." for a reverse name (in-addr.arpa) of
// an endpoint address on the container's user-defined networks, or "".
func (m *Manager) lookupAddr(containerID, reverse string) string {
	addr, ok := parseReverseName(reverse)
	if !ok {
		return ""
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	for _, n := range m.user {
		if _, ok := n.Endpoints[containerID]; !ok {
			continue
		}
		for _, ep := range n.Endpoints {
			if ep.Address.Addr() == addr && len(ep.DNSNames) > 0 {
				return ep.DNSNames[0] + "." + n.Name + "."
			}
		}
	}
	return ""
}

// parseReverseName reads an IPv4 address from "d.c.b.a.in-addr.arpa.".
func parseReverseName(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	slices.Reverse(parts)
	addr, err := netip.ParseAddr(strings.Join(parts, "."))
	if err != nil || !addr.Is4() {
		return netip.Addr{}, false
	}
	return addr, true
}
