// Package integration drives the berth binary end to end, as a user would.
// Each test runs a real daemon with its own data root, exec root, socket and
// bridge. Containers run with runc on overlayfs, and published ports are
// reached over loopback and the test's own bridge. The tests need root, runc and
// Debian's busybox-static; they skip with the reason otherwise, and under
// -short.
package integration
