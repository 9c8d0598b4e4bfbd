#!/bin/sh
# Installs what berth needs on a Debian machine: the OCI runtime, the static
# busybox that base images are made from, ps for 'berth top', and the nft
# and ip tools used in tests and for debugging. berth itself programs
# nftables through netlink.
set -eu

packages="runc busybox-static nftables iptables iproute2 procps curl ca-certificates"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	echo "note: add /usr/local/go/bin to PATH" >&2
fi
