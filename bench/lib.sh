# Shared set-up of the bench scripts, sourced by them: builds bin/berth,
# makes the busybox rootfs tarball, and starts a private berth daemon with
# its own roots, socket and bridge, all removed again on exit. Also defines
# median, ratio and wait_for.
#
# Before sourcing, set bip to the bridge's gateway/prefix, and optionally
# the array berth_daemon_args to more flags of `berth daemon`. Afterwards,
# $work is the scratch directory, $work/busybox.tar the rootfs tarball, and
# berth runs the CLI against the private daemon, which has busybox:latest.

cd "$(dirname "$0")/.."
PATH=$PATH:/usr/local/go/bin

# An interrupted bench still runs its EXIT trap, which removes what it set up.
trap 'exit 130' INT
trap 'exit 143' TERM

# median NUMBER...: prints the median.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ratio A B: prints A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds, and
# fails after SECONDS.
wait_for() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "timed out waiting for: $*" >&2; return 1; }
		sleep 0.1
	done
}

work=$(mktemp -d /tmp/berth-bench-XXXXXX)
bridge=bb$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
sock=$work/exec/berth.sock
daemon_pid=
berth() { ./bin/berth -H "unix://$sock" "$@"; }
cleanup() {
	if [ -n "$daemon_pid" ]; then
		berth rm -f $(berth ps -aq) >/dev/null 2>&1 || true
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null || true
	fi
	runc --root "$work/runc" delete -f bench-runc >/dev/null 2>&1 || true
	grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del "$bridge" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o bin/berth ./cmd/berth
scripts/busybox-rootfs.sh "$work/busybox.tar"
./bin/berth daemon -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
	--bridge "$bridge" --bip "$bip" ${berth_daemon_args[@]+"${berth_daemon_args[@]}"} >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
berth import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
