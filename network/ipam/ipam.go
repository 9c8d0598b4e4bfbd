// Package ipam allocates IPv4 addresses for containers from one subnet and
// picks a free subnet for a bridge.
package ipam

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
)

// Allocator hands out the host addresses of one IPv4 subnet. It skips the
// network address, the broadcast address and the gateway.
//
// Allocation is sequential: it continues after the address allocated last and
// wraps around at the end of the subnet. A released address is thus reused as
// late as possible, so stale ARP or conntrack entries of a removed container
// rarely meet a new one. An Allocator is not safe for concurrent use.
type Allocator struct {
	subnet  netip.Prefix
	gateway netip.Addr
	pool    netip.Prefix // range of the addresses Allocate picks: the subnet unless SetPool narrowed it
	used    map[netip.Addr]struct{}
	last    netip.Addr
}

// New returns an empty allocator for subnet with gateway reserved. The subnet
// must be IPv4 with a prefix length of at most 30, and the gateway a host
// address inside it.
func New(subnet netip.Prefix, gateway netip.Addr) (*Allocator, error) {
	if err := validate(subnet, gateway); err != nil {
		return nil, err
	}

	return &Allocator{
		subnet:  subnet.Masked(),
		gateway: gateway,
		pool:    subnet.Masked(),
		used:    make(map[netip.Addr]struct{}),
	}, nil
}

// SetPool restricts Allocate to the addresses of pool, a prefix inside the
// subnet (Docker's --ip-range). Reserve still accepts every host address of
// the subnet, so static addresses may lie outside the pool.
func (a *Allocator) SetPool(pool netip.Prefix) error {
	pool = pool.Masked()
	if !pool.IsValid() || !pool.Addr().Is4() || pool.Bits() < a.subnet.Bits() || !a.subnet.Contains(pool.Addr()) {
		return fmt.Errorf("invalid IP range %s: must be inside subnet %s: %w", pool, a.subnet, errdefs.ErrInvalidArgument)
	}
	a.pool = pool
	return nil
}

func validate(subnet netip.Prefix, gateway netip.Addr) error {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return fmt.Errorf("invalid subnet %s: must be IPv4: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if subnet.Bits() > 30 {
		return fmt.Errorf("invalid subnet %s: prefix length must be 30 or less: %w",
			subnet, errdefs.ErrInvalidArgument)
	}
	subnet = subnet.Masked()
	if !subnet.Contains(gateway) || gateway == subnet.Addr() || gateway == broadcast(subnet) {
		return fmt.Errorf("invalid gateway %s: must be a host address in %s: %w",
			gateway, subnet, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Subnet returns the subnet addresses are allocated from.
func (a *Allocator) Subnet() netip.Prefix {
	return a.subnet
}

// Gateway returns the reserved gateway address.
func (a *Allocator) Gateway() netip.Addr {
	return a.gateway
}

// Last returns the address allocated last, the position the next search
// starts after. It is the zero Addr before the first allocation.
func (a *Allocator) Last() netip.Addr {
	return a.last
}

// SetLast moves the search position, for example to the value of Last saved
// before a restart. An address outside the subnet resets it to the start.
func (a *Allocator) SetLast(addr netip.Addr) {
	if !a.subnet.Contains(addr) {
		a.last = netip.Addr{}
		return
	}
	a.last = addr
}

// Allocate reserves and returns the next free address. When every host
// address is in use it returns an error wrapping errdefs.ErrUnavailable.
func (a *Allocator) Allocate() (netip.Addr, error) {
	first := a.pool.Addr()
	if first == a.subnet.Addr() {
		first = first.Next()
	}
	// end is the first address after the search range: the pool's last
	// address unless that is the subnet's broadcast address.
	end := broadcast(a.pool).Next()
	if broadcast(a.pool) == broadcast(a.subnet) {
		end = broadcast(a.subnet)
	}
	if !first.Less(end) {
		return netip.Addr{}, fmt.Errorf("allocate address in %s: the range has no host addresses: %w",
			a.pool, errdefs.ErrUnavailable)
	}

	start := first
	if a.last.IsValid() && first.Less(a.last.Next()) && a.last.Next().Less(end) {
		start = a.last.Next()
	}

	addr := start
	for {
		if a.free(addr) {
			a.used[addr] = struct{}{}
			a.last = addr
			return addr, nil
		}

		addr = addr.Next()
		if addr == end {
			addr = first
		}
		if addr == start {
			return netip.Addr{}, fmt.Errorf("allocate address in %s: all %d addresses are in use: %w",
				a.pool, len(a.used), errdefs.ErrUnavailable)
		}
	}
}

func (a *Allocator) free(addr netip.Addr) bool {
	if addr == a.gateway {
		return false
	}
	_, used := a.used[addr]
	return !used
}

// Reserve marks addr as allocated, for example to restore allocations saved
// before a restart. It returns an error wrapping errdefs.ErrInvalidArgument
// for an address that is not a host address of the subnet or is the gateway,
// and errdefs.ErrAlreadyExists for an address already allocated.
func (a *Allocator) Reserve(addr netip.Addr) error {
	if !a.subnet.Contains(addr) || addr == a.subnet.Addr() || addr == broadcast(a.subnet) {
		return fmt.Errorf("reserve address %s: not a host address in %s: %w",
			addr, a.subnet, errdefs.ErrInvalidArgument)
	}
	if addr == a.gateway {
		return fmt.Errorf("reserve address %s: it is the gateway: %w", addr, errdefs.ErrInvalidArgument)
	}
	if _, used := a.used[addr]; used {
		return fmt.Errorf("reserve address %s: already allocated: %w", addr, errdefs.ErrAlreadyExists)
	}

	a.used[addr] = struct{}{}
	return nil
}

// Release returns addr to the free addresses. Releasing an address that is
// not allocated does nothing.
func (a *Allocator) Release(addr netip.Addr) {
	delete(a.used, addr)
}

// Allocated reports whether addr is allocated.
func (a *Allocator) Allocated(addr netip.Addr) bool {
	_, used := a.used[addr]
	return used
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	hostBits := 32 - p.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	return netip.AddrFrom4(b)
}
