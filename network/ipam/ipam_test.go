package ipam

import (
	"net/netip"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		gateway string
		wantErr string
	}{
		{name: "valid", subnet: "10.200.0.0/24", gateway: "10.200.0.1"},
		{name: "gateway not first", subnet: "10.200.0.0/24", gateway: "10.200.0.77"},
		{name: "unmasked subnet", subnet: "10.200.0.5/24", gateway: "10.200.0.1"},
		{name: "ipv6", subnet: "fd00::/64", gateway: "fd00::1", wantErr: "must be IPv4"},
		{name: "too small", subnet: "10.200.0.0/31", gateway: "10.200.0.1", wantErr: "30 or less"},
		{name: "gateway outside", subnet: "10.200.0.0/24", gateway: "10.201.0.1", wantErr: "must be a host address"},
		{name: "gateway is network", subnet: "10.200.0.0/24", gateway: "10.200.0.0", wantErr: "must be a host address"},
		{name: "gateway is broadcast", subnet: "10.200.0.0/24", gateway: "10.200.0.255", wantErr: "must be a host address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(netip.MustParsePrefix(tc.subnet), netip.MustParseAddr(tc.gateway))
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Check(t, errdefs.IsInvalidArgument(err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(a.Subnet(), netip.MustParsePrefix(tc.subnet).Masked()))
			assert.Check(t, is.Equal(a.Gateway(), netip.MustParseAddr(tc.gateway)))
		})
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name     string
		subnet   string
		gateway  string
		reserved []string
		last     string
		count    int
		want     []string
		wantErr  bool
	}{
		{
			name: "sequential after gateway", subnet: "10.200.0.0/24", gateway: "10.200.0.1",
			count: 3, want: []string{"10.200.0.2", "10.200.0.3", "10.200.0.4"},
		},
		{
			name: "skips gateway in the middle", subnet: "10.200.0.0/29", gateway: "10.200.0.3",
			count: 3, want: []string{"10.200.0.1", "10.200.0.2", "10.200.0.4"},
		},
		{
			name: "skips reserved", subnet: "10.200.0.0/24", gateway: "10.200.0.1",
			reserved: []string{"10.200.0.2", "10.200.0.4"},
			count:    2, want: []string{"10.200.0.3", "10.200.0.5"},
		},
		{
			name: "continues after last", subnet: "10.200.0.0/24", gateway: "10.200.0.1",
			last: "10.200.0.9", count: 1, want: []string{"10.200.0.10"},
		},
		{
			name: "wraps without broadcast", subnet: "10.200.0.0/29", gateway: "10.200.0.1",
			last: "10.200.0.5", count: 2, want: []string{"10.200.0.6", "10.200.0.2"},
		},
		{
			name: "last outside subnet starts over", subnet: "10.200.0.0/24", gateway: "10.200.0.1",
			last: "192.168.0.9", count: 1, want: []string{"10.200.0.2"},
		},
		{
			name: "slash 30 has one address", subnet: "10.200.0.0/30", gateway: "10.200.0.1",
			count: 2, want: []string{"10.200.0.2"}, wantErr: true,
		},
		{
			name: "exhausted", subnet: "10.200.0.0/29", gateway: "10.200.0.1",
			reserved: []string{"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.5", "10.200.0.6"},
			count:    1, wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(netip.MustParsePrefix(tc.subnet), netip.MustParseAddr(tc.gateway))
			assert.NilError(t, err)
			for _, r := range tc.reserved {
				assert.NilError(t, a.Reserve(netip.MustParseAddr(r)))
			}
			if tc.last != "" {
				a.SetLast(netip.MustParseAddr(tc.last))
			}

			var got []string
			var allocErr error
			for range tc.count {
				addr, err := a.Allocate()
				if err != nil {
					allocErr = err
					break
				}
				got = append(got, addr.String())
			}

			assert.Check(t, is.DeepEqual(got, tc.want))
			if tc.wantErr {
				assert.Check(t, errdefs.IsUnavailable(allocErr), "error: %v", allocErr)
			} else {
				assert.Check(t, is.Nil(allocErr))
			}
		})
	}
}

