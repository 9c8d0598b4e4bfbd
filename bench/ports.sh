#!/bin/bash
# Measures HTTP throughput and latency through a published port against
# talking to the container's address directly, with wrk (-t2 -c32, keep-alive
# connections). The server is a small static Go HTTP server built by this
# script and run in a busybox-based container. Two responses are measured:
# "ok" (2 bytes, so the cost per request dominates) and 64 KiB (so bytes
# dominate). Each published port is reached through 127.0.0.1 and through
# the bridge's gateway address, the host's other local address.
#
# With DOCKER_SOCKET set, the script also starts its own dockerd (Debian's
# docker.io) listening there, in a network namespace of its own with private
# roots. It runs the same image there and measures the same paths inside
# that namespace. dockerd runs its userland proxy (docker-proxy) as it does
# by default, and that proxy carries the connections to 127.0.0.1.
#
# Prints the median requests per second, the transfer rate, the mean and
# 99th percentile latency of ROUNDS rounds for every path, and the median
# throughput ratio to the direct path of the same engine in the same round.
#
# usage: [DOCKER_SOCKET=/tmp/dp/docker.sock] bench/ports.sh [ROUNDS] [SECONDS]
#        (default 3 rounds, each wrk run 10 seconds long)
set -euo pipefail
runs=${1:-3}
seconds=${2:-10}
bip=10.236.41.1/24
gateway=${bip%/*}
docker_bip=10.236.43.1/24
docker_gateway=${docker_bip%/*}
berth_port=18741
docker_port=18742

command -v wrk >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null
if [ -n "${DOCKER_SOCKET:-}" ]; then
	command -v dockerd >/dev/null || { echo "dockerd missing: install Debian's docker.io" >&2; exit 1; }
	[ ! -e "$DOCKER_SOCKET" ] || { echo "$DOCKER_SOCKET exists: the script starts its own dockerd there" >&2; exit 1; }
fi

ns=bench-ports-$$
dockerd_pid=
teardown() {
	set +e
	if [ -n "$dockerd_pid" ]; then
		docker_cli rm -f $(docker_cli ps -aq) >/dev/null 2>&1
		kill "$dockerd_pid" 2>/dev/null
		for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$dockerd_pid" 2>/dev/null || true
		wait "$dockerd_pid" 2>/dev/null || true
		# the containerd that dockerd started, in case it outlived dockerd
		[ -f "$work/dk/exec/containerd/containerd.pid" ] && kill "$(cat "$work/dk/exec/containerd/containerd.pid")" 2>/dev/null
		grep -o " $work/dk[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
		rm -f "$DOCKER_SOCKET"
	fi
	ip netns del "$ns" 2>/dev/null || true
	cleanup
	nft delete table ip "berth-$bridge" 2>/dev/null || true
}

. "$(dirname "$0")/lib.sh"
trap teardown EXIT

# The server returns 64 KiB for /big and "ok" for every other path.
mkdir -p "$work/httpd"
cat >"$work/httpd/main.go" <<'EOF'
package main

import (
	"bytes"
	"net/http"
)

func main() {
	big := bytes.Repeat([]byte("x"), 64<<10)
	http.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write(big) })
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	panic(http.ListenAndServe(":8080", nil))
}
EOF
(cd "$work/httpd" && CGO_ENABLED=0 GOFLAGS= go build -o httpd main.go && rm main.go)
printf 'FROM busybox\nCOPY httpd /bin/httpd-bench\nEXPOSE 8080\nCMD ["/bin/httpd-bench"]\n' >"$work/httpd/Dockerfile"
berth build -q -t ports-bench:latest "$work/httpd" >/dev/null

berth run -d --name web -p "$berth_port:8080" ports-bench:latest >/dev/null
berth_ip=$(berth inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' web)
wait_for 10 curl -sf "http://$berth_ip:8080/"

if [ -n "${DOCKER_SOCKET:-}" ]; then
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	mkdir -p "$work/dk" "$(dirname "$DOCKER_SOCKET")"
	# nsenter rather than `ip netns exec`, which remounts /sys and hides the
	# cgroup mounts dockerd needs.
	nsenter --net="/run/netns/$ns" dockerd --data-root "$work/dk/data" --exec-root "$work/dk/exec" \
		-H "unix://$DOCKER_SOCKET" --pidfile "$work/dk/docker.pid" --bip "$docker_bip" \
		>"$work/dk/daemon.log" 2>&1 &
	dockerd_pid=$!
	docker_cli() { timeout 120 docker -H "unix://$DOCKER_SOCKET" "$@"; }
	wait_for 30 docker_cli version || { tail -20 "$work/dk/daemon.log" >&2; exit 1; }
	berth save ports-bench:latest | docker_cli load >/dev/null
	docker_cli run -d --name web -p "$docker_port:8080" ports-bench:latest >/dev/null
	docker_ip=$(docker_cli inspect -f '{{.NetworkSettings.IPAddress}}' web)
	wait_for 10 nsenter --net="/run/netns/$ns" curl -sf "http://$docker_ip:8080/"
fi

# to_ms VALUE: converts a wrk duration such as 812.00us, 1.20ms or 1.01s to
# milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}
# to_mib VALUE: converts a wrk rate such as 1.50MB or 812.00KB to MiB.
to_mib() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /GB$/) n *= 1024; else if (v ~ /KB$/) n /= 1024; else if (v ~ /MB$/) n *= 1; else n /= 1048576
		printf "%.1f", n
	}'
}

# wrk_once URL [NETNS]: runs wrk once against URL, in the network namespace
# NETNS if given, and prints "req/s MiB/s mean_ms p99_ms".
wrk_once() {
	local url=$1 out prefix=()
	[ -z "${2:-}" ] || prefix=(nsenter --net="/run/netns/$2")
	out=$(timeout $((seconds + 30)) ${prefix[@]+"${prefix[@]}"} wrk -t2 -c32 -d"${seconds}s" --latency "$url")
	if ! grep -q "^Requests/sec:" <<<"$out" || grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "wrk failed or reported errors for $url:" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" \
		"$(to_mib "$(awk '/^Transfer\/sec:/ {print $2}' <<<"$out")")" \
		"$(to_ms "$(awk '$1 == "Latency" {print $2; exit}' <<<"$out")")" \
		"$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
}

# Each target is "engine|label|URL path prefix|network namespace". The
# first target of an engine is its direct path, the reference of the
# engine's ratios.
targets=(
	"berth|container address|http://$berth_ip:8080|"
	"berth|published, 127.0.0.1|http://127.0.0.1:$berth_port|"
	"berth|published, gateway $gateway|http://$gateway:$berth_port|"
)
if [ -n "${DOCKER_SOCKET:-}" ]; then
	targets+=(
		"docker|container address|http://$docker_ip:8080|$ns"
		"docker|published, 127.0.0.1 (proxy)|http://127.0.0.1:$docker_port|$ns"
		"docker|published, gateway $docker_gateway|http://$docker_gateway:$docker_port|$ns"
	)
fi

# The machine is shared, so its load changes within seconds. Every round
# runs each target once, one after the other. A target's ratio is the
# median over the rounds of its req/s divided by the req/s of its engine's
# direct path in the same round, which cancels most of that drift.
printf '%-48s %10s %8s %9s %8s %8s\n' "path" "req/s" "MiB/s" "mean ms" "p99 ms" "x direct"
for path in / /big; do
	size="2 B"
	[ "$path" = / ] || size="64 KiB"
	declare -A rps=() mib=() mean=() p99=() ratio=()
	for _ in $(seq "$runs"); do
		declare -A direct=()
		for i in "${!targets[@]}"; do
			IFS='|' read -r engine label url netns <<<"${targets[$i]}"
			read -r r m l p <<<"$(wrk_once "$url$path" "$netns")"
			[ -n "${direct[$engine]:-}" ] || direct[$engine]=$r
			rps[$i]+=" $r"
			mib[$i]+=" $m"
			mean[$i]+=" $l"
			p99[$i]+=" $p"
			ratio[$i]+=" $(awk -v a="$r" -v b="${direct[$engine]}" 'BEGIN {printf "%.3f", a / b}')"
		done
	done
	for i in "${!targets[@]}"; do
		IFS='|' read -r engine label _ _ <<<"${targets[$i]}"
		printf '%-48s %10.0f %8s %9s %8s %8s\n' "$engine, $size: $label" \
			"$(median ${rps[$i]})" "$(median ${mib[$i]})" "$(median ${mean[$i]})" "$(median ${p99[$i]})" \
			"$(median ${ratio[$i]})"
	done
	unset rps mib mean p99 ratio
done
