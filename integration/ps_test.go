package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/go-units"
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

func TestPsSize(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	d.must("create", "--name", "empty", "busybox", "true")
	d.must("run", "--name", "writer", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big")

	api := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", d.socket)
		},
	}}
	get := func(path string, v any) {
		t.Helper()
		resp, err := api.Get("http://berth" + path)
		assert.NilError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, resp.StatusCode, http.StatusOK, path)
		assert.NilError(t, json.NewDecoder(resp.Body).Decode(v))
	}

	var img struct{ Size int64 }
	get("/images/busybox/json", &img)
	assert.Assert(t, img.Size > 0)

	var list []struct {
		Names      []string
		SizeRw     int64
		SizeRootFs int64
	}
	get("/containers/json?all=1&size=1", &list)
	sizes := map[string][2]int64{}
	for _, c := range list {
		sizes[c.Names[0]] = [2]int64{c.SizeRw, c.SizeRootFs}
	}
	assert.Check(t, is.Equal(sizes["/empty"], [2]int64{0, img.Size}))
	assert.Check(t, is.Equal(sizes["/writer"], [2]int64{100000, 100000 + img.Size}))

	var unsized []map[string]any
	get("/containers/json?all=1", &unsized)
	for _, c := range unsized {
		_, ok := c["SizeRootFs"]
		assert.Check(t, !ok, "SizeRootFs without size=1: %v", c)
	}

	var inspect struct {
		SizeRw     *int64
		SizeRootFs *int64
	}
	get("/containers/writer/json?size=1", &inspect)
	assert.Assert(t, inspect.SizeRw != nil && inspect.SizeRootFs != nil)
	assert.Check(t, is.Equal(*inspect.SizeRw, int64(100000)))
	assert.Check(t, is.Equal(*inspect.SizeRootFs, 100000+img.Size))

	inspect.SizeRw, inspect.SizeRootFs = nil, nil
	get("/containers/writer/json", &inspect)
	assert.Check(t, inspect.SizeRw == nil)
	assert.Check(t, inspect.SizeRootFs == nil)

	virtual := units.HumanSizeWithPrecision(float64(img.Size), 3)
	out := d.must("ps", "-a", "-s", "--filter", "name=empty")
	assert.Check(t, is.Contains(out, "SIZE"))
	assert.Check(t, is.Contains(out, "0B (virtual "+virtual+")"))
	out = d.must("ps", "-a", "-s", "--format", "{{.Size}}", "--filter", "name=writer")
	assert.Check(t, is.Equal(out, "100kB (virtual "+units.HumanSizeWithPrecision(float64(100000+img.Size), 3)+")\n"))
	out = d.must("inspect", "-s", "-f", "{{.SizeRw}}", "writer")
	assert.Check(t, is.Equal(out, "100000\n"))
}
