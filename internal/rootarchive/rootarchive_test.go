package rootarchive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// sandbox makes a root directory next to a sibling "outside" directory
// holding a file, and returns both. Escape tests check that outside keeps
// exactly its one file with its original content.
func sandbox(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("container\n"), 0o644))
	assert.NilError(t, os.MkdirAll(outside, 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(outside, "passwd"), []byte("host\n"), 0o644))
	return root, outside
}

func assertOutsideUntouched(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	assert.NilError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.DeepEqual(t, names, []string{"passwd"})
	data, err := os.ReadFile(filepath.Join(outside, "passwd"))
	assert.NilError(t, err)
	assert.Equal(t, string(data), "host\n")
	parent, err := os.ReadDir(filepath.Dir(outside))
	assert.NilError(t, err)
	names = nil
	for _, e := range parent {
		names = append(names, e.Name())
	}
	assert.DeepEqual(t, names, []string{"outside", "root"})
}

type entry struct {
	name, link string
	typ        byte
	body       string
}

func makeTar(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, ModTime: time.Unix(1e9, 0)}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		assert.NilError(t, tw.WriteHeader(hdr))
		if e.typ == tar.TypeReg {
			_, err := tw.Write([]byte(e.body))
			assert.NilError(t, err)
		}
	}
	assert.NilError(t, tw.Close())
	return &buf
}

func tarNames(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		assert.NilError(t, err)
		body, _ := io.ReadAll(tr)
		out[hdr.Name] = string(body) + hdr.Linkname
	}
}

func TestExtractSymlinkThenWriteThrough(t *testing.T) {
	root, outside := sandbox(t)
	// The first entry plants an absolute symlink to the host directory;
	// the second tries to write through it.
	err := Extract(root, "/", makeTar(t,
		entry{name: "evil", link: outside, typ: tar.TypeSymlink},
		entry{name: "evil/passwd", typ: tar.TypeReg, body: "pwned\n"},
	), ExtractOptions{})
	// The link resolves inside the root, where its target does not exist.
	assert.Check(t, is.ErrorContains(err, "no such file or directory"))
	assertOutsideUntouched(t, outside)

	// Once the target exists inside the root, the write lands there.
	assert.NilError(t, os.MkdirAll(filepath.Join(root, outside), 0o755))
	err = Extract(root, "/", makeTar(t,
		entry{name: "evil", link: outside, typ: tar.TypeSymlink},
		entry{name: "evil/passwd", typ: tar.TypeReg, body: "pwned\n"},
	), ExtractOptions{})
	assert.NilError(t, err)
	assertOutsideUntouched(t, outside)
	data, err := os.ReadFile(filepath.Join(root, outside, "passwd"))
	assert.NilError(t, err)
	assert.Equal(t, string(data), "pwned\n")
}

func TestExtractRelativeSymlinkEscape(t *testing.T) {
	root, outside := sandbox(t)
	err := Extract(root, "/", makeTar(t,
		entry{name: "up", link: "../../../../outside", typ: tar.TypeSymlink},
		entry{name: "up/passwd", typ: tar.TypeReg, body: "pwned\n"},
	), ExtractOptions{})
	assert.Check(t, is.ErrorContains(err, "no such file or directory"))
	assertOutsideUntouched(t, outside)
	// Replacing the link with a file replaces the link only.
	err = Extract(root, "/", makeTar(t, entry{name: "up", typ: tar.TypeReg, body: "x"}), ExtractOptions{})
	assert.NilError(t, err)
	assertOutsideUntouched(t, outside)
}

func TestExtractDotDotEntries(t *testing.T) {
	root, outside := sandbox(t)
	err := Extract(root, "/etc", makeTar(t,
		entry{name: "../../outside/passwd", typ: tar.TypeReg, body: "pwned\n"},
		entry{name: "../../../x", typ: tar.TypeReg, body: "pwned\n"},
		entry{name: "/abs", typ: tar.TypeReg, body: "abs\n"},
	), ExtractOptions{})
	assert.NilError(t, err)
	assertOutsideUntouched(t, outside)
	data, err := os.ReadFile(filepath.Join(root, "etc", "outside", "passwd"))
	assert.NilError(t, err)
	assert.Equal(t, string(data), "pwned\n")
	_, err = os.Stat(filepath.Join(root, "etc", "abs"))
	assert.NilError(t, err)
}

func TestExtractThroughExistingSymlink(t *testing.T) {
	root, outside := sandbox(t)
	// A symlink already in the container points at the host directory
	// (absolute) and another climbs out with "..".
	assert.NilError(t, os.Symlink(outside, filepath.Join(root, "hostlink")))
	assert.NilError(t, os.Symlink("../../../../../outside", filepath.Join(root, "rellink")))
	assert.NilError(t, os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(root, "filelink")))

	for _, dir := range []string{"/hostlink", "/rellink"} {
		err := Extract(root, dir, makeTar(t, entry{name: "passwd", typ: tar.TypeReg, body: "pwned\n"}), ExtractOptions{})
		assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound), dir)
	}
	// Overwriting the file link replaces the link, not its target.
	err := Extract(root, "/", makeTar(t,
		entry{name: "hard", link: "filelink", typ: tar.TypeLink},
		entry{name: "filelink", typ: tar.TypeReg, body: "pwned\n"},
	), ExtractOptions{})
	assert.NilError(t, err)
	assertOutsideUntouched(t, outside)
	link, err := os.Readlink(filepath.Join(root, "hard"))
	assert.NilError(t, err)
	assert.Equal(t, link, filepath.Join(outside, "passwd"))
	err = Extract(root, "/", makeTar(t, entry{name: "hostlink/passwd", typ: tar.TypeReg, body: "pwned\n"}), ExtractOptions{})
	assert.Check(t, is.ErrorContains(err, "no such file or directory"))
	assertOutsideUntouched(t, outside)
	fi, err := os.Lstat(filepath.Join(root, "filelink"))
	assert.NilError(t, err)
	assert.Check(t, fi.Mode().IsRegular())
}