func TestReleaseReuse(t *testing.T) {
	a, err := New(netip.MustParsePrefix("10.200.0.0/29"), netip.MustParseAddr("10.200.0.1"))
	assert.NilError(t, err)

	for range 5 {
		_, err := a.Allocate()
		assert.NilError(t, err)
	}
	_, err = a.Allocate()
	assert.Check(t, errdefs.IsUnavailable(err))

	released := netip.MustParseAddr("10.200.0.4")
	a.Release(released)
	assert.Check(t, !a.Allocated(released))

	addr, err := a.Allocate()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(addr, released))
	assert.Check(t, a.Allocated(addr))
	assert.Check(t, is.Equal(a.Last(), released))
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		check   func(error) bool
		wantErr string
	}{
		{name: "host address", addr: "10.200.0.9"},
		{name: "gateway", addr: "10.200.0.1", check: errdefs.IsInvalidArgument, wantErr: "gateway"},
		{name: "network", addr: "10.200.0.0", check: errdefs.IsInvalidArgument, wantErr: "not a host address"},
		{name: "broadcast", addr: "10.200.0.255", check: errdefs.IsInvalidArgument, wantErr: "not a host address"},
		{name: "outside", addr: "10.201.0.9", check: errdefs.IsInvalidArgument, wantErr: "not a host address"},
		{name: "twice", addr: "10.200.0.7", check: errdefs.IsAlreadyExists, wantErr: "already allocated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(netip.MustParsePrefix("10.200.0.0/24"), netip.MustParseAddr("10.200.0.1"))
			assert.NilError(t, err)
			assert.NilError(t, a.Reserve(netip.MustParseAddr("10.200.0.7")))

			err = a.Reserve(netip.MustParseAddr(tc.addr))
			if tc.wantErr == "" {
				assert.NilError(t, err)
				assert.Check(t, a.Allocated(netip.MustParseAddr(tc.addr)))
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
			assert.Check(t, tc.check(err), "error: %v", err)
		})
	}
}

func TestFindFreeSubnet(t *testing.T) {
	tests := []struct {
		name  string
		inUse []string
		want  string
	}{
		{name: "nothing in use", want: "172.17.0.0/16"},
		{name: "default route ignored", inUse: []string{"0.0.0.0/0"}, want: "172.17.0.0/16"},
		{name: "docker0 in use", inUse: []string{"172.17.0.0/16"}, want: "172.18.0.0/16"},
		{name: "small route inside", inUse: []string{"172.17.5.0/24", "172.18.0.1/32"}, want: "172.19.0.0/16"},
		{name: "covering route", inUse: []string{"172.16.0.0/12"}, want: "192.168.0.0/20"},
		{
			name:  "covering route and first 192.168",
			inUse: []string{"172.16.0.0/12", "192.168.1.0/24"},
			want:  "192.168.16.0/20",
		},
		{name: "ipv6 ignored", inUse: []string{"::/0", "fd00::/8"}, want: "172.17.0.0/16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inUse []netip.Prefix
			for _, p := range tc.inUse {
				inUse = append(inUse, netip.MustParsePrefix(p))
			}

			got, err := FindFreeSubnet(DefaultPools(), inUse)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, netip.MustParsePrefix(tc.want)))
		})
	}
}

func TestFindFreeSubnetExhausted(t *testing.T) {
	inUse := []netip.Prefix{netip.MustParsePrefix("128.0.0.0/1")}

	_, err := FindFreeSubnet(DefaultPools(), inUse)
	assert.Check(t, errdefs.IsUnavailable(err), "error: %v", err)
}

func TestDefaultPools(t *testing.T) {
	pools := DefaultPools()

	assert.Check(t, is.Len(pools, 31))
	assert.Check(t, is.Equal(pools[0], netip.MustParsePrefix("172.17.0.0/16")))
	assert.Check(t, is.Equal(pools[14], netip.MustParsePrefix("172.31.0.0/16")))
	assert.Check(t, is.Equal(pools[15], netip.MustParsePrefix("192.168.0.0/20")))
	assert.Check(t, is.Equal(pools[30], netip.MustParsePrefix("192.168.240.0/20")))
	assert.Check(t, is.Equal(FirstHost(pools[15]), netip.MustParseAddr("192.168.0.1")))
}

func TestAllocatePool(t *testing.T) {
	a, err := New(netip.MustParsePrefix("10.230.0.0/16"), netip.MustParseAddr("10.230.0.1"))
	assert.NilError(t, err)
	assert.NilError(t, a.SetPool(netip.MustParsePrefix("10.230.5.0/30")))

	var got []string
	for range 4 {
		addr, err := a.Allocate()
		assert.NilError(t, err)
		got = append(got, addr.String())
	}
	assert.Check(t, is.DeepEqual(got, []string{"10.230.5.0", "10.230.5.1", "10.230.5.2", "10.230.5.3"}))
	_, err = a.Allocate()
	assert.Check(t, errdefs.IsUnavailable(err), "error: %v", err)

	// Static addresses may lie outside the pool.
	assert.Check(t, a.Reserve(netip.MustParseAddr("10.230.9.9")))
	assert.Check(t, errdefs.IsInvalidArgument(a.SetPool(netip.MustParsePrefix("10.231.0.0/24"))))
}
