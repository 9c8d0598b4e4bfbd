#!/bin/sh
# Installs what berth needs on a Debian machine: the OCI runtime, the static
# busybox that base images are made from, ps for 'berth top', the nft and ip
# tools used in tests and for debugging, and the registry server that tests
# push to and pull from on 127.0.0.1. docker-compose 1.29 is there for the
# tests that run it against berth's Engine API. berth itself programs
# nftables through netlink.
set -eu

packages="runc busybox-static nftables iptables iproute2 procps curl ca-certificates docker-registry docker-compose"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
	case "$missing" in
	*docker-registry*)
		# The package enables a registry on every address, port 5000. Tests
		# start their own on 127.0.0.1, so the system one stays off.
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now docker-registry >/dev/null 2>&1 || true
		fi
		;;
	esac
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	echo "note: add /usr/local/go/bin to PATH" >&2
fi