func TestReadThroughSymlinks(t *testing.T) {
	root, outside := sandbox(t)
	assert.NilError(t, os.Symlink(outside, filepath.Join(root, "hostlink")))
	assert.NilError(t, os.Symlink("../../outside", filepath.Join(root, "rellink")))

	// Followed paths resolve inside the root, where no such file exists.
	for _, p := range []string{"/hostlink/passwd", "/rellink/passwd", "/../outside/passwd", "/hostlink/"} {
		_, err := StatPath(root, p)
		assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound), p)
		err = WriteTar(root, p, io.Discard)
		assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound), p)
	}
	// "/../etc/passwd" is the container's own file.
	var buf bytes.Buffer
	assert.NilError(t, WriteTar(root, "/../../etc/passwd", &buf))
	assert.DeepEqual(t, tarNames(t, &buf), map[string]string{"passwd": "container\n"})

	// The link itself is archived, not its target.
	st, err := StatPath(root, "/hostlink")
	assert.NilError(t, err)
	assert.Equal(t, st.LinkTarget, outside)
	assert.Check(t, st.Mode&os.ModeSymlink != 0)
	buf.Reset()
	assert.NilError(t, WriteTar(root, "/", &buf))
	names := tarNames(t, &buf)
	var keys []string
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	assert.DeepEqual(t, keys, []string{"./", "./etc/", "./etc/passwd", "./hostlink", "./rellink"})
	assert.Equal(t, names["./hostlink"], outside)
}

func TestRoundTripKeepsModes(t *testing.T) {
	root, _ := sandbox(t)
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "d", "sub"), 0o750))
	assert.NilError(t, os.WriteFile(filepath.Join(root, "d", "sub", "x"), []byte("x"), 0o600))
	assert.NilError(t, os.Chmod(filepath.Join(root, "d", "sub", "x"), 0o755|os.ModeSetuid))
	assert.NilError(t, os.Symlink("sub/x", filepath.Join(root, "d", "l")))

	var buf bytes.Buffer
	assert.NilError(t, WriteTar(root, "/d", &buf))
	dst := t.TempDir()
	assert.NilError(t, Extract(dst, "/", &buf, ExtractOptions{Chown: true}))
	fi, err := os.Stat(filepath.Join(dst, "d", "sub", "x"))
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode(), os.FileMode(0o755)|os.ModeSetuid)
	fi, err = os.Stat(filepath.Join(dst, "d", "sub"))
	assert.NilError(t, err)
	assert.Equal(t, fi.Mode().Perm(), os.FileMode(0o750))
	link, err := os.Readlink(filepath.Join(dst, "d", "l"))
	assert.NilError(t, err)
	assert.Equal(t, link, "sub/x")
}

func TestExtractNoOverwriteDirNonDir(t *testing.T) {
	root, _ := sandbox(t)
	err := Extract(root, "/", makeTar(t, entry{name: "etc", typ: tar.TypeReg, body: "x"}),
		ExtractOptions{NoOverwriteDirNonDir: true})
	assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument))
	err = Extract(root, "/etc/passwd", makeTar(t, entry{name: "x", typ: tar.TypeReg}), ExtractOptions{})
	assert.Check(t, is.ErrorContains(err, "extraction point is not a directory"))
}

func TestWriteTarDirContents(t *testing.T) {
	root, _ := sandbox(t)
	var buf bytes.Buffer
	assert.NilError(t, WriteTar(root, "/etc/.", &buf))
	assert.DeepEqual(t, tarNames(t, &buf), map[string]string{"./": "", "./passwd": "container\n"})
	st, err := StatPath(root, "/etc/.")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Name, "."))

	buf.Reset()
	assert.NilError(t, WriteTar(root, "/etc/", &buf))
	assert.DeepEqual(t, tarNames(t, &buf), map[string]string{"etc/": "", "etc/passwd": "container\n"})
	st, err = StatPath(root, "/etc/")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Name, "etc"))
}

func TestExtractOwnerOverridesHeaders(t *testing.T) {
	root, _ := sandbox(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 42, Gid: 43}))
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Uid: 42, Gid: 43}))
	_, err := tw.Write([]byte("x"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())

	assert.NilError(t, Extract(root, "/", &buf, ExtractOptions{Chown: true, Owner: &Owner{UID: 1000, GID: 1001}}))
	for _, name := range []string{"d", "d/f"} {
		fi, err := os.Lstat(filepath.Join(root, name))
		assert.NilError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		assert.Check(t, is.Equal(st.Uid, uint32(1000)), name)
		assert.Check(t, is.Equal(st.Gid, uint32(1001)), name)
	}
}
