#!/bin/bash
# Times `berth build` of a small context and of a 3000-file context: a cold
# build (--no-cache), a fully cached rebuild, and a rebuild after one
# copied source file changes. With DOCKER_SOCKET naming a Docker daemon's
# socket (with busybox:latest imported from scripts/busybox-rootfs.sh), the
# same builds run there with the classic builder. Prints the medians and
# the ratio berth / Docker. Runs its own berth daemon with private roots.
#
# usage: bench/build.sh [RUNS]      (default 10 runs each)
set -euo pipefail
runs=${1:-10}
bip=10.254.78.1/24
. "$(dirname "$0")/lib.sh"

# make_context DIR FILES: a Dockerfile that copies FILES source files and
# runs a command on them.
make_context() {
	local dir=$1 files=$2 i
	mkdir -p "$dir/src"
	for i in $(seq "$files"); do
		printf 'source file %d\n' "$i" >"$dir/src/f$i.txt"
	done
	cat >"$dir/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN ls /app/src | wc -l > /app/count
CMD ["cat", "/app/count"]
EOF
}

# measure PREPARE CLI...: runs PREPARE, then times CLI, $runs times after
# one warm-up, and prints the median in ms.
measure() {
	local prepare=$1 times=() i start end
	shift
	$prepare
	"$@" >/dev/null 2>&1
	for i in $(seq "$runs"); do
		$prepare
		start=$(date +%s%N)
		"$@" >/dev/null 2>&1
		end=$(date +%s%N)
		times+=($(((end - start) / 1000)))
	done
	awk -v us="$(median "${times[@]}")" 'BEGIN {printf "%.1f", us / 1000}'
}

docker_cli() { DOCKER_BUILDKIT=0 docker -H "unix://$DOCKER_SOCKET" "$@"; }

nothing() { :; }
ctx=
edit_one() { date +%s%N >"$ctx/src/f1.txt"; }

printf '%-8s %-24s %10s %10s %8s\n' "files" "build" "berth ms" "docker ms" "ratio"
for files in 10 3000; do
	ctx=$work/ctx$files
	make_context "$ctx" "$files"
	for kind in cold cached one-file; do
		case $kind in
		cold) prepare=nothing flags=--no-cache ;;
		cached) prepare=nothing flags= ;;
		one-file) prepare=edit_one flags= ;;
		esac
		berth_ms=$(measure "$prepare" berth build $flags -t bench:$files "$ctx")
		docker_ms=- r=-
		if [ -n "${DOCKER_SOCKET:-}" ]; then
			docker_ms=$(measure "$prepare" docker_cli build $flags -t bench:$files "$ctx")
			r=$(ratio "$berth_ms" "$docker_ms")
		fi
		printf '%-8s %-24s %10s %10s %8s\n' "$files" "$kind" "$berth_ms" "$docker_ms" "$r"
	done
done
