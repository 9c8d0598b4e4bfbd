package firewall

import (
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ctStatusDNAT is IPS_DST_NAT from linux/netfilter/nf_conntrack_common.h: the
// connection's destination was rewritten by DNAT.
const ctStatusDNAT uint32 = 1 << 5

// Offsets in the IPv4 and TCP/UDP headers.
const (
	ipv4SaddrOffset = 12
	ipv4DaddrOffset = 16
	l4DportOffset   = 2
)

// ifnameData returns name as the kernel compares interface names: NUL-padded
// to IFNAMSIZ bytes.
func ifnameData(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func matchIIFName(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(name)},
	}
}

func matchOIFName(op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifnameData(name)},
	}
}

// matchSourcePrefix matches "ip saddr <prefix>".
func matchSourcePrefix(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	network := p.Masked().Addr().As4()

	return []expr.Any{
		&expr.Payload{
			DestRegister: 1, Base: expr.PayloadBaseNetworkHeader,
			Offset: ipv4SaddrOffset, Len: 4,
		},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
	}
}

// matchDestination matches "ip daddr <addr>".
func matchDestination(addr netip.Addr) []expr.Any {
	b := addr.As4()
	return []expr.Any{
		&expr.Payload{
			DestRegister: 1, Base: expr.PayloadBaseNetworkHeader,
			Offset: ipv4DaddrOffset, Len: 4,
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
	}
}

// matchLocalDestination matches "fib daddr type local": packets to any
// address of this host.
func matchLocalDestination() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// matchDestinationPort matches "meta l4proto <proto> th dport <port>".
func matchDestinationPort(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{
			DestRegister: 1, Base: expr.PayloadBaseTransportHeader,
			Offset: l4DportOffset, Len: 2,
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// matchCtStatusDNAT matches "ct status dnat".
func matchCtStatusDNAT() []expr.Any {
	return matchCtBits(expr.CtKeySTATUS, ctStatusDNAT)
}

// matchCtStateEstablished matches "ct state established,related".
func matchCtStateEstablished() []expr.Any {
	return matchCtBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func matchCtBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// dnatTo rewrites the destination to addr:port ("dnat to addr:port").
func dnatTo(addr netip.Addr, port uint16) []expr.Any {
	b := addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: b[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{
			Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegProtoMin: 2, Specified: true,
		},
	}
}

func verdict(kind expr.VerdictKind) expr.Any {
	return &expr.Verdict{Kind: kind}
}

func jump(chain string) expr.Any {
	return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
}

// concat joins expression lists into one rule body.
func concat(parts ...[]expr.Any) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}
