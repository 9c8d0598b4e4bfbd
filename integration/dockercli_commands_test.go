package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// dockerCmd runs Docker's CLI against d and returns its output and exit
// code. It fails t only when the CLI cannot be run at all.
func dockerCmd(t *testing.T, d *daemon, args ...string) result {
	t.Helper()
	stdout, stderr, err := d.docker(args...)
	r := result{stdout: stdout, stderr: stderr}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// dockerOK runs Docker's CLI and fails t unless it exits 0.
func dockerOK(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	r := dockerCmd(t, d, args...)
	assert.Assert(t, r.code == 0, "docker %s\n%s", strings.Join(args, " "), r)
	return r.stdout
}

// dockerFails runs Docker's CLI, checks that it exits with code and that
// stderr contains want, and returns stderr.
func dockerFails(t *testing.T, d *daemon, code int, want string, args ...string) string {
	t.Helper()
	r := dockerCmd(t, d, args...)
	assert.Check(t, is.Equal(r.code, code), "docker %s\n%s", strings.Join(args, " "), r)
	assert.Check(t, is.Contains(r.stderr, want), "docker %s", strings.Join(args, " "))
	return r.stderr
}

// lines splits output into its non-empty lines.
func lines(out string) []string {
	var res []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			res = append(res, l)
		}
	}
	return res
}

