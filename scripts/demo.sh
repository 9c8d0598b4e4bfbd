#!/bin/sh
# Builds berth as one static binary, makes the busybox base image, builds
# the example web app and serves it on http://127.0.0.1:8000 from a
# container.
set -eu
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/local/go/bin
export PATH

scripts/install-deps.sh
echo "--- building berth"
CGO_ENABLED=0 go build -o bin/berth ./cmd/berth
berth=./bin/berth

if $berth image inspect busybox:latest >/dev/null 2>&1; then
	echo "--- busybox:latest is already there"
else
	echo "--- importing busybox:latest from /bin/busybox"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	scripts/busybox-rootfs.sh "$tmp/busybox.tar"
	$berth import -c 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest
fi

echo "--- building the example image"
$berth build -t webapp:latest examples/webapp

echo "--- running it with -p 8000:3000"
$berth rm -f webapp-demo >/dev/null 2>&1 || true
$berth run -d --name webapp-demo -p 8000:3000 webapp:latest
$berth ps

echo "--- GET http://127.0.0.1:8000/"
i=0
until curl -fsS http://127.0.0.1:8000/; do
	i=$((i + 1))
	if [ "$i" -ge 50 ]; then
		echo "the web app did not respond on port 8000" >&2
		$berth logs webapp-demo >&2
		exit 1
	fi
	sleep 0.1
done
curl -fsS http://127.0.0.1:8000/build.txt
echo "--- the container keeps running; stop it with: bin/berth rm -f webapp-demo"
