package portmap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func TestReserveFreePort(t *testing.T) {
	for _, proto := range []string{TCP, UDP} {
		t.Run(proto, func(t *testing.T) {
			r, err := Reserve(proto, netip.AddrPortFrom(loopback, 0))
			assert.NilError(t, err)
			t.Cleanup(func() { r.Close() })

			assert.Check(t, r.AddrPort().Port() != 0)
			assert.Check(t, is.Equal(r.AddrPort().Addr(), loopback))
			assert.Check(t, is.Equal(r.Proto(), proto))
		})
	}
}

func TestReserveBlocksOtherBinds(t *testing.T) {
	r, err := Reserve(TCP, netip.AddrPortFrom(loopback, 0))
	assert.NilError(t, err)
	t.Cleanup(func() { r.Close() })

	// net.Listen sets SO_REUSEADDR, which must not get past the reservation.
	l, err := net.Listen("tcp4", r.AddrPort().String())
	if err == nil {
		l.Close()
	}
	assert.Check(t, err != nil, "listen on a reserved port succeeded")

	_, err = Reserve(TCP, netip.AddrPortFrom(netip.IPv4Unspecified(), r.AddrPort().Port()))
	assert.Check(t, errdefs.IsConflict(err), "error: %v", err)
}

func TestReserveConflict(t *testing.T) {
	tests := []struct {
		name  string
		proto string
		hold  func(t *testing.T) uint16
		addr  netip.Addr
	}{
		{
			name: "tcp listener on loopback", proto: TCP, addr: netip.IPv4Unspecified(),
			hold: func(t *testing.T) uint16 {
				l, err := net.Listen("tcp4", "127.0.0.1:0")
				assert.NilError(t, err)
				t.Cleanup(func() { l.Close() })
				return uint16(l.Addr().(*net.TCPAddr).Port)
			},
		},
		{
			name: "udp socket on any address", proto: UDP, addr: loopback,
			hold: func(t *testing.T) uint16 {
				c, err := net.ListenPacket("udp4", "0.0.0.0:0")
				assert.NilError(t, err)
				t.Cleanup(func() { c.Close() })
				return uint16(c.LocalAddr().(*net.UDPAddr).Port)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := tc.hold(t)

			_, err := Reserve(tc.proto, netip.AddrPortFrom(tc.addr, port))

			want := fmt.Sprintf("Bind for %s:%d failed: port is already allocated", tc.addr, port)
			assert.Check(t, is.Error(err, want))
			assert.Check(t, errdefs.IsConflict(err))
			var bindErr *BindError
			assert.Check(t, errors.As(err, &bindErr))
		})
	}
}

func TestReserveRelease(t *testing.T) {
	r, err := Reserve(TCP, netip.AddrPortFrom(loopback, 0))
	assert.NilError(t, err)
	addr := r.AddrPort()

	assert.NilError(t, r.Close())
	assert.NilError(t, r.Close())

	again, err := Reserve(TCP, addr)
	assert.NilError(t, err)
	assert.Check(t, again.Close())
}

func TestReserveInvalid(t *testing.T) {
	tests := []struct {
		name  string
		proto string
		addr  netip.AddrPort
		check func(error) bool
	}{
		{name: "sctp", proto: "sctp", addr: netip.AddrPortFrom(loopback, 0), check: errdefs.IsNotImplemented},
		{name: "ipv6", proto: TCP, addr: netip.AddrPortFrom(netip.IPv6Loopback(), 0), check: errdefs.IsNotImplemented},
		{
			name: "address not local", proto: TCP, check: errdefs.IsInvalidArgument,
			addr: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.254"), 0),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reserve(tc.proto, tc.addr)
			assert.Check(t, tc.check(err), "error: %v", err)
		})
	}
}