// TestDockerCLICommands checks that Docker's own CLI (28.2, API 1.50) gets
// the same results from berth as from Docker Engine 28, command by command.
// Every subtest shares one daemon and names its containers uniquely.
func TestDockerCLICommands(t *testing.T) {
	d := newDaemon(t)
	// d.docker skips on the parent test when the CLI is missing, so the
	// check runs here and not inside a subtest.
	dockerOK(t, d, "version")
	d.importBusybox()
	busyboxID := strings.TrimSpace(dockerOK(t, d, "image", "inspect", "-f", "{{.Id}}", "busybox"))

	t.Run("inspect templates", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "insp", "--label", "a=b", "--hostname", "inhost", "busybox", "sleep", "300")

		format := func(template string, refs ...string) string {
			t.Helper()
			return dockerOK(t, d, append([]string{"inspect", "-f", template}, refs...)...)
		}
		assert.Check(t, is.Equal(format("{{.State.Status}}", "insp"), "running\n"))
		assert.Check(t, is.Equal(format("{{.Config.Hostname}}", "insp"), "inhost\n"))
		assert.Check(t, is.Equal(format("{{json .Config.Labels}}", "insp"), `{"a":"b"}`+"\n"))
		assert.Check(t, is.Equal(format("{{.Name}}", "insp"), "/insp\n"))
		assert.Check(t, is.Equal(format("{{index .RepoTags 0}}", "busybox"), "busybox:latest\n"))

		ip, err := netip.ParseAddr(strings.TrimSpace(format("{{.NetworkSettings.IPAddress}}", "insp")))
		assert.NilError(t, err)
		assert.Check(t, d.bip.Contains(ip), "IP %s outside the bridge subnet %s", ip, d.bip)

		// Several objects, of both kinds, print in argument order.
		id := strings.TrimSpace(format("{{.Id}}", "insp"))
		assert.Check(t, is.Equal(format("{{.Id}}", "insp", "busybox"), id+"\n"+busyboxID+"\n"))

		out := dockerOK(t, d, "inspect", "--type", "image", "-f", "{{.Id}}", "busybox")
		assert.Check(t, is.Equal(out, busyboxID+"\n"))
		out = dockerOK(t, d, "inspect", "--type", "container", "-f", "{{.Config.Image}}", "insp")
		assert.Check(t, is.Equal(out, "busybox\n"))

		var objects []struct {
			ID     string `json:"Id"`
			Name   string
			Config struct{ Labels map[string]string }
		}
		assert.NilError(t, json.Unmarshal([]byte(dockerOK(t, d, "inspect", "insp")), &objects))
		assert.Assert(t, is.Len(objects, 1))
		assert.Check(t, is.Equal(objects[0].ID, id))
		assert.Check(t, is.Equal(objects[0].Name, "/insp"))
		assert.Check(t, is.DeepEqual(objects[0].Config.Labels, map[string]string{"a": "b"}))

		// A missing object fails the command after the others print.
		r := dockerCmd(t, d, "inspect", "-f", "{{.Name}}", "insp", "nosuch")
		assert.Check(t, is.Equal(r.code, 1))
		assert.Check(t, is.Equal(r.stdout, "/insp\n"))
		assert.Check(t, is.Contains(r.stderr, "Error: No such object: nosuch"))

		dockerFails(t, d, 1, "Error response from daemon: No such container: busybox",
			"inspect", "--type", "container", "busybox")
		dockerFails(t, d, 1, "Error response from daemon: No such image: insp:latest",
			"inspect", "--type", "image", "insp")
		dockerFails(t, d, 1, "Error response from daemon: No such image: nosuch:latest",
			"image", "inspect", "nosuch")
	})

	t.Run("wait exit codes", func(t *testing.T) {
		r := dockerCmd(t, d, "run", "--name", "waiter", "busybox", "sh", "-c", "exit 3")
		assert.Check(t, is.Equal(r.code, 3))
		assert.Check(t, is.Equal(dockerOK(t, d, "wait", "waiter"), "3\n"))

		dockerOK(t, d, "run", "-d", "--name", "waiter2", "busybox", "sh", "-c", "sleep 1; exit 7")
		assert.Check(t, is.Equal(dockerOK(t, d, "wait", "waiter2", "waiter"), "7\n3\n"))

		dockerFails(t, d, 1, "Error response from daemon: No such container: nosuch", "wait", "nosuch")
	})

	t.Run("top with ps args", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "topper", "busybox", "sleep", "300")

		out := lines(dockerOK(t, d, "top", "topper"))
		assert.Assert(t, is.Len(out, 2))
		assert.Check(t, is.DeepEqual(strings.Fields(out[0]), []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}))
		assert.Check(t, strings.HasSuffix(out[1], "sleep 300"), out[1])

		out = lines(dockerOK(t, d, "top", "topper", "-o", "pid,comm"))
		assert.Assert(t, is.Len(out, 2))
		assert.Check(t, is.DeepEqual(strings.Fields(out[0]), []string{"PID", "COMMAND"}))
		fields := strings.Fields(out[1])
		assert.Assert(t, is.Len(fields, 2))
		assert.Check(t, is.Equal(fields[1], "sleep"))
		pid := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.State.Pid}}", "topper"))
		assert.Check(t, is.Equal(fields[0], pid))

		dockerOK(t, d, "create", "--name", "topless", "busybox", "true")
		dockerFails(t, d, 1, "is not running", "top", "topless")
	})

	t.Run("port mappings", func(t *testing.T) {
		hostPort := freePort(t)
		dockerOK(t, d, "run", "-d", "--name", "ported",
			"-p", fmt.Sprintf("127.0.0.1:%d:80", hostPort), "-p", "9090/udp", "busybox", "sleep", "300")

		mapped := fmt.Sprintf("127.0.0.1:%d", hostPort)
		out := dockerOK(t, d, "port", "ported")
		assert.Check(t, is.Contains(out, "80/tcp -> "+mapped+"\n"))
		assert.Check(t, regexp.MustCompile(`(?m)^9090/udp -> 0\.0\.0\.0:[1-9][0-9]*$`).MatchString(out), out)
		assert.Check(t, is.Equal(dockerOK(t, d, "port", "ported", "80"), mapped+"\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "port", "ported", "80/tcp"), mapped+"\n"))
		dockerFails(t, d, 1, "No public port '81' published for ported", "port", "ported", "81")
	})

	t.Run("rename and conflict", func(t *testing.T) {
		id := strings.TrimSpace(dockerOK(t, d, "create", "--name", "oldname", "busybox", "true"))
		dockerOK(t, d, "create", "--name", "taken", "busybox", "true")
		takenID := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "taken"))

		assert.Check(t, is.Equal(dockerOK(t, d, "rename", "oldname", "newname"), ""))
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Id}} {{.Name}}", "newname"), id+" /newname\n"))
		dockerFails(t, d, 1, "No such object: oldname", "inspect", "oldname")

		stderr := dockerFails(t, d, 1, "Error response from daemon: Error when allocating new name: Conflict. "+
			`The container name "/taken" is already in use by container "`+takenID+`". `+
			"You have to remove (or rename) that container to be able to reuse that name.",
			"rename", "newname", "taken")
		assert.Check(t, is.Contains(stderr, "Error: failed to rename container named newname"))
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Name}}", id), "/newname\n"))
	})

	t.Run("pause and unpause", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "pausy", "busybox", "sleep", "300")

		assert.Check(t, is.Equal(dockerOK(t, d, "pause", "pausy"), "pausy\n"))
		out := dockerOK(t, d, "ps", "--filter", "name=pausy", "--format", "{{.Status}}")
		assert.Check(t, regexp.MustCompile(`^Up .* \(Paused\)\n$`).MatchString(out), out)
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pausy"), "paused true\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "--filter", "status=paused", "--format", "{{.Names}}"), "pausy\n"))
		dockerFails(t, d, 1, "is already paused", "pause", "pausy")

		assert.Check(t, is.Equal(dockerOK(t, d, "unpause", "pausy"), "pausy\n"))
		out = dockerOK(t, d, "ps", "--filter", "name=pausy", "--format", "{{.Status}}")
		assert.Check(t, !strings.Contains(out, "Paused"), out)
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pausy"), "running false\n"))
		dockerFails(t, d, 1, "is not paused", "unpause", "pausy")
		dockerFails(t, d, 1, "is not running", "pause", "waiter")
	})

	t.Run("restart with timeout", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "restarter", "busybox", "sleep", "300")
		before := dockerOK(t, d, "inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", "restarter")

		// sleep as PID 1 ignores SIGTERM, so -t 1 ends it with SIGKILL.
		assert.Check(t, is.Equal(dockerOK(t, d, "restart", "-t", "1", "restarter"), "restarter\n"))
		after := dockerOK(t, d, "inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", "restarter")
		assert.Check(t, before != after, "pid and start time unchanged: %s", after)
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "restarter"), "running 0\n"))

		// A stopped container starts again.
		assert.Check(t, is.Equal(dockerOK(t, d, "restart", "-t", "0", "waiter"), "waiter\n"))
		dockerOK(t, d, "wait", "waiter")
		dockerFails(t, d, 1, "No such container: nosuch", "restart", "nosuch")
	})

	t.Run("stats no stream", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "stater", "busybox", "sleep", "300")

		out := lines(dockerOK(t, d, "stats", "--no-stream", "stater"))
		assert.Assert(t, is.Len(out, 2))
		for _, column := range []string{"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"} {
			assert.Check(t, is.Contains(out[0], column))
		}
		assert.Check(t, is.Contains(out[1], "stater"))

		assert.Check(t, is.Equal(dockerOK(t, d, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "stater"), "stater 1\n"))

		var stats struct{ Name, ID, PIDs, MemUsage string }
		assert.NilError(t, json.Unmarshal([]byte(dockerOK(t, d, "stats", "--no-stream", "--format", "{{json .}}", "stater")), &stats))
		id := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "stater"))
		assert.Check(t, is.Equal(stats.Name, "stater"))
		assert.Check(t, is.Equal(stats.ID, id[:12]))
		assert.Check(t, is.Equal(stats.PIDs, "1"))
		assert.Check(t, is.Contains(stats.MemUsage, " / "))

		// Without names, --no-stream lists every running container.
		names := dockerOK(t, d, "stats", "--no-stream", "--format", "{{.Name}}")
		assert.Check(t, is.Contains(names, "stater\n"))
		assert.Check(t, is.Contains(names, "insp\n"))
		assert.Check(t, !strings.Contains(names, "waiter"), names)
	})

	t.Run("diff changes", func(t *testing.T) {
		dockerOK(t, d, "run", "--name", "changer", "busybox", "sh", "-c", "echo x > /new; echo y >> /etc/passwd; rm /bin/vi")
		assert.Check(t, is.Equal(dockerOK(t, d, "diff", "changer"), "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /new\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "container", "diff", "changer"), "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /new\n"))
		dockerFails(t, d, 1, "No such container: nosuch", "diff", "nosuch")
	})

	t.Run("commit with changes", func(t *testing.T) {
		out := dockerOK(t, d, "commit", "-c", `CMD ["cat","/new"]`, "-m", "add new", "-a", "Jane <jane@example.com>", "changer", "snap:v1")
		assert.Check(t, regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(out), out)
		assert.Check(t, is.Equal(dockerOK(t, d, "run", "--rm", "snap:v1"), "x\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}", "snap:v1"),
			`Jane <jane@example.com>|add new|["cat","/new"]`+"\n"))

		dockerOK(t, d, "commit", "--change", "ENV FOO=bar", "--change", "LABEL k=v", "--change", "WORKDIR /tmp",
			"--change", "EXPOSE 8080", "changer", "snap:v2")
		out = dockerOK(t, d, "inspect", "-f", "{{json .Config.Env}}|{{json .Config.Labels}}|{{.Config.WorkingDir}}|{{json .Config.ExposedPorts}}", "snap:v2")
		parts := strings.Split(strings.TrimSpace(out), "|")
		assert.Assert(t, is.Len(parts, 4))
		assert.Check(t, is.Contains(parts[0], `"FOO=bar"`))
		assert.Check(t, is.Equal(parts[1], `{"k":"v"}`))
		assert.Check(t, is.Equal(parts[2], "/tmp"))
		assert.Check(t, is.Equal(parts[3], `{"8080/tcp":{}}`))
		assert.Check(t, is.Equal(dockerOK(t, d, "run", "--rm", "snap:v2", "sh", "-c", "echo $FOO; pwd"), "bar\n/tmp\n"))

		dockerFails(t, d, 1, "No such container: nosuch", "commit", "nosuch", "snap:v3")
	})

	t.Run("export tar", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "changer.tar")
		assert.Check(t, is.Equal(dockerOK(t, d, "export", "-o", file, "changer"), ""))
		data, err := os.ReadFile(file)
		assert.NilError(t, err)

		contents := func(data []byte) map[string]string {
			t.Helper()
			files := map[string]string{}
			tr := tar.NewReader(bytes.NewReader(data))
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					return files
				}
				assert.NilError(t, err)
				body, err := io.ReadAll(tr)
				assert.NilError(t, err)
				files[strings.TrimPrefix(hdr.Name, "./")] = string(body)
			}
		}
		files := contents(data)
		assert.Check(t, is.Equal(files["new"], "x\n"))
		assert.Check(t, strings.HasSuffix(files["etc/passwd"], "y\n"), files["etc/passwd"])
		_, hasSh := files["bin/sh"]
		assert.Check(t, hasSh, "bin/sh missing from the export")
		_, hasVi := files["bin/vi"]
		assert.Check(t, !hasVi, "deleted bin/vi is in the export")

		// Without -o the tar goes to stdout.
		assert.Check(t, is.DeepEqual(contents([]byte(dockerOK(t, d, "export", "changer"))), files))
		dockerFails(t, d, 1, "No such container: nosuch", "export", "-o", file, "nosuch")
	})

	t.Run("update limits and policy", func(t *testing.T) {
		dockerOK(t, d, "run", "-d", "--name", "updated", "busybox", "sleep", "300")
		out := dockerOK(t, d, "update", "--memory", "64m", "--memory-swap", "128m", "--cpu-shares", "512",
			"--restart", "on-failure:3", "updated")
		assert.Check(t, is.Equal(out, "updated\n"))
		out = dockerOK(t, d, "inspect", "-f",
			"{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} "+
				"{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", "updated")
		assert.Check(t, is.Equal(out, "67108864 134217728 512 on-failure 3\n"))

		out = dockerOK(t, d, "stats", "--no-stream", "--format", "{{.MemUsage}}", "updated")
		assert.Check(t, is.Contains(out, "/ 64MiB"))

		dockerOK(t, d, "update", "--restart", "unless-stopped", "updated")
		out = dockerOK(t, d, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}}", "updated")
		assert.Check(t, is.Equal(out, "unless-stopped 67108864\n"))

		dockerFails(t, d, 1, "Error response from daemon: invalid restart policy: unknown policy 'bogus'",
			"update", "--restart", "bogus", "updated")
		dockerFails(t, d, 1, "No such container: nosuch", "update", "--cpu-shares", "512", "nosuch")
	})

	t.Run("ps filters and formats", func(t *testing.T) {
		exitedID := strings.TrimSpace(dockerOK(t, d, "create", "--name", "psexited", "--label", "psf=1", "busybox", "sh", "-c", "exit 2"))
		dockerCmd(t, d, "start", "-a", "psexited")
		runningID := strings.TrimSpace(dockerOK(t, d, "run", "-d", "--name", "psrunning", "--label", "psf=1", "--label", "tier=web",
			"busybox", "sleep", "300"))
		dockerOK(t, d, "commit", "psexited", "psimage:1")
		createdID := strings.TrimSpace(dockerOK(t, d, "create", "--name", "pscreated", "--label", "psf=1", "psimage:1", "true"))

		names := func(args ...string) string {
			t.Helper()
			args = append([]string{"ps", "--format", "{{.Names}}", "--filter", "label=psf=1"}, args...)
			return strings.Join(lines(dockerOK(t, d, args...)), " ")
		}
		assert.Check(t, is.Equal(names(), "psrunning"))
		assert.Check(t, is.Equal(names("-a"), "pscreated psrunning psexited"))
		assert.Check(t, is.Equal(names("--filter", "status=exited"), "psexited"))
		assert.Check(t, is.Equal(names("--filter", "status=created"), "pscreated"))
		assert.Check(t, is.Equal(names("-a", "--filter", "status=running"), "psrunning"))
		assert.Check(t, is.Equal(names("-a", "--filter", "status=exited", "--filter", "status=created"), "pscreated psexited"))
		assert.Check(t, is.Equal(names("-a", "--filter", "name=psrun"), "psrunning"))
		assert.Check(t, is.Equal(names("-a", "--filter", "name=^/pscreated$"), "pscreated"))
		assert.Check(t, is.Equal(names("-a", "--filter", "label=tier=web"), "psrunning"))
		assert.Check(t, is.Equal(names("-a", "--filter", "label=tier"), "psrunning"))
		assert.Check(t, is.Equal(names("-a", "--filter", "ancestor=psimage:1"), "pscreated"))
		assert.Check(t, is.Contains(names("-a", "--filter", "ancestor=busybox"), "psrunning psexited"))
		assert.Check(t, is.Equal(names("-a", "--filter", "exited=2"), "psexited"))
		assert.Check(t, is.Equal(names("-a", "--filter", "exited=0"), ""))
		assert.Check(t, is.Equal(names("-a", "--filter", "id="+runningID[:10]), "psrunning"))

		rows := lines(dockerOK(t, d, "ps", "-a", "--filter", "label=psf=1", "--format", "table {{.Names}}\t{{.Status}}"))
		assert.Assert(t, is.Len(rows, 4))
		assert.Check(t, is.DeepEqual(strings.Fields(rows[0]), []string{"NAMES", "STATUS"}))
		assert.Check(t, is.DeepEqual(strings.Fields(rows[1]), []string{"pscreated", "Created"}))
		assert.Check(t, strings.HasPrefix(strings.Join(strings.Fields(rows[3]), " "), "psexited Exited (2) "), rows[3])

		rows = lines(dockerOK(t, d, "ps", "-a", "--filter", "label=psf=1"))
		assert.Assert(t, is.Len(rows, 4))
		for _, column := range []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"} {
			assert.Check(t, is.Contains(rows[0], column))
		}
		assert.Check(t, strings.HasPrefix(rows[1], createdID[:12]+"   psimage:1 "), rows[1])

		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-q", "--filter", "label=psf=1"), runningID[:12]+"\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-q", "--no-trunc", "--filter", "label=psf=1"), runningID+"\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-aq", "--filter", "label=psf=1"),
			createdID[:12]+"\n"+runningID[:12]+"\n"+exitedID[:12]+"\n"))
		assert.Check(t, is.Equal(names("-n", "2"), "pscreated psrunning"))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-l", "--format", "{{.Names}}"), "pscreated\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-lq", "--no-trunc"), createdID+"\n"))

		out := dockerOK(t, d, "ps", "--no-trunc", "--filter", "name=psrunning", "--format", "{{.ID}} {{.Command}}")
		assert.Check(t, is.Equal(out, runningID+` "sleep 300"`+"\n"))
		out = dockerOK(t, d, "ps", "-a", "--filter", "name=psexited", "--format", "{{.Command}}")
		assert.Check(t, is.Equal(out, `"sh -c exit 2"`+"\n"))
		out = dockerOK(t, d, "ps", "--filter", "name=psrunning", "--format", `{{.Label "tier"}} {{.Image}} {{.State}}`)
		assert.Check(t, is.Equal(out, "web busybox running\n"))

		var listed struct{ Names, State, Labels, Image string }
		out = dockerOK(t, d, "ps", "--filter", "name=psrunning", "--format", "{{json .}}")
		assert.NilError(t, json.Unmarshal([]byte(out), &listed))
		assert.Check(t, is.Equal(listed.Names, "psrunning"))
		assert.Check(t, is.Equal(listed.State, "running"))
		assert.Check(t, is.Equal(listed.Image, "busybox"))
		assert.Check(t, is.Contains(listed.Labels, "tier=web"))

		out = dockerOK(t, d, "ps", "-a", "-s", "--filter", "name=psexited", "--format", "{{.Size}}")
		assert.Check(t, regexp.MustCompile(`^0B \(virtual [0-9.]+[kM]B\)\n$`).MatchString(out), out)
		rows = lines(dockerOK(t, d, "ps", "-s", "--filter", "name=psrunning"))
		assert.Assert(t, is.Len(rows, 2))
		assert.Check(t, is.Contains(rows[0], "SIZE"))
		assert.Check(t, is.Contains(rows[1], "(virtual "))

		dockerFails(t, d, 1, "invalid filter", "ps", "--filter", "colour=red")
	})

	t.Run("create flags stored", func(t *testing.T) {
		dir := t.TempDir()
		labelFile := filepath.Join(dir, "labels")
		envFile := filepath.Join(dir, "env")
		assert.NilError(t, os.WriteFile(labelFile, []byte("fromfile=yes\n# a comment\nshared=file\n"), 0o644))
		assert.NilError(t, os.WriteFile(envFile, []byte("E1=one\n# a comment\nE2=two words\n"), 0o644))

		dockerOK(t, d, "create", "--name", "flagged", "--label", "shared=flag", "--label-file", labelFile,
			"--env-file", envFile, "-e", "E3=three", "--hostname", "flaghost", "--user", "1000:1000", "--workdir", "/tmp",
			"--stop-signal", "SIGUSR1", "--stop-timeout", "7", "--restart", "on-failure:2",
			"busybox", "sh", "-c", "id -u; pwd; hostname; echo $E2")

		get := func(template string) string {
			t.Helper()
			return strings.TrimSpace(dockerOK(t, d, "inspect", "-f", template, "flagged"))
		}
		assert.Check(t, is.Equal(get("{{.Name}}"), "/flagged"))
		// A --label flag overrides the same key from --label-file.
		assert.Check(t, is.Equal(get("{{json .Config.Labels}}"), `{"fromfile":"yes","shared":"flag"}`))
		assert.Check(t, is.Contains(get("{{json .Config.Env}}"), `"E1=one","E2=two words","E3=three"`))
		assert.Check(t, is.Equal(get("{{.Config.Hostname}}"), "flaghost"))
		assert.Check(t, is.Equal(get("{{.Config.User}}"), "1000:1000"))
		assert.Check(t, is.Equal(get("{{.Config.WorkingDir}}"), "/tmp"))
		assert.Check(t, is.Equal(get("{{.Config.StopSignal}}"), "SIGUSR1"))
		assert.Check(t, is.Equal(get("{{.Config.StopTimeout}}"), "7"))
		assert.Check(t, is.Equal(get("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "on-failure:2"))
		assert.Check(t, is.Equal(get("{{.State.Status}}"), "created"))

		// The stored settings apply when the container runs.
		assert.Check(t, is.Equal(dockerOK(t, d, "start", "-a", "flagged"), "1000\n/tmp\nflaghost\ntwo words\n"))
	})

	t.Run("error responses", func(t *testing.T) {
		takenID := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "taken"))
		containersBefore := dockerOK(t, d, "ps", "-aq")

		for _, args := range [][]string{
			{"start", "nosuch"}, {"stop", "nosuch"}, {"rm", "nosuch"}, {"logs", "nosuch"},
			{"kill", "nosuch"}, {"container", "inspect", "nosuch"}, {"port", "nosuch"},
		} {
			dockerFails(t, d, 1, "Error response from daemon: No such container: nosuch", args...)
		}
		for _, args := range [][]string{{"rmi", "nosuch"}, {"image", "history", "nosuch"}, {"image", "inspect", "nosuch"}} {
			dockerFails(t, d, 1, "Error response from daemon: No such image: nosuch:latest", args...)
		}

		stderr := dockerFails(t, d, 125, "docker: Error response from daemon: Conflict. "+
			`The container name "/taken" is already in use by container "`+takenID+`". `+
			"You have to remove (or rename) that container to be able to reuse that name.\n",
			"run", "--name", "taken", "busybox", "true")
		assert.Check(t, is.Contains(stderr, "Run 'docker run --help' for more information"))
		dockerFails(t, d, 1, `Conflict. The container name "/taken" is already in use`,
			"create", "--name", "taken", "busybox", "true")

		dockerFails(t, d, 125, "docker: Error response from daemon: invalid restart policy: unknown policy 'bogus'; "+
			"use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
			"run", "--restart", "bogus", "busybox", "true")
		dockerFails(t, d, 125, "docker: Error response from daemon: invalid restart policy: "+
			"maximum retry count can only be used with 'on-failure'",
			"run", "--restart", "always:3", "busybox", "true")
		dockerFails(t, d, 125, "docker: Error response from daemon: invalid signal: BOGUS",
			"run", "--stop-signal", "BOGUS", "busybox", "true")
		dockerFails(t, d, 1, "Error response from daemon: invalid signal: SIGNOPE",
			"create", "--stop-signal", "SIGNOPE", "busybox", "true")
		dockerFails(t, d, 1, `Error response from daemon: cannot remove container "/insp": container is running: `+
			"stop the container before removing or force remove", "rm", "insp")
		dockerFails(t, d, 1, "is not running", "kill", "waiter")

		// None of the rejected creates left a container behind.
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-aq"), containersBefore))
	})

	// The CLI shows only the message, so the status codes behind these
	// errors are checked on the API directly.
	t.Run("error status codes", func(t *testing.T) {
		api := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dialer net.Dialer
				return dialer.DialContext(ctx, "unix", d.socket)
			},
		}}
		request := func(method, path, body string) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, "http://berth/v1.50"+path, strings.NewReader(body))
			assert.NilError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := api.Do(req)
			assert.NilError(t, err)
			defer resp.Body.Close()
			var msg struct{ Message string }
			assert.NilError(t, json.NewDecoder(resp.Body).Decode(&msg))
			return resp.StatusCode, msg.Message
		}

		status, msg := request(http.MethodGet, "/containers/nosuch/json", "")
		assert.Check(t, is.Equal(status, http.StatusNotFound))
		assert.Check(t, is.Equal(msg, "No such container: nosuch"))
		status, msg = request(http.MethodGet, "/images/nosuch/json", "")
		assert.Check(t, is.Equal(status, http.StatusNotFound))
		assert.Check(t, is.Equal(msg, "No such image: nosuch:latest"))

		status, msg = request(http.MethodPost, "/containers/create?name=taken", `{"Image":"busybox"}`)
		assert.Check(t, is.Equal(status, http.StatusConflict))
		assert.Check(t, is.Contains(msg, `Conflict. The container name "/taken" is already in use`))
		status, msg = request(http.MethodPost, "/containers/taken/rename?name=insp", "")
		assert.Check(t, is.Equal(status, http.StatusConflict))
		assert.Check(t, is.Contains(msg, `The container name "/insp" is already in use`))
		status, _ = request(http.MethodDelete, "/containers/insp", "")
		assert.Check(t, is.Equal(status, http.StatusConflict))

		status, msg = request(http.MethodPost, "/containers/create",
			`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"bogus"}}}`)
		assert.Check(t, is.Equal(status, http.StatusBadRequest))
		assert.Check(t, is.Contains(msg, "unknown policy 'bogus'"))
		status, msg = request(http.MethodPost, "/containers/create", `{"Image":"busybox","StopSignal":"BOGUS"}`)
		assert.Check(t, is.Equal(status, http.StatusBadRequest))
		assert.Check(t, is.Equal(msg, "invalid signal: BOGUS"))
	})

	t.Run("image tag and rmi", func(t *testing.T) {
		assert.Check(t, is.Equal(dockerOK(t, d, "image", "tag", "busybox", "mytag:1"), ""))
		dockerOK(t, d, "tag", "busybox:latest", "example.com/team/mytag:2")
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "mytag:1"), busyboxID+"\n"))
		out := dockerOK(t, d, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
		assert.Check(t, is.Contains(out, "mytag:1 "+strings.TrimPrefix(busyboxID, "sha256:")[:12]+"\n"))
		assert.Check(t, is.Contains(out, "example.com/team/mytag:2 "))
		tags := dockerOK(t, d, "inspect", "-f", "{{json .RepoTags}}", "busybox")
		assert.Check(t, is.Contains(tags, `"mytag:1"`))

		assert.Check(t, is.Equal(dockerOK(t, d, "rmi", "mytag:1"), "Untagged: mytag:1\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "image", "rm", "example.com/team/mytag:2"), "Untagged: example.com/team/mytag:2\n"))
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "busybox"), busyboxID+"\n"))
		dockerFails(t, d, 1, "Error response from daemon: No such image: mytag:1", "rmi", "mytag:1")
		dockerFails(t, d, 1, "Error response from daemon: No such image: nosuch:latest", "tag", "nosuch", "other:1")
	})

	t.Run("image history", func(t *testing.T) {
		snapID := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "snap:v1"))

		rows := lines(dockerOK(t, d, "image", "history", "snap:v1"))
		assert.Assert(t, len(rows) >= 3, rows)
		assert.Check(t, is.DeepEqual(strings.Fields(rows[0]), []string{"IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"}))
		assert.Check(t, strings.HasPrefix(rows[1], strings.TrimPrefix(snapID, "sha256:")[:12]), rows[1])

		out := dockerOK(t, d, "image", "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", "snap:v1")
		rows = lines(out)
		assert.Assert(t, len(rows) >= 2, out)
		assert.Check(t, is.Equal(rows[0], snapID+"|sh -c echo x > /new; echo y >> /etc/passwd; rm /bin/vi|add new"))

		out = dockerOK(t, d, "history", "--format", "{{.CreatedBy}}", "snap:v1")
		created := lines(out)
		assert.Assert(t, len(created) >= 1, out)
		// Without --no-trunc the command is cut to 45 characters, the last
		// being an ellipsis.
		assert.Check(t, is.Equal(created[0], "sh -c echo x > /new; echo y >> /etc/passwd; …"))

		sizes := lines(dockerOK(t, d, "history", "-H=false", "--format", "{{.Size}}", "busybox"))
		assert.Assert(t, len(sizes) >= 1)
		size, err := strconv.ParseInt(sizes[len(sizes)-1], 10, 64)
		assert.NilError(t, err)
		assert.Check(t, size > 0)

		ids := lines(dockerOK(t, d, "history", "-q", "--no-trunc", "snap:v1"))
		assert.Assert(t, len(ids) >= 1)
		assert.Check(t, is.Equal(ids[0], snapID))
	})

	t.Run("image prune dangling", func(t *testing.T) {
		dir := t.TempDir()
		build := func(content string) string {
			t.Helper()
			assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(content), 0o644))
			return strings.TrimSpace(dockerOK(t, d, "build", "-q", "-t", "rebuilt:1", dir))
		}
		first := build("FROM busybox\nRUN echo one > /f\n")
		second := build("FROM busybox\nRUN echo two > /f\n")
		assert.Assert(t, first != second)

		dangling := dockerOK(t, d, "images", "--filter", "dangling=true", "-q", "--no-trunc")
		assert.Check(t, is.Equal(dangling, first+"\n"))
		out := dockerOK(t, d, "images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}}")
		assert.Check(t, is.Equal(out, "<none> <none>\n"))

		out = dockerOK(t, d, "image", "prune", "-f")
		assert.Check(t, strings.HasPrefix(out, "Deleted Images:\n"), out)
		assert.Check(t, is.Contains(out, "deleted: "+first+"\n"))
		assert.Check(t, !strings.Contains(out, second), out)
		assert.Check(t, regexp.MustCompile(`\nTotal reclaimed space: [0-9.]+k?B\n$`).MatchString(out), out)

		all := dockerOK(t, d, "images", "-a", "-q", "--no-trunc")
		assert.Check(t, !strings.Contains(all, first), all)
		assert.Check(t, is.Contains(all, second))
		assert.Check(t, is.Equal(dockerOK(t, d, "images", "--filter", "dangling=true", "-q"), ""))

		// With nothing dangling left, prune deletes nothing.
		assert.Check(t, is.Equal(dockerOK(t, d, "image", "prune", "-f"), "Total reclaimed space: 0B\n"))
	})

	t.Run("container prune by label", func(t *testing.T) {
		goneID := strings.TrimSpace(dockerOK(t, d, "create", "--name", "prunegone", "--label", "prune=yes", "busybox", "true"))
		dockerOK(t, d, "create", "--name", "prunekept", "--label", "prune=no", "busybox", "true")
		dockerOK(t, d, "run", "-d", "--name", "prunerunning", "--label", "prune=yes", "busybox", "sleep", "300")

		out := dockerOK(t, d, "container", "prune", "-f", "--filter", "label=prune=yes")
		assert.Check(t, is.Equal(out, "Deleted Containers:\n"+goneID+"\n\nTotal reclaimed space: 0B\n"))

		names := dockerOK(t, d, "ps", "-a", "--filter", "label=prune", "--format", "{{.Names}}")
		assert.Check(t, is.Equal(names, "prunerunning\nprunekept\n"))

		// Every label filter must match, so this prunes nothing.
		out = dockerOK(t, d, "container", "prune", "-f", "--filter", "label=prune=no", "--filter", "label=other")
		assert.Check(t, is.Equal(out, "Total reclaimed space: 0B\n"))
		names = dockerOK(t, d, "ps", "-a", "--filter", "label=prune", "--format", "{{.Names}}")
		assert.Check(t, is.Equal(names, "prunerunning\nprunekept\n"))
		dockerFails(t, d, 1, "invalid filter", "container", "prune", "-f", "--filter", "colour=red")
	})

	t.Run("system df", func(t *testing.T) {
		images := countUnique(lines(dockerOK(t, d, "images", "-q")))
		containers := len(lines(dockerOK(t, d, "ps", "-aq")))
		running := len(lines(dockerOK(t, d, "ps", "-q")))

		out := dockerOK(t, d, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}")
		assert.Check(t, is.Equal(out, fmt.Sprintf("Images|%d|%d\nContainers|%d|%d\nLocal Volumes|0|0\nBuild Cache|0|0\n",
			images, countActiveImages(t, d), containers, running)))

		out = lines(dockerOK(t, d, "system", "df"))[0]
		assert.Check(t, is.DeepEqual(strings.Fields(out), []string{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"}))

		verbose := dockerOK(t, d, "system", "df", "-v")
		for _, section := range []string{"Images space usage:", "Containers space usage:", "Local Volumes space usage:", "Build cache usage: 0B"} {
			assert.Check(t, is.Contains(verbose, section))
		}
		assert.Check(t, regexp.MustCompile(`(?m)^busybox +latest +[0-9a-f]{12} `).MatchString(verbose), verbose)
		assert.Check(t, regexp.MustCompile(`(?m)^[0-9a-f]{12} +busybox +"sh -c echo x > /new…" .* changer$`).MatchString(verbose), verbose)
	})

	t.Run("events live", func(t *testing.T) {
		// --since replays what the daemon logged since then, so the events
		// of the run below arrive even if the subscription starts after it.
		since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", "-H", "unix://"+d.socket, "events", "--since", since,
			"--filter", "container=evlive", "--filter", "type=container", "--format", "{{json .}}")
		stdout, err := cmd.StdoutPipe()
		assert.NilError(t, err)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		assert.NilError(t, cmd.Start())
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()

		dockerOK(t, d, "run", "--name", "evlive", "busybox", "true")
		id := strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "evlive"))

		type message struct {
			Status       string `json:"status"`
			ID           string `json:"id"`
			From         string `json:"from"`
			Type, Action string
			Actor        struct {
				ID         string
				Attributes map[string]string
			}
			Scope    string `json:"scope"`
			Time     int64  `json:"time"`
			TimeNano int64  `json:"timeNano"`
		}
		var got []message
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var m message
			assert.NilError(t, json.Unmarshal(scanner.Bytes(), &m), scanner.Text())
			got = append(got, m)
			if m.Action == "die" {
				break
			}
		}
		assert.Assert(t, len(got) > 0 && got[len(got)-1].Action == "die", "events: %+v\nstderr: %s", got, stderr.String())

		var actions []string
		for _, m := range got {
			actions = append(actions, m.Action)
			assert.Check(t, is.Equal(m.Type, "container"))
			assert.Check(t, is.Equal(m.Scope, "local"))
			assert.Check(t, is.Equal(m.Actor.ID, id))
			assert.Check(t, is.Equal(m.Actor.Attributes["name"], "evlive"))
			assert.Check(t, is.Equal(m.Actor.Attributes["image"], "busybox"))
			assert.Check(t, is.Equal(m.Time, m.TimeNano/int64(time.Second)))
			// API 1.50 still carries the fields deprecated in API 1.22.
			assert.Check(t, is.Equal(m.Status, m.Action))
			assert.Check(t, is.Equal(m.ID, id))
			assert.Check(t, is.Equal(m.From, "busybox"))
		}
		assert.Check(t, is.DeepEqual(actions, []string{"create", "start", "die"}))
		assert.Check(t, is.Equal(got[2].Actor.Attributes["exitCode"], "0"))
	})

	t.Run("events since until", func(t *testing.T) {
		start := time.Now().Add(-time.Second)
		assert.Check(t, is.Equal(dockerCmd(t, d, "run", "--name", "evpast", "busybox", "sh", "-c", "exit 4").code, 4))
		// A fractional --until in the past makes the command return at once.
		until := fmt.Sprintf("%.9f", float64(time.Now().UnixNano())/1e9)
		since := strconv.FormatInt(start.Unix(), 10)

		out := dockerOK(t, d, "events", "--since", since, "--until", until, "--filter", "container=evpast",
			"--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
		assert.Check(t, is.Equal(out, "container create evpast\ncontainer start evpast\ncontainer die evpast\n"))

		out = dockerOK(t, d, "system", "events", "--since", since, "--until", until, "--filter", "container=evpast",
			"--filter", "event=die", "--format", "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}")
		assert.Check(t, is.Equal(out, "die 4\n"))

		out = dockerOK(t, d, "events", "--since", since, "--until", until, "--filter", "container=evpast")
		assert.Check(t, regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container start [0-9a-f]{64} \(image=busybox, name=evpast\)$`).MatchString(out), out)

		// Nothing happened in a window that ended before the run.
		before := strconv.FormatInt(start.Add(-time.Minute).Unix(), 10)
		out = dockerOK(t, d, "events", "--since", before, "--until", since, "--filter", "container=evpast")
		assert.Check(t, is.Equal(out, ""))

		dockerFails(t, d, 1, "invalid filter 'colour'", "events", "--until", until, "--filter", "colour=red")
	})

	t.Run("version negotiates API", func(t *testing.T) {
		assert.Check(t, is.Equal(dockerOK(t, d, "version", "--format", "{{.Client.APIVersion}}"), "1.50\n"))
		out := dockerOK(t, d, "version", "--format", "{{.Server.Os}}/{{.Server.Arch}} {{.Server.MinAPIVersion}}")
		assert.Check(t, regexp.MustCompile(`^linux/\w+ 1\.24\n$`).MatchString(out), out)

		out = dockerOK(t, d, "version")
		assert.Check(t, is.Contains(out, "\nServer: berth\n"))
		assert.Check(t, is.Contains(out, " Engine:\n"))
		assert.Check(t, regexp.MustCompile(`(?m)^  API version: +1\.\d+ \(minimum version 1\.24\)$`).MatchString(out), out)

		var server struct {
			APIVersion string `json:"ApiVersion"`
		}
		assert.NilError(t, json.Unmarshal([]byte(dockerOK(t, d, "version", "--format", "{{json .Server}}")), &server))
		minor, err := strconv.Atoi(strings.TrimPrefix(server.APIVersion, "1."))
		assert.NilError(t, err, server.APIVersion)
		assert.Check(t, minor >= 50, "server API version %s is older than the client's 1.50", server.APIVersion)
	})

	t.Run("info format", func(t *testing.T) {
		all := len(lines(dockerOK(t, d, "ps", "-aq")))
		running := len(lines(dockerOK(t, d, "ps", "-q", "--filter", "status=running")))
		paused := len(lines(dockerOK(t, d, "ps", "-q", "--filter", "status=paused")))
		images := countUnique(lines(dockerOK(t, d, "images", "-aq", "--no-trunc")))

		out := dockerOK(t, d, "info", "--format",
			"{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}")
		assert.Check(t, is.Equal(out, fmt.Sprintf("%d %d %d %d %d\n", all, running, paused, all-running-paused, images)))
		out = dockerOK(t, d, "info", "--format", "{{.Driver}} {{.OSType}} {{.Swarm.LocalNodeState}} {{json .Plugins.Network}}")
		assert.Check(t, is.Equal(out, `overlay2 linux inactive ["bridge","host","none"]`+"\n"))

		out = dockerOK(t, d, "info")
		assert.Check(t, is.Contains(out, "\n Swarm: inactive\n"))
		assert.Check(t, !strings.Contains(out, "NodeID"), out)
		assert.Check(t, is.Contains(out, fmt.Sprintf("\n Containers: %d\n", all)))
		assert.Check(t, is.Contains(out, "\n Storage Driver: overlay2\n"))
		assert.Check(t, is.Contains(out, "\n Docker Root Dir: "+d.dataRoot+"\n"))
	})

	// system prune runs last, because it removes every stopped container
	// the other subtests left.
	t.Run("system prune", func(t *testing.T) {
		stoppedID := strings.TrimSpace(dockerOK(t, d, "create", "--name", "sysprune", "busybox", "true"))
		dir := t.TempDir()
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo a > /a\n"), 0o644))
		danglingID := strings.TrimSpace(dockerOK(t, d, "build", "-q", "-t", "sysprune:1", dir))
		assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo b > /b\n"), 0o644))
		dockerOK(t, d, "build", "-q", "-t", "sysprune:1", dir)
		running := dockerOK(t, d, "ps", "-q")

		out := dockerOK(t, d, "system", "prune", "-f")
		assert.Check(t, is.Contains(out, "Deleted Containers:\n"))
		assert.Check(t, is.Contains(out, stoppedID+"\n"))
		assert.Check(t, is.Contains(out, "Deleted Images:\n"))
		assert.Check(t, is.Contains(out, "deleted: "+danglingID+"\n"))
		assert.Check(t, is.Contains(out, "Total reclaimed space: "))

		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-a", "--filter", "status=exited", "-q"), ""))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-a", "--filter", "status=created", "-q"), ""))
		assert.Check(t, is.Equal(dockerOK(t, d, "ps", "-q"), running))
		assert.Check(t, is.Equal(dockerOK(t, d, "images", "--filter", "dangling=true", "-q"), ""))
		// Tagged images stay: system prune without -a removes only dangling ones.
		dockerOK(t, d, "image", "inspect", "snap:v1")
		assert.Check(t, is.Equal(dockerOK(t, d, "inspect", "-f", "{{.Id}}", "busybox"), busyboxID+"\n"))
	})
}

// countActiveImages returns how many distinct images containers use.
func countActiveImages(t *testing.T, d *daemon) int {
	t.Helper()
	used := map[string]bool{}
	for _, id := range lines(dockerOK(t, d, "ps", "-aq", "--no-trunc")) {
		used[strings.TrimSpace(dockerOK(t, d, "inspect", "-f", "{{.Image}}", id))] = true
	}
	return len(used)
}

// countUnique returns how many distinct values values holds.
func countUnique(values []string) int {
	seen := map[string]bool{}
	for _, v := range values {
		seen[v] = true
	}
	return len(seen)
}
