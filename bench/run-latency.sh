#!/bin/bash
# Times `berth run --rm busybox true` against `runc run` on a bundle of the
# same busybox root filesystem, and against `docker run --rm busybox true`
# when DOCKER_SOCKET names a Docker daemon's socket. Prints the median and
# the ratio to runc. Runs its own berth daemon with private roots.
#
# usage: bench/run-latency.sh [RUNS]      (default 30 runs each)
set -euo pipefail
runs=${1:-30}
bip=10.254.77.1/24
. "$(dirname "$0")/lib.sh"

# runc bundle of the same root filesystem, with its own network namespace
# like a berth container on the bridge has.
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/busybox.tar"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)

# A second bundle runs berth's own OCI spec (Docker's seccomp profile,
# capabilities, masked paths, cgroup), taken from a berth container, so the
# comparison also shows what the spec itself costs runc.
if command -v python3 >/dev/null 2>&1; then
	id=$(berth run -d busybox sleep 100)
	mkdir -p "$work/bundle-berth"
	python3 - "$work/exec/containers/$id/config.json" "$work/bundle-berth/config.json" "$work/bundle/rootfs" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["root"]["path"] = sys.argv[3]
spec["process"]["args"] = ["true"]
for ns in spec["linux"]["namespaces"]:
    ns.pop("path", None)
spec["mounts"] = [m for m in spec["mounts"] if not m["destination"].startswith("/etc/")]
spec["linux"]["cgroupsPath"] = "berth-bench/runc"
json.dump(spec, open(sys.argv[2], "w"))
PY
	berth rm -f "$id" >/dev/null
fi

# measure CMD...: runs CMD $runs times (after 2 warm-ups) and prints the median in ms
measure() {
	local times=() i start end
	for i in 1 2; do "$@" >/dev/null 2>&1; done
	for i in $(seq "$runs"); do
		start=$(date +%s%N)
		"$@" >/dev/null 2>&1
		end=$(date +%s%N)
		times+=($(((end - start) / 1000)))
	done
	awk -v us="$(median "${times[@]}")" 'BEGIN {printf "%.1f", us / 1000}'
}


runc_ms=$(measure runc --root "$work/runc" run --bundle "$work/bundle" bench-runc)
berth_ms=$(measure berth run --rm busybox true)
printf '%-34s %10s %8s\n' "command" "median ms" "x runc"
printf '%-34s %10s %8s\n' "runc run (runc spec)" "$runc_ms" "1.0"
if [ -f "$work/bundle-berth/config.json" ]; then
	spec_ms=$(measure runc --root "$work/runc" run --bundle "$work/bundle-berth" bench-runc)
	printf '%-34s %10s %8s\n' "runc run (berth spec)" "$spec_ms" "$(ratio "$spec_ms" "$runc_ms")"
fi
printf '%-34s %10s %8s\n' "berth run --rm" "$berth_ms" "$(ratio "$berth_ms" "$runc_ms")"
if [ -n "${DOCKER_SOCKET:-}" ]; then
	docker_ms=$(measure docker -H "unix://$DOCKER_SOCKET" run --rm busybox true)
	printf '%-34s %10s %8s\n' "docker run --rm" "$docker_ms" "$(ratio "$docker_ms" "$runc_ms")"
fi
