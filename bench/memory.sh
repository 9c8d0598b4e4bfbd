#!/bin/bash
# Starts N idle containers (default 20) under a private berth daemon and
# reports the proportional (PSS) and resident (RSS) memory of each shim and
# of the daemon, from /proc/PID/smaps_rollup.
#
# usage: bench/memory.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20}
PATH=$PATH:/usr/local/go/bin

work=$(mktemp -d /tmp/berth-bench-XXXXXX)
bridge=bm$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
sock=$work/exec/berth.sock
daemon_pid=
berth() { ./bin/berth -H "unix://$sock" "$@"; }
cleanup() {
	[ -n "$daemon_pid" ] && { berth rm -f $(berth ps -aq) >/dev/null 2>&1 || true; kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; }
	grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del "$bridge" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o bin/berth ./cmd/berth
scripts/busybox-rootfs.sh "$work/busybox.tar"
./bin/berth daemon -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
	--bridge "$bridge" --bip 10.254.78.1/24 >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
berth import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

for i in $(seq "$count"); do
	berth run -d --name "idle$i" busybox sleep 100000 >/dev/null
done
sleep 2

# kb PID FIELD: the field of smaps_rollup in kB
kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/smaps_rollup"; }
shim_pids=$(for f in "$work"/exec/containers/*/shim.pid; do [ -f "$f" ] && { cat "$f"; echo; }; done)
total_pss=0; total_rss=0; n=0
for pid in $shim_pids; do
	total_pss=$((total_pss + $(kb "$pid" Pss))); total_rss=$((total_rss + $(kb "$pid" Rss))); n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no shim processes found" >&2; exit 1; }
printf 'containers running: %d, shims: %d\n' "$count" "$n"
printf 'shim, mean per container: PSS %d kB, RSS %d kB\n' $((total_pss / n)) $((total_rss / n))
printf 'daemon: PSS %d kB, RSS %d kB\n' "$(kb "$daemon_pid" Pss)" "$(kb "$daemon_pid" Rss)"

# With DOCKER_SOCKET naming a Docker daemon that has a busybox:latest image,
# the same measurement for Docker's containerd shims, dockerd and containerd.
if [ -n "${DOCKER_SOCKET:-}" ]; then
	docker_cli() { docker -H "unix://$DOCKER_SOCKET" "$@"; }
	ids=$(for i in $(seq "$count"); do docker_cli run -d busybox sleep 100000; done)
	sleep 2
	total_pss=0; total_rss=0; n=0
	for pid in $(pgrep -f "containerd-shim.*-namespace moby"); do
		total_pss=$((total_pss + $(kb "$pid" Pss))); total_rss=$((total_rss + $(kb "$pid" Rss))); n=$((n + 1))
	done
	printf 'docker shim, mean of %d: PSS %d kB, RSS %d kB\n' "$n" $((total_pss / n)) $((total_rss / n))
	for name in dockerd containerd; do
		pid=$(pgrep -x "$name" | head -1)
		printf '%s: PSS %d kB, RSS %d kB\n' "$name" "$(kb "$pid" Pss)" "$(kb "$pid" Rss)"
	done
	docker_cli rm -f $ids >/dev/null
fi
