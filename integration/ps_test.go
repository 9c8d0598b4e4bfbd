package integration

import (
	"fmt"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPsFilters(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	port := freePort(t)
	d.must("create", "--name", "first", "busybox", "true")
	d.must("run", "-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--expose", "9000", "busybox", "sleep", "60")
	d.must("run", "-d", "--name", "hosted", "--network", "host", "busybox", "sleep", "60")
	d.must("create", "--name", "last", "busybox", "true")

	names := func(filters ...string) string {
		t.Helper()
		args := []string{"ps", "-a", "--format", "{{.Names}}"}
		for _, f := range filters {
			args = append(args, "--filter", f)
		}
		return strings.Join(strings.Fields(d.must(args...)), " ")
	}
	assert.Check(t, is.Equal(names("before=hosted"), "web first"))
	assert.Check(t, is.Equal(names("since=web"), "last hosted"))
	assert.Check(t, is.Equal(names("since=first", "before=last"), "hosted web"))
	assert.Check(t, is.Equal(names(fmt.Sprintf("publish=%d", port)), "web"))
	assert.Check(t, is.Equal(names(fmt.Sprintf("publish=%d/udp", port)), ""))
	assert.Check(t, is.Equal(names("publish=80"), ""))
	assert.Check(t, is.Equal(names("expose=80/tcp"), "web"))
	assert.Check(t, is.Equal(names("expose=8990-9010"), "web"))
	assert.Check(t, is.Equal(names("network=host"), "hosted"))
	assert.Check(t, is.Equal(names("network=bridge"), "last web first"))
	assert.Check(t, is.Equal(names("health=none", "status=running"), "hosted web"))
	assert.Check(t, is.Equal(names("health=healthy"), ""))
	assert.Check(t, is.Equal(names("is-task=false"), "last hosted web first"))
	assert.Check(t, is.Equal(names("is-task=true"), ""))

	// Without -a, before and since still list only running containers.
	out := d.must("ps", "--format", "{{.Names}}", "--filter", "since=first")
	assert.Check(t, is.Equal(out, "hosted\nweb\n"))

	r, err := d.run("ps", "--filter", "since=missing")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "No such container"))

	r, err = d.run("ps", "--filter", "health=sick")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(r.code, 1))
	assert.Check(t, is.Contains(r.stderr, "health=sick"))
}
