#!/bin/sh
# Runs berth's tests: unit tests everywhere, and, as root, the integration
# tests against real runc, overlayfs, network namespaces and nftables.
set -eu
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/local/go/bin
export PATH

scripts/install-deps.sh
go vet ./...
CGO_ENABLED=0 go build -o bin/berth ./cmd/berth
go test -count=1 -timeout 60m ./...
