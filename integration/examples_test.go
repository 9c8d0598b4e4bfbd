package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestMicroservicesExample runs examples/microservices as its README shows:
// three services on one user-defined network, the front end published.
func TestMicroservicesExample(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	root, err := moduleRoot()
	assert.NilError(t, err)
	dir := filepath.Join(root, "examples", "microservices")

	for _, service := range []string{"data", "api", "frontend"} {
		d.must("build", "-q", "-t", "shipyard-"+service, "-f", filepath.Join(dir, service, "Dockerfile"), dir)
	}
	d.must("network", "create", "--subnet", freeSubnet(t).Masked().String(), "shipyard")
	d.must("run", "-d", "--name", "data", "--network", "shipyard", "shipyard-data")
	d.must("run", "-d", "--name", "api", "--network", "shipyard", "shipyard-api")
	port := freePort(t)
	d.must("run", "-d", "--name", "frontend", "--network", "shipyard",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "shipyard-frontend")

	var page string
	waitFor(t, "the front end's page", 15*time.Second, func() bool {
		page, err = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/index", port))
		return err == nil && strings.Contains(page, "<li>")
	})
	for _, item := range []string{"anchor", "rope", "sail"} {
		assert.Check(t, is.Contains(page, "<li>"+item+"</li>"))
	}

	d.must("rm", "-f", "frontend", "api", "data")
	d.must("network", "rm", "shipyard")
}
