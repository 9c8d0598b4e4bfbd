#!/bin/bash
# Starts N idle containers (default 20) under a private berth daemon and
# reports the proportional (PSS) and resident (RSS) memory of each shim and
# of the daemon, from /proc/PID/smaps_rollup.
#
# usage: bench/memory.sh [N]
set -euo pipefail
count=${1:-20}
bip=10.254.78.1/24
. "$(dirname "$0")/lib.sh"

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
