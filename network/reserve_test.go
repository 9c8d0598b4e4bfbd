package network

import (
	"errors"
	"net/netip"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/network/portmap"
)

func TestReserveBindingRange(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	held, err := portmap.Reserve(portmap.TCP, netip.AddrPortFrom(loopback, 0))
	assert.NilError(t, err)
	defer held.Close()
	first := held.AddrPort().Port()

	r, err := reserveBinding(PortBinding{HostIP: loopback, HostPort: first, HostPortEnd: first + 2, Proto: portmap.TCP})
	if err != nil {
		t.Skipf("ports after %d are taken on this machine: %v", first, err)
	}
	defer r.Close()
	assert.Check(t, r.AddrPort().Port() > first, "the held first port is skipped")
	assert.Check(t, r.AddrPort().Port() <= first+2, "the port comes from the range")

	// Every port of a one-port range taken: the error names that port.
	_, err = reserveBinding(PortBinding{HostIP: loopback, HostPort: first, HostPortEnd: first, Proto: portmap.TCP})
	var bindErr *portmap.BindError
	assert.Check(t, errors.As(err, &bindErr), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "already allocated"))
}
