// Package integration drives the berth binary end to end, as a user would:
// a real daemon per test with its own data root, exec root, socket and
// bridge, real runc containers on overlayfs, and published ports reached
// over loopback and the test's own bridge. The tests need root, runc and
// Debian's busybox-static; they skip with the reason otherwise, and under
// -short.
package integration
