package engine

import (
	"testing"

	"github.com/moby/moby/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	ctr "github.com/berth-engine/berth/container"
)

func TestParseBind(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want ctr.MountPoint
	}{
		{"/data", ctr.MountPoint{Type: mount.TypeVolume, Destination: "/data", RW: true, Mode: "z", Anonymous: true, CopyData: true}},
		{"vol:/data", ctr.MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", RW: true, Mode: "z", CopyData: true}},
		{"vol:/data:ro,nocopy", ctr.MountPoint{Type: mount.TypeVolume, Name: "vol", Destination: "/data", Mode: "ro,nocopy"}},
		{"/host/:/data/:rw,z", ctr.MountPoint{Type: mount.TypeBind, Source: "/host", Destination: "/data", RW: true, Mode: "rw,z",
			CreateSource: true, Propagation: mount.PropagationRPrivate}},
		{"/h:/d:ro,rshared", ctr.MountPoint{Type: mount.TypeBind, Source: "/h", Destination: "/d", Mode: "ro,rshared",
			CreateSource: true, Propagation: mount.PropagationRShared}},
	} {
		got, err := parseBind(tc.spec)
		assert.NilError(t, err, tc.spec)
		assert.Check(t, is.DeepEqual(got.MountPoint, tc.want), tc.spec)
	}
}

func TestParseBindInvalid(t *testing.T) {
	for spec, want := range map[string]string{
		"vol:data":       "mount path must be absolute",
		"/h:/":           "destination can't be '/'",
		"/h:/d:bogus":    "invalid mode: bogus",
		"/h:/d:nocopy":   "invalid mode: nocopy",
		"vol:/d:rshared": "invalid mode: rshared",
		"a:b:c:d":        "invalid volume specification",
		":/d":            "invalid volume specification",
	} {
		_, err := parseBind(spec)
		assert.Check(t, is.ErrorContains(err, want), spec)
	}
}

func TestParseMountOptions(t *testing.T) {
	m, err := parseMount(mount.Mount{Type: mount.TypeTmpfs, Target: "/t",
		TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777 & 0o777}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(m.TmpfsOptions, "size=1048576,mode=777"))

	_, err = parseMount(mount.Mount{Type: mount.TypeBind, Source: t.TempDir() + "/missing", Target: "/b"})
	assert.Check(t, is.ErrorContains(err, "bind source path does not exist"))

	m, err = parseMount(mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/v", ReadOnly: true,
		VolumeOptions: &mount.VolumeOptions{NoCopy: true}})
	assert.NilError(t, err)
	assert.Check(t, !m.RW && !m.CopyData && m.Name == "v")

	_, err = parseMount(mount.Mount{Type: mount.TypeTmpfs, Source: "x", Target: "/t"})
	assert.Check(t, is.ErrorContains(err, "Source must not be specified"))
}

func TestMountOrder(t *testing.T) {
	points := []ctr.MountPoint{
		{Destination: "/a/b/c"}, {Destination: "/z"}, {Destination: "/a/b"}, {Destination: "/a"},
	}
	var got []string
	for _, mp := range sortedMountPoints(points) {
		got = append(got, mp.Destination)
	}
	assert.Check(t, is.DeepEqual(got, []string{"/z", "/a", "/a/b", "/a/b/c"}))

	placed := []placedMount{{original: "/a"}, {original: "/a/b"}, {original: "/ab"}}
	assert.Check(t, is.Equal(parentMount(placed, "/a/b/c"), 1))
	assert.Check(t, is.Equal(parentMount(placed, "/ab/c"), 2))
	assert.Check(t, is.Equal(parentMount(placed, "/abc"), -1))
}
