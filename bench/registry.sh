#!/bin/bash
# Times `berth push` and `berth pull` of a five-layer Debian image of about
# 220 MiB against a local registry (Debian's docker-registry), cold and warm,
# and the same `docker push` and `docker pull` against a reference dockerd
# when DOCKER_SOCKET is set. Prints the median of each and the ratio.
#
#   push cold  registry storage empty (wiped, registry restarted)
#   push warm  every blob in the registry already
#   pull cold  image, its layers and blobs removed locally (rmi)
#   pull warm  image present ("Image is up to date")
#
# The image is a debootstrap root filesystem (bookworm minbase with perl
# and python3, apt caches removed) cut into five layer tars of 27 to 53 MiB:
# /usr/lib/x86_64-linux-gnu, /usr/share, Perl's modules, /usr/bin and the
# rest. The root filesystem and the docker-archive tar made from it are
# built once and cached in $BENCH_CACHE (default /var/tmp/berth-bench).
# debootstrap fetches from the machine's Debian mirror. Both engines load the same archive, so both push
# the same layers, and both pull the image that berth pushed.
#
# With DOCKER_SOCKET set, the script starts its own dockerd (Debian's
# docker.io) listening there, in a network namespace of its own, with
# private roots. The registry listens on the host end of a veth pair into
# that namespace, and both daemons get it as --insecure-registry.
# Everything the script starts is stopped and removed on exit.
#
# usage: [DOCKER_SOCKET=/tmp/dk/docker.sock] bench/registry.sh [RUNS]   (default 3)
set -euo pipefail
runs=${1:-3}
cache=${BENCH_CACHE:-/var/tmp/berth-bench}
bip=10.237.92.1/24
host_addr=10.237.91.1 # host end of the veth; the namespace end is .2/30
registry=$host_addr:5000
repo=$registry/bench/debian:latest
berth_daemon_args=(--insecure-registry "$registry")
# BERTH_LOG names a file that receives berth's debug log at exit, and
# DOCKERD_LOG one that receives dockerd's log.
[ -z "${BERTH_LOG:-}" ] || berth_daemon_args+=(--debug)
# Seconds allowed for one push, pull or load before the run fails.
op_timeout=600

command -v docker-registry >/dev/null || { echo "docker-registry missing: run scripts/install-deps.sh" >&2; exit 1; }
if [ -n "${DOCKER_SOCKET:-}" ]; then
	command -v dockerd >/dev/null || { echo "dockerd missing: install Debian's docker.io" >&2; exit 1; }
	[ ! -e "$DOCKER_SOCKET" ] || { echo "$DOCKER_SOCKET exists: the script starts its own dockerd there" >&2; exit 1; }
fi

