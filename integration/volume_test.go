package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// volumeImageDockerfile builds an image with content at a VOLUME path,
// for copy-up, and symlinks that point out of a naive rootfs join.
const volumeImageDockerfile = `FROM busybox
RUN mkdir -p /seed /data && echo seeded > /seed/file && chown 1234:1234 /seed/file /seed && chmod 710 /seed && \
    ln -s / /toroot && ln -s ../../../../../.. /up
VOLUME /seed
`

func TestVolumes(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(volumeImageDockerfile), 0o644))
	d.must("build", "-q", "-t", "volimg", dir)

	t.Run("named volume copy-up", func(t *testing.T) {
		out := d.must("run", "--rm", "-v", "seeded:/seed", "volimg", "sh", "-c", "cat /seed/file; stat -c %u /seed/file; stat -c '%u %a' /seed")
		assert.Check(t, is.Equal(out, "seeded\n1234\n1234 710\n"))
		// The volume is no longer empty, so a second image path is not
		// copied over it.
		out = d.must("run", "--rm", "-v", "seeded:/etc/network", "volimg", "ls", "/etc/network")
		assert.Check(t, is.Equal(out, "file\n"))
	})

	t.Run("nocopy leaves volume empty", func(t *testing.T) {
		out := d.must("run", "--rm", "-v", "bare:/seed:nocopy", "volimg", "ls", "-A", "/seed")
		assert.Check(t, is.Equal(out, ""))
		out = d.must("run", "--rm", "--mount", "type=volume,src=bare2,dst=/seed,volume-nocopy", "volimg", "ls", "-A", "/seed")
		assert.Check(t, is.Equal(out, ""))
	})

	t.Run("image volume is anonymous", func(t *testing.T) {
		d.must("create", "--name", "anon", "volimg", "true")
		var mounts []struct{ Type, Name, Destination string }
		assert.NilError(t, json.Unmarshal([]byte(d.must("inspect", "-f", "{{json .Mounts}}", "anon")), &mounts))
		assert.Assert(t, is.Len(mounts, 1))
		assert.Check(t, is.Equal(mounts[0].Type, "volume"))
		assert.Check(t, is.Equal(mounts[0].Destination, "/seed"))
		assert.Check(t, is.Len(mounts[0].Name, 64))
		d.must("start", "-a", "anon")
		out := d.must("volume", "inspect", "-f", "{{index .Labels \"com.docker.volume.anonymous\"}}|{{.Driver}}", mounts[0].Name)
		assert.Check(t, is.Equal(out, "|local\n"))

		d.must("rm", "-v", "anon")
		r, err := d.run("volume", "inspect", mounts[0].Name)
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, "anonymous volume kept after rm -v: %s", r)
	})

	t.Run("data survives rm and daemon restarts", func(t *testing.T) {
		d.must("run", "--name", "writer", "-v", "keep:/data", "busybox", "sh", "-c", "echo kept > /data/f")
		d.must("rm", "writer")
		d.stop()
		d.start()
		assert.Check(t, is.Equal(d.must("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f"), "kept\n"))

		d.must("run", "-d", "--name", "holder", "-v", "keep:/data", "busybox", "sleep", "600")
		d.kill()
		d.start()
		assert.Check(t, is.Equal(d.must("exec", "holder", "cat", "/data/f"), "kept\n"))
		r, err := d.run("volume", "rm", "keep")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, r.String())
		assert.Check(t, is.Contains(r.stderr, "volume is in use"))
		src := filepath.Join(t.TempDir(), "copied")
		assert.NilError(t, os.WriteFile(src, []byte("by cp\n"), 0o644))
		d.must("cp", src, "holder:/data/copied")
		assert.Check(t, is.Equal(d.must("exec", "holder", "cat", "/data/copied"), "by cp\n"))
		d.must("rm", "-f", "holder")
		assert.Check(t, is.Equal(d.must("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/copied"), "by cp\n"))
		assert.Check(t, is.Equal(d.must("run", "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f"), "kept\n"))
	})

	t.Run("bind mounts", func(t *testing.T) {
		host := t.TempDir()
		assert.NilError(t, os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644))
		out := d.must("run", "--rm", "-v", host+":/h", "busybox", "sh", "-c", "cat /h/in; echo back > /h/out")
		assert.Check(t, is.Equal(out, "from host\n"))
		data, err := os.ReadFile(filepath.Join(host, "out"))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(data), "back\n"))

		r, err := d.run("run", "--rm", "-v", host+":/h:ro", "busybox", "touch", "/h/new")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, r.String())
		assert.Check(t, is.Contains(r.stderr, "Read-only file system"))
		_, err = os.Stat(filepath.Join(host, "new"))
		assert.Check(t, os.IsNotExist(err), "write through a read-only bind reached the host")

		missing := filepath.Join(t.TempDir(), "made", "by", "run")
		d.must("run", "--rm", "-v", missing+":/m", "busybox", "touch", "/m/f")
		_, err = os.Stat(filepath.Join(missing, "f"))
		assert.Check(t, err)

		r, err = d.run("run", "--rm", "--mount", "type=bind,src="+filepath.Join(t.TempDir(), "nope")+",dst=/m", "busybox", "true")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(r.code, 125), r.String())
		assert.Check(t, is.Contains(r.stderr, "bind source path does not exist"))
	})

	t.Run("tmpfs size and read-only rootfs", func(t *testing.T) {
		out := d.must("run", "--rm", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c", "df -k /scratch | tail -n 1")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "1024"), out)
		out = d.must("run", "--rm", "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=2097152", "busybox", "sh", "-c", "df -k /scratch | tail -n 1")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "2048"), out)

		r, err := d.run("run", "--rm", "--read-only", "busybox", "touch", "/file")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, r.String())
		assert.Check(t, is.Contains(r.stderr, "Read-only file system"))
		d.must("run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "touch", "/tmp/file")
	})

	t.Run("volumes-from", func(t *testing.T) {
		d.must("create", "--name", "source", "-v", "shared:/shared", "-v", "/anon", "busybox", "true")
		d.must("run", "--rm", "--volumes-from", "source", "busybox", "sh", "-c", "echo hi > /shared/f && touch /anon/g")
		r, err := d.run("run", "--rm", "--volumes-from", "source:ro", "busybox", "touch", "/shared/x")
		assert.NilError(t, err)
		assert.Check(t, r.code != 0, r.String())
		assert.Check(t, is.Equal(d.must("run", "--rm", "-v", "shared:/s", "busybox", "cat", "/s/f"), "hi\n"))
		d.must("rm", "-v", "source")
	})

	t.Run("ps filter and mounts", func(t *testing.T) {
		d.must("create", "--name", "lister", "-v", "listed:/l", "busybox", "true")
		out := d.must("ps", "-a", "--filter", "volume=listed", "--format", "{{.Names}} {{.Mounts}}")
		assert.Check(t, is.Equal(out, "lister listed\n"))
		d.must("rm", "lister")
	})

	t.Run("symlinked targets stay in root", func(t *testing.T) {
		name := "berth-escape-" + randomHex(4)
		for _, target := range []string{"/toroot/" + name, "/up/" + name, "/data/../../../" + name} {
			out := d.must("run", "--rm", "-v", "esc:"+target, "volimg", "sh", "-c", "touch "+target+"/f && ls /"+name)
			assert.Check(t, is.Equal(out, "f\n"), target)
			_, err := os.Stat("/" + name)
			assert.Check(t, os.IsNotExist(err), "mount target %s was created on the host", target)
		}
	})

	t.Run("volume commands", func(t *testing.T) {
		d.must("volume", "create", "--label", "team=a", "labelled")
		out := d.must("volume", "ls", "-q", "--filter", "label=team=a")
		assert.Check(t, is.Equal(out, "labelled\n"))
		out = d.must("volume", "ls", "--filter", "name=labelled")
		assert.Check(t, is.Equal(out, "DRIVER    VOLUME NAME\nlocal     labelled\n"))
		out = d.must("volume", "inspect", "-f", "{{.Mountpoint}} {{.Scope}}", "labelled")
		assert.Check(t, is.Equal(out, filepath.Join(d.dataRoot, "volumes", "labelled", "_data")+" local\n"))

		out = d.must("inspect", "-f", "{{.Name}} {{.Labels.team}}", "labelled")
		assert.Check(t, is.Equal(out, "labelled a\n"))

		d.must("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "ramvol")
		out = d.must("run", "--rm", "-v", "ramvol:/r", "busybox", "sh", "-c", "df -k /r | tail -n 1")
		assert.Check(t, is.Equal(strings.Fields(out)[1], "1024"), out)
		ramData := filepath.Join(d.dataRoot, "volumes", "ramvol", "_data")
		assert.Check(t, !isMounted(t, ramData), "tmpfs volume still mounted after its only container exited")

		// A daemon killed while a container uses the volume leaves it
		// mounted for that container, and the restarted daemon unmounts
		// it once the container is gone.
		d.must("run", "-d", "--name", "ramuser", "-v", "ramvol:/r", "busybox", "sh", "-c", "echo in-ram > /r/f; sleep 600")
		waitFor(t, "the tmpfs volume to be written", 10*time.Second, func() bool {
			r, _ := d.run("exec", "ramuser", "cat", "/r/f")
			return r.stdout == "in-ram\n"
		})
		d.kill()
		d.start()
		assert.Check(t, isMounted(t, ramData))
		assert.Check(t, is.Equal(d.must("exec", "ramuser", "cat", "/r/f"), "in-ram\n"))
		d.must("rm", "-f", "ramuser")
		assert.Check(t, !isMounted(t, ramData), "tmpfs volume still mounted after its container was removed")

		d.must("run", "--name", "sized", "-v", "sized:/s", "busybox", "sh", "-c", "head -c 3000 /dev/zero > /s/f")
		out = d.must("system", "df", "-v")
		assert.Check(t, regexp.MustCompile(`(?m)^sized\s+1\s+3kB$`).MatchString(out), out)
		d.must("rm", "sized")

		d.must("run", "--name", "pruned", "-v", "/anon", "busybox", "true")
		d.must("rm", "pruned")
		out = d.must("volume", "prune", "-f")
		assert.Check(t, is.Contains(out, "Total reclaimed space"))
		assert.Check(t, is.Contains(d.must("volume", "ls", "-q"), "labelled\n"), "prune removed a named volume")
		d.must("volume", "prune", "-af")
		assert.Check(t, is.Equal(d.must("volume", "ls", "-q", "--filter", "name=labelled"), ""))

		d.must("volume", "rm", "-f", "never-existed")
	})

	t.Run("docker CLI volume commands", func(t *testing.T) {
		_, _, err := d.docker("version")
		assert.NilError(t, err)
		out := dockerOK(t, d, "volume", "create", "--label", "k=v", "dv")
		assert.Check(t, is.Equal(out, "dv\n"))
		out = dockerOK(t, d, "volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}}", "--filter", "name=dv")
		assert.Check(t, is.Equal(out, "dv local k=v\n"))
		out = dockerOK(t, d, "run", "--rm", "-v", "dv:/d", "--mount", "type=tmpfs,dst=/t", "busybox", "sh", "-c", "echo x > /d/x && cat /d/x")
		assert.Check(t, is.Equal(out, "x\n"))
		dockerOK(t, d, "run", "-d", "--name", "dholder", "-v", "dv:/d", "busybox", "sleep", "600")
		dockerFails(t, d, 1, "volume is in use", "volume", "rm", "dv")
		out = dockerOK(t, d, "inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}", "dholder")
		assert.Check(t, is.Equal(out, "volume dv /d true\n"))
		host := t.TempDir()
		dockerFails(t, d, 1, "Read-only file system",
			"run", "--rm", "--mount", "type=bind,src="+host+",dst=/h,readonly", "busybox", "touch", "/h/x")
		out = dockerOK(t, d, "run", "--rm", "--volumes-from", "dholder:ro", "--read-only", "--tmpfs", "/tmp:size=64k",
			"busybox", "sh", "-c", "cat /d/x; touch /tmp/ok && echo tmp-ok; touch /d/y || echo d-ro; touch /z || echo root-ro")
		assert.Check(t, is.Equal(out, "x\ntmp-ok\nd-ro\nroot-ro\n"))
		dockerOK(t, d, "rm", "-f", "dholder")
		dockerOK(t, d, "volume", "rm", "dv")
		out = dockerOK(t, d, "system", "df", "--format", "{{.Type}} {{.TotalCount}}")
		assert.Check(t, is.Contains(out, "Local Volumes"))
	})
}

// isMounted reports whether path is a mount point in the test's mount
// namespace, which is the daemon's.
func isMounted(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	assert.NilError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) > 4 && fields[4] == path {
			return true
		}
	}
	return false
}
