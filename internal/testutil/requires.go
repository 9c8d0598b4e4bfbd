// Package testutil holds helpers shared by berth's tests.
package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Requirement is a condition a test needs from the machine. Check returns an
// empty string when the condition holds, or the reason it does not.
type Requirement struct {
	Name  string
	Check func() string
}

// Root requires the test to run as uid 0.
var Root = Requirement{Name: "root", Check: func() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	return ""
}}

// Overlay requires the kernel to support overlayfs.
var Overlay = Requirement{Name: "overlay", Check: func() string {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return "cannot read /proc/filesystems: " + err.Error()
	}
	if !strings.Contains(string(data), "\toverlay\n") {
		return "kernel has no overlayfs"
	}
	return ""
}}

// Runc requires the runc binary on PATH.
var Runc = Requirement{Name: "runc", Check: func() string {
	return lookPath("runc", "install it with apt-get install runc")
}}

// Busybox requires Debian's static busybox at /bin/busybox.
var Busybox = Requirement{Name: "busybox-static", Check: func() string {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "needs /bin/busybox: install it with apt-get install busybox-static"
	}
	return ""
}}

func lookPath(name, hint string) string {
	if _, err := exec.LookPath(name); err != nil {
		return "needs " + name + " on PATH: " + hint
	}
	return ""
}

// Requires skips t unless every requirement holds. With -short it also skips,
// because every test that needs the machine is an integration test.
func Requires(t testing.TB, reqs ...Requirement) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	for _, r := range reqs {
		if reason := r.Check(); reason != "" {
			t.Skipf("requires %s: %s", r.Name, reason)
		}
	}
}