# build_archive DIR: makes DIR/debian.tar, a docker-archive of the cached
# debootstrap root filesystem in five layers.
build_archive() {
	local dir=$1 rootfs=$1/rootfs
	if [ ! -d "$rootfs" ]; then
		command -v debootstrap >/dev/null ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null
		rm -rf "$rootfs.tmp"
		timeout 1200 debootstrap --variant=minbase --include=perl,python3 \
			bookworm "$rootfs.tmp" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1
		rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/*_*
		mv "$rootfs.tmp" "$rootfs"
	fi

	local out=$dir/archive.tmp
	rm -rf "$out"
	mkdir -p "$out"
	# Layers after the first, in order, so that each parent directory is in
	# an earlier layer. Each leaves out the others' paths, and the first
	# layer has everything the others leave.
	local parts=("usr/lib/x86_64-linux-gnu" "usr/share" "usr/lib/x86_64-linux-gnu/perl usr/share/perl" "usr/bin")
	local diff_ids=() layers=() i j part p sum
	for i in 0 1 2 3 4; do
		local args=()
		for j in 1 2 3 4; do
			[ "$j" = "$i" ] && continue
			for p in ${parts[j - 1]}; do
				# tar would also leave out what is below an excluded path.
				[[ " ${parts[i - 1]:-} " == *" $p/"* ]] || args+=(--exclude="./$p")
			done
		done
		if [ "$i" = 0 ]; then
			args+=(.)
		else
			for p in ${parts[i - 1]}; do args+=("./$p"); done
		fi
		tar -C "$rootfs" --numeric-owner --xattrs -cf "$out/layer$i.tar" "${args[@]}"
	done

	# docker-archive layout: <diff ID>/layer.tar, <config digest>.json and
	# manifest.json.
	for i in 0 1 2 3 4; do
		sum=$(sha256sum "$out/layer$i.tar" | cut -d' ' -f1)
		mkdir "$out/$sum"
		mv "$out/layer$i.tar" "$out/$sum/layer.tar"
		diff_ids+=("\"sha256:$sum\"")
		layers+=("\"$sum/layer.tar\"")
	done

	local joined_ids joined_layers config
	joined_ids=$(IFS=,; echo "${diff_ids[*]}")
	joined_layers=$(IFS=,; echo "${layers[*]}")
	printf '{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Cmd":["bash"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$joined_ids" >"$out/config.json"
	config=$(sha256sum "$out/config.json" | cut -d' ' -f1)
	mv "$out/config.json" "$out/$config.json"
	printf '[{"Config":"%s.json","RepoTags":["bench/debian:latest"],"Layers":[%s]}]' "$config" "$joined_layers" >"$out/manifest.json"
	(cd "$out" && tar -cf "$dir/debian.tar.tmp" -- *)
	mv "$dir/debian.tar.tmp" "$dir/debian.tar"
	rm -rf "$out"
}
mkdir -p "$cache"
[ -f "$cache/debian.tar" ] || build_archive "$cache"

ns=bench-reg-$$
veth=vbr$$
registry_pid=
dockerd_pid=
teardown() {
	set +e
	if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
	if [ -n "$dockerd_pid" ]; then
		kill "$dockerd_pid" 2>/dev/null
		for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$dockerd_pid" 2>/dev/null || true
		wait "$dockerd_pid" 2>/dev/null || true
		# the containerd that dockerd started, in case it outlived dockerd
		[ -f "$work/dk/exec/containerd/containerd.pid" ] && kill "$(cat "$work/dk/exec/containerd/containerd.pid")" 2>/dev/null
		rm -f "$DOCKER_SOCKET"
	fi
	[ -z "${BERTH_LOG:-}" ] || cp "$work/daemon.log" "$BERTH_LOG"
	[ -z "${DOCKERD_LOG:-}" ] || cp "$work/dk/daemon.log" "$DOCKERD_LOG"
	ip link del "$veth" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	cleanup
	nft delete table ip "berth-$bridge" 2>/dev/null || true
}

. "$(dirname "$0")/lib.sh"
trap teardown EXIT

ip netns add "$ns"
ip link add "$veth" type veth peer name eth0 netns "$ns"
ip addr add "$host_addr/30" dev "$veth"
ip link set "$veth" up
ip -n "$ns" addr add 10.237.91.2/30 dev eth0
ip -n "$ns" link set eth0 up
ip -n "$ns" link set lo up

# elapsed_ms CMD...: runs CMD, fails if it fails, and prints its wall time in ms.
elapsed_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >"$work/last.out" 2>&1 || { echo "failed: $*" >&2; cat "$work/last.out" >&2; return 1; }
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  delete:
    enabled: true
http:
  addr: $registry
EOF
# restart_registry: starts the registry on empty storage.
restart_registry() {
	if [ -n "$registry_pid" ]; then kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; fi
	rm -rf "$work/registry/storage"
	docker-registry serve "$work/registry/config.yml" >>"$work/registry/log" 2>&1 &
	registry_pid=$!
	wait_for 10 curl -sf "http://$registry/v2/" || { tail -20 "$work/registry/log" >&2; exit 1; }
}
restart_registry

if [ -n "${DOCKER_SOCKET:-}" ]; then
	mkdir -p "$work/dk" "$(dirname "$DOCKER_SOCKET")"
	# nsenter rather than `ip netns exec`, which remounts /sys and hides the
	# cgroup mounts dockerd needs.
	nsenter --net="/run/netns/$ns" dockerd --data-root "$work/dk/data" --exec-root "$work/dk/exec" \
		-H "unix://$DOCKER_SOCKET" --pidfile "$work/dk/docker.pid" --bip 10.237.93.1/24 \
		--insecure-registry "$registry" >"$work/dk/daemon.log" 2>&1 &
	dockerd_pid=$!
	docker_cli() { timeout "$op_timeout" docker -H "unix://$DOCKER_SOCKET" "$@"; }
	wait_for 30 docker_cli version || { tail -20 "$work/dk/daemon.log" >&2; exit 1; }
	docker_load_ms=$(elapsed_ms docker_cli load -i "$cache/debian.tar")
	docker_cli tag bench/debian:latest "$repo"
fi
berth_cli() { timeout "$op_timeout" ./bin/berth -H "unix://$sock" "$@"; }
berth_load_ms=$(elapsed_ms berth_cli load -i "$cache/debian.tar")
berth tag bench/debian:latest "$repo"

# berth_layers_gone: checks that the data root has no layers and no blobs
# but the busybox image's one.
berth_layers_gone() {
	local layers blobs
	layers=$(find "$work/data" -path '*/layers/*' -name layer.json | wc -l)
	blobs=$(find "$work/data" -path '*/blobs/sha256/*' -type f | wc -l)
	[ "$layers" -le 1 ] || { echo "berth still has $layers layers after rmi" >&2; return 1; }
	# busybox: one layer blob, its config and manifest
	[ "$blobs" -le 3 ] || { echo "berth still has $blobs blobs after rmi" >&2; return 1; }
}

declare -A times
# measure_push ENGINE CLI...: one cold and one warm push of $repo.
measure_push() {
	local engine=$1
	shift
	restart_registry
	times[$engine.push_cold]+=" $(elapsed_ms "$@" push "$repo")"
	times[$engine.push_warm]+=" $(elapsed_ms "$@" push "$repo")"
	grep -q "Layer already exists" "$work/last.out" || { echo "$engine: warm push uploaded layers" >&2; return 1; }
}
# measure_pull ENGINE CLI...: rmi, then one cold and one warm pull of $repo.
measure_pull() {
	local engine=$1
	shift
	"$@" rmi "$repo" >/dev/null
	if [ "$engine" = berth ]; then berth_layers_gone; fi
	times[$engine.pull_cold]+=" $(elapsed_ms "$@" pull "$repo")"
	grep -q "Downloaded newer image" "$work/last.out" || { echo "$engine: cold pull found the image present" >&2; return 1; }
	times[$engine.pull_warm]+=" $(elapsed_ms "$@" pull "$repo")"
	grep -q "Image is up to date" "$work/last.out" || { echo "$engine: warm pull downloaded the image" >&2; return 1; }
}

for _ in $(seq "$runs"); do
	measure_push berth berth_cli
	[ -z "${DOCKER_SOCKET:-}" ] || measure_push docker docker_cli
done
# Both engines pull what berth pushed.
restart_registry
berth_cli push "$repo" >/dev/null
if [ -n "${DOCKER_SOCKET:-}" ]; then
	# The loaded image's tags other than $repo would keep its layers.
	docker_cli rmi bench/debian:latest >/dev/null
fi
berth_cli rmi bench/debian:latest >/dev/null
for _ in $(seq "$runs"); do
	measure_pull berth berth_cli
	[ -z "${DOCKER_SOCKET:-}" ] || measure_pull docker docker_cli
done

size_mb=$(du -m "$cache/debian.tar" | cut -f1)
compressed_mb=$(du -sm "$work/registry/storage" | cut -f1)
printf 'image: 5 layers, %d MiB uncompressed, %d MiB in the registry; median of %d runs\n' \
	"$size_mb" "$compressed_mb" "$runs"
printf '%-10s %10s %10s %14s\n' operation "berth ms" "docker ms" "docker/berth"
for op in push_cold push_warm pull_cold pull_warm; do
	b=$(median ${times[berth.$op]})
	if [ -n "${DOCKER_SOCKET:-}" ]; then
		d=$(median ${times[docker.$op]})
		r=$(awk -v a="$d" -v b="$b" 'BEGIN {printf "%.2f", a / b}')
	else
		d=- r=-
	fi
	printf '%-10s %10s %10s %14s\n' "${op/_/ }" "$b" "$d" "$r"
done
# berth compresses the layers on load and stores the blobs, so its pushes
# upload them as they are. dockerd compresses them on every cold push.
printf 'load of the archive, once: berth %s ms, docker %s ms\n' "$berth_load_ms" "${docker_load_ms:--}"
