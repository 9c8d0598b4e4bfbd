package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestSystemDF(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()

	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"),
		[]byte("FROM busybox\nRUN head -c 100000 /dev/zero > /big\n"), 0o644))
	d.must("build", "-q", "-t", "app:latest", dir)
	d.must("run", "-d", "--name", "running", "busybox", "sleep", "60")
	d.must("run", "--name", "exited", "busybox", "sh", "-c", "head -c 200000 /dev/zero > /big")

	out := d.must("system", "df")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Assert(t, is.Len(lines, 5), out)
	assert.Check(t, regexp.MustCompile(`^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$`).MatchString(lines[0]), out)
	// app is built on busybox, which the containers use, so only app's own
	// layer of about 100kB is reclaimable.
	assert.Check(t, regexp.MustCompile(`^Images\s+2\s+1\s+\S+\s+10\d(\.\d+)?kB \(\d+%\)$`).MatchString(lines[1]), out)
	assert.Check(t, regexp.MustCompile(`^Containers\s+2\s+1\s+20\d(\.\d+)?kB\s+20\d(\.\d+)?kB \(\d+%\)$`).MatchString(lines[2]), out)
	assert.Check(t, regexp.MustCompile(`^Local Volumes\s+0\s+0\s+0B\s+0B$`).MatchString(lines[3]), out)
	assert.Check(t, regexp.MustCompile(`^Build Cache\s+0\s+0\s+0B\s+0B$`).MatchString(lines[4]), out)

	out = d.must("system", "df", "-v")
	assert.Check(t, is.Contains(out, "Images space usage:\n\nREPOSITORY"), out)
	assert.Check(t, regexp.MustCompile(`\napp\s+latest\s+[0-9a-f]{12}\s`).MatchString(out), out)
	assert.Check(t, regexp.MustCompile(`\nbusybox\s+latest\s+[0-9a-f]{12}\s.*\s2\n`).MatchString(out), out)
	assert.Check(t, is.Contains(out, "\nContainers space usage:\n\nCONTAINER ID"), out)
	assert.Check(t, regexp.MustCompile(`\s20\d(\.\d+)?kB\s.*\sexited\n`).MatchString(out), out)
	assert.Check(t, is.Contains(out, "\nLocal Volumes space usage:\n\nVOLUME NAME"), out)
	assert.Check(t, is.Contains(out, "\nBuild cache usage: 0B\n"), out)

	// Clients of API 1.51 and older get the lists of images and containers.
	api := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", d.socket)
		},
	}}
	resp, err := api.Get("http://berth/v1.51/system/df")
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	var legacy struct {
		LayersSize int64
		Images     []struct{ Containers int64 }
		Containers []struct{ SizeRw int64 }
	}
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&legacy))
	assert.Check(t, legacy.LayersSize > 100000, legacy.LayersSize)
	assert.Check(t, is.Len(legacy.Images, 2))
	assert.Check(t, is.Len(legacy.Containers, 2))
}
