package container

import (
	"os"
	"path/filepath"
	"testing"

	containertypes "github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseVolumesRelativeSource(t *testing.T) {
	wd, err := os.Getwd()
	assert.NilError(t, err)
	binds, anonymous, err := parseVolumes([]string{"./data:/d:ro", "named:/n", "/anon"})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(binds, []string{filepath.Join(wd, "data") + ":/d:ro", "named:/n"}))
	assert.Check(t, is.DeepEqual(anonymous, map[string]struct{}{"/anon": {}}))
}

func TestApplyMountOptions(t *testing.T) {
	var o mountOptions
	assert.NilError(t, o.mounts.Set("type=tmpfs,dst=/t,tmpfs-size=1m"))
	o.tmpfs = []string{"/run:size=64k,mode=1777", "/tmp"}
	o.volumesFrom = []string{"other:ro"}
	hc := &containertypes.HostConfig{}
	assert.NilError(t, applyMountOptions(&o, hc))
	assert.Check(t, is.Len(hc.Mounts, 1))
	assert.Check(t, is.Equal(hc.Mounts[0].TmpfsOptions.SizeBytes, int64(1<<20)))
	assert.Check(t, is.DeepEqual(hc.Tmpfs, map[string]string{"/run": "size=64k,mode=1777", "/tmp": ""}))
	assert.Check(t, is.DeepEqual(hc.VolumesFrom, []string{"other:ro"}))

	o = mountOptions{tmpfs: []string{"relative"}}
	assert.Check(t, is.ErrorContains(applyMountOptions(&o, &containertypes.HostConfig{}), "must be absolute"))
}
