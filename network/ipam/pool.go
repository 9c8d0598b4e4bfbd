package ipam

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
)

// DefaultPools returns the candidate bridge subnets in order of preference,
// the ranges Docker's default address pools use: 172.17.0.0/16 through
// 172.31.0.0/16, then 192.168.0.0/20 through 192.168.240.0/20.
func DefaultPools() []netip.Prefix {
	var pools []netip.Prefix
	for second := 17; second <= 31; second++ {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(second), 0, 0}), 16))
	}
	for third := 0; third < 256; third += 16 {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(third), 0}), 20))
	}
	return pools
}

// FindFreeSubnet returns the first candidate that overlaps none of the
// prefixes in use. Prefixes of length 0 (default routes) are ignored because
// they overlap everything. It returns an error wrapping errdefs.ErrUnavailable
// when every candidate overlaps.
func FindFreeSubnet(candidates, inUse []netip.Prefix) (netip.Prefix, error) {
	for _, candidate := range candidates {
		if !overlapsAny(candidate, inUse) {
			return candidate.Masked(), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("find free subnet: all %d candidates overlap host routes or addresses: %w",
		len(candidates), errdefs.ErrUnavailable)
}

func overlapsAny(candidate netip.Prefix, inUse []netip.Prefix) bool {
	for _, p := range inUse {
		if p.Bits() == 0 {
			continue
		}
		if candidate.Overlaps(p) {
			return true
		}
	}
	return false
}

// FirstHost returns the first host address of subnet, the conventional
// gateway address.
func FirstHost(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}
