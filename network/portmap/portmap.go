// Package portmap reserves host ports for published container ports.
//
// A reservation is a socket bound to the host address and port and held open.
// The socket never listens or reads: the packets to a published port are
// redirected to the container by DNAT rules before they reach it. The bound
// socket makes the kernel reject every other bind of the same port, so neither
// another process nor a second container can take it, and the kernel skips it
// when it picks ephemeral ports.
package portmap

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Protocols accepted by Reserve.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Reservation is a held host port.
type Reservation struct {
	proto string
	addr  netip.AddrPort
	fd    int
}

// Reserve binds a socket for proto ("tcp" or "udp") on addr and keeps it
// open until Close. Port 0 reserves a free port chosen by the kernel, which
// AddrPort then returns. The address must be IPv4; the unspecified address
// 0.0.0.0 reserves the port on every address.
//
// A port that is already bound fails with a *BindError wrapping
// errdefs.ErrConflict.
func Reserve(proto string, addr netip.AddrPort) (*Reservation, error) {
	sockType, err := socketType(proto)
	if err != nil {
		return nil, err
	}
	if !addr.Addr().Is4() {
		return nil, fmt.Errorf("reserve port %s/%s: only IPv4 addresses are supported: %w",
			addr, proto, errdefs.ErrNotImplemented)
	}

	fd, err := unix.Socket(unix.AF_INET, sockType|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reserve port %s/%s: create socket: %w", addr, proto, err)
	}

	// NOTE: SO_REUSEADDR stays off. With it, Linux would let another socket that
	// also sets it bind the same port while this one is not listening.
	sa := &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &BindError{Addr: addr, Proto: proto, Err: err}
	}

	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reserve port %s/%s: read bound address: %w", addr, proto, err)
	}
	port := bound.(*unix.SockaddrInet4).Port

	return &Reservation{
		proto: proto,
		addr:  netip.AddrPortFrom(addr.Addr(), uint16(port)),
		fd:    fd,
	}, nil
}

func socketType(proto string) (int, error) {
	switch proto {
	case TCP:
		return unix.SOCK_STREAM, nil
	case UDP:
		return unix.SOCK_DGRAM, nil
	default:
		return 0, fmt.Errorf("reserve port: unsupported protocol %q: use tcp or udp: %w",
			proto, errdefs.ErrNotImplemented)
	}
}

// Proto returns the reserved protocol, "tcp" or "udp".
func (r *Reservation) Proto() string {
	return r.proto
}

// AddrPort returns the reserved address and port, with the port the kernel
// chose when 0 was requested.
func (r *Reservation) AddrPort() netip.AddrPort {
	return r.addr
}

// Close releases the port. Closing twice does nothing.
func (r *Reservation) Close() error {
	if r.fd < 0 {
		return nil
	}

	err := unix.Close(r.fd)
	r.fd = -1
	if err != nil {
		return fmt.Errorf("release port %s/%s: %w", r.addr, r.proto, err)
	}
	return nil
}

// BindError reports a host port that could not be reserved. Its message uses
// Docker's wording, for example "Bind for 0.0.0.0:8000 failed: port is already
// allocated".
type BindError struct {
	Addr  netip.AddrPort
	Proto string
	Err   error
}

func (e *BindError) Error() string {
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		return fmt.Sprintf("Bind for %s failed: port is already allocated", e.Addr)
	}
	return fmt.Sprintf("Bind for %s failed: %s", e.Addr, strings.ToLower(e.Err.Error()))
}

// Unwrap returns the system error and, where one fits, the errdefs kind:
// ErrConflict for a port in use, ErrInvalidArgument for an address that is not
// local and ErrPermissionDenied for a privileged port without permission.
func (e *BindError) Unwrap() []error {
	switch {
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return []error{errdefs.ErrConflict, e.Err}
	case errors.Is(e.Err, syscall.EADDRNOTAVAIL):
		return []error{errdefs.ErrInvalidArgument, e.Err}
	case errors.Is(e.Err, syscall.EACCES):
		return []error{errdefs.ErrPermissionDenied, e.Err}
	default:
		return []error{e.Err}
	}
}
