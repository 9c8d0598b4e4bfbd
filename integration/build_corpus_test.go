package integration

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The build corpus: one directory under testdata/build per Dockerfile rule,
// holding the Dockerfile and its context. The expectations below were taken
// from Docker 20.10's classic builder where it implements the rule, and from
// the Dockerfile reference (BuildKit's behaviour) where only BuildKit does.

// entry is one expected file system entry of a built image.
type entry struct {
	path    string
	kind    byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode    int64
	uid     int
	gid     int
	content string // regular files only
	target  string // symlinks only
}

func file(path string, mode int64, content string) entry {
	return entry{path: path, kind: tar.TypeReg, mode: mode, content: content}
}

func dir(path string, mode int64) entry {
	return entry{path: path, kind: tar.TypeDir, mode: mode}
}

func symlink(path, target string) entry {
	return entry{path: path, kind: tar.TypeSymlink, mode: 0o777, target: target}
}

func (e entry) owner(uid, gid int) entry {
	e.uid, e.gid = uid, gid
	return e
}

// step is one expected history entry: createdBy is a regular expression
// matched against the whole created_by field.
type step struct {
	createdBy string
	empty     bool
}

// nop is the history entry of a metadata instruction in Docker's form.
func nop(instruction string) step {
	return step{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop)  " + instruction), empty: true}
}

// healthcheck is the history entry of HEALTHCHECK: Docker 20.10 writes
// the test, interval, timeout and start period, then the retries, and
// Docker 25 and later write the start interval before the retries.
func healthcheck(fields, retries string) step {
	return step{
		createdBy: regexp.QuoteMeta("/bin/sh -c #(nop)  HEALTHCHECK &{"+fields) + `( "[0-9a-z.]+")? ` + regexp.QuoteMeta(retries+"}"),
		empty:     true,
	}
}

// run is the history entry of a RUN instruction whose full command line,
// with any "|N ARG=value" prefix, is cmd.
func run(cmd string) step {
	return step{createdBy: regexp.QuoteMeta(cmd)}
}

// copied is the history entry of COPY or ADD: kind is file, dir or multi,
// and flags such as "--chown=1000:1000" come right before it.
func copied(command, flags, kind, dest string) step {
	// Docker 20.10 writes no space between the flags and the kind.
	if flags != "" {
		flags = regexp.QuoteMeta(flags) + " ?"
	}
	return step{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop) "+command+" ") + flags +
		kind + ":[0-9a-f]{64}" + regexp.QuoteMeta(" in "+dest+" ")}
}

// corpusCase is one build of a corpus directory and what the image must hold.
type corpusCase struct {
	name string // subtest name
	dir  string // directory under testdata/build
	args []string
	// files must exist in the image with exactly these attributes, and
	// absent must not exist.
	files  []entry
	absent []string
	// config is a JSON object of image config fields. Each must equal
	// the image's; null matches a missing field.
	config string
	// history is the tail of the image's history, oldest first.
	history []step
	// classicRejects marks cases that Docker's classic builder cannot
	// build (BuildKit-only syntax, or stages it builds needlessly).
	classicRejects bool
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// corpusCases are the cases berth builds today; TestBuildCorpus runs them.
var corpusCases = []corpusCase{
	{
		name: "from scratch",
		dir:  "from-scratch",
		files: []entry{
			file("hello.txt", 0o644, "hello\n"),
			dir("sub", 0o755),
			file("sub/inner.txt", 0o644, "inner\n"),
		},
		absent: []string{"bin/sh", "sub/sub"},
		config: `{"Env":["` + defaultPath + `"],"Cmd":null,"Entrypoint":null}`,
		history: []step{
			copied("COPY", "", "file", "/"),
			copied("COPY", "", "dir", "/sub/"),
		},
	},
	{
		name:   "from args platform",
		dir:    "from-args",
		files:  []entry{file("from-args.txt", 0o644, "tag=latest base=\n")},
		config: `{"Cmd":["sh"]}`,
		history: []step{
			nop("ARG TAG"),
			run(`|1 TAG=latest /bin/sh -c echo "tag=$TAG base=$BASE" > /from-args.txt`),
		},
	},
	{
		name: "run forms and shell",
		dir:  "run-shell",
		files: []entry{
			file("shell.txt", 0o644, "shell form\n"),
			file("exec.txt", 0o644, "exec form\n"),
			file("shell2.txt", 0o644, "with SHELL: /bin/sh\n"),
			file("continued.txt", 0o644, "a b c\n"),
		},
		config: `{"Shell":["/bin/sh","-e","-c"],"Cmd":["sh"]}`,
		history: []step{
			run("/bin/sh -c echo shell form > /shell.txt"),
			run("/bin/sh -c echo exec form > /exec.txt"),
			step{createdBy: regexp.QuoteMeta("/bin/sh -e -c #(nop)  SHELL [/bin/sh -e -c]"), empty: true},
			run(`/bin/sh -e -c echo "with SHELL: $0" > /shell2.txt`),
			run("/bin/sh -e -c echo a     b     c > /continued.txt"),
		},
	},
	{
		name:    "entrypoint drops inherited cmd",
		dir:     "cmd-entrypoint",
		args:    []string{"--target", "inherit"},
		config:  `{"Cmd":null,"Entrypoint":["echo","entry"]}`,
		history: []step{nop(`ENTRYPOINT ["echo" "entry"]`)},
	},
	{
		name:   "cmd entrypoint shell forms",
		dir:    "cmd-entrypoint",
		args:   []string{"--target", "shellforms"},
		config: `{"Cmd":["/bin/sh","-c","echo from cmd"],"Entrypoint":["/bin/sh","-c","echo from entrypoint"]}`,
		history: []step{
			nop(`CMD ["/bin/sh" "-c" "echo from cmd"]`),
			nop(`ENTRYPOINT ["/bin/sh" "-c" "echo from entrypoint"]`),
		},
	},
	{
		name:   "cmd entrypoint exec forms",
		dir:    "cmd-entrypoint",
		args:   []string{"--target", "both"},
		config: `{"Cmd":["default","args"],"Entrypoint":["/bin/echo"]}`,
	},
	{
		name:   "cmd only",
		dir:    "cmd-entrypoint",
		args:   []string{"--target", "cmdonly"},
		config: `{"Cmd":["echo","only"],"Entrypoint":null}`,
	},
	{
		name: "labels ports env healthcheck",
		dir:  "metadata",
		config: `{
			"Labels":{"version":"1.0","description":"two words","multi.line":"yes","empty":""},
			"ExposedPorts":{"80/tcp":{},"443/tcp":{},"53/udp":{}},
			"Env":["` + defaultPath + `","NEW=1","QUOTED=a b","ESCAPED=c d","LEGACY=legacy form with spaces"],
			"StopSignal":"SIGUSR1",
			"Healthcheck":{"Test":["CMD-SHELL","wget -q localhost || exit 1"],
				"Interval":5000000000,"Timeout":2000000000,"StartPeriod":1000000000,"Retries":4}
		}`,
		history: []step{
			nop("LABEL version=1.0 description=two words multi.line=yes"),
			nop("LABEL empty="),
			nop("EXPOSE 443/tcp 53/udp 80"),
			nop("ENV NEW=1 QUOTED=a b ESCAPED=c d"),
			nop("ENV LEGACY=legacy form with spaces"),
			nop("STOPSIGNAL SIGUSR1"),
			healthcheck(`["CMD-SHELL" "wget -q localhost || exit 1"] "5s" "2s" "1s"`, `'\x04'`),
		},
	},
	{
		name:   "healthcheck none",
		dir:    "healthcheck-none",
		config: `{"Healthcheck":{"Test":["NONE"]}}`,
		history: []step{
			healthcheck(`["CMD" "/bin/true"] "0s" "0s" "0s"`, `'\x00'`),
			healthcheck(`["NONE"] "0s" "0s" "0s"`, `'\x00'`),
		},
	},
	{
		name: "add local archives",
		dir:  "add-archive",
		files: []entry{
			dir("unpacked", 0o755),
			dir("unpacked/top", 0o755).owner(1000, 2000),
			file("unpacked/top/a.txt", 0o644, "in-archive\n").owner(1000, 2000),
			symlink("unpacked/top/link", "a.txt").owner(1000, 2000),
			file("unpacked/top/nested/b.txt", 0o600, "nested\n").owner(1000, 2000),
			file("unpacked-gz/top/a.txt", 0o644, "in-archive\n"),
			file("unpacked-gz/top/nested/b.txt", 0o600, "nested\n"),
			file("added-notes.txt", 0o644, "notes\n"),
		},
		absent: []string{"copied/top", "unpacked/plain.tar", "unpacked-gz/packed.tar.gz"},
		history: []step{
			copied("ADD", "", "file", "/unpacked/"),
			copied("ADD", "", "file", "/unpacked-gz"),
			copied("COPY", "", "file", "/copied/"),
			copied("ADD", "", "file", "/added-notes.txt"),
		},
	},
	{
		name: "copy from stage index image",
		dir:  "copy-from",
		files: []entry{
			file("by-name.txt", 0o644, "built\n"),
			file("by-index.txt", 0o644, "second\n"),
			dir("outdir", 0o755),
			file("outdir/artifact.txt", 0o644, "built\n"),
		},
		absent: []string{"bin/sh", "second.txt", "out"},
		config: `{"Cmd":null}`,
		history: []step{
			copied("COPY", "", "file", "/by-name.txt"),
			copied("COPY", "", "file", "/by-index.txt"),
			copied("COPY", "", "file", "/from-image-passwd"),
			copied("COPY", "", "dir", "/outdir"),
		},
	},
	{
		name: "copy chown",
		dir:  "copy-chown",
		files: []entry{
			file("numeric.txt", 0o644, "owned\n").owner(1000, 1000),
			file("names.txt", 0o644, "owned\n").owner(1, 2),
			file("useronly.txt", 0o644, "owned\n").owner(2, 2),
			dir("chowned-dir", 0o755).owner(2000, 2000),
			dir("chowned-dir/deeper", 0o755).owner(2000, 2000),
			file("chowned-dir/deeper/x.txt", 0o644, "x\n").owner(2000, 2000),
		},
		history: []step{
			copied("COPY", "--chown=1000:1000", "file", "/numeric.txt"),
			copied("COPY", "--chown=daemon:bin", "file", "/names.txt"),
			copied("COPY", "--chown=bin", "file", "/useronly.txt"),
			copied("COPY", "--chown=2000", "dir", "/chowned-dir"),
		},
	},
	{
		name: "copy wildcards",
		dir:  "copy-wildcards",
		files: []entry{
			file("txt/one.txt", 0o644, "1\n"),
			file("txt/two.txt", 0o644, "2\n"),
			file("dirs/f1", 0o644, "d1\n"),
			file("dirs/f2", 0o644, "d2\n"),
			file("c/a.c", 0o644, "a\n"),
			file("md/a.md", 0o644, "A\n"),
			file("md/b.md", 0o644, "B\n"),
		},
		absent: []string{"txt/skip.dat", "dirs/dir1", "c/ab.c", "md/c.md"},
		history: []step{
			copied("COPY", "", "multi", "/txt/"),
			copied("COPY", "", "multi", "/dirs/"),
			copied("COPY", "", "file", "/c/"),
			copied("COPY", "", "multi", "/md/"),
		},
	},
	{
		name: "copy path rules",
		dir:  "copy-paths",
		files: []entry{
			file("contents/top.txt", 0o644, "top\n"),
			file("contents/sub/s.txt", 0o644, "sub\n"),
			file("contents-slash/top.txt", 0o644, "top\n"),
			dir("newdir", 0o755),
			file("newdir/file.txt", 0o644, "file\n"),
			file("renamed", 0o644, "file\n"),
			file("multi/file.txt", 0o644, "file\n"),
			file("multi/other.txt", 0o644, "other\n"),
			dir("all/dir", 0o755),
			file("all/dir/sub/s.txt", 0o644, "sub\n"),
			file("work/relative/file.txt", 0o644, "file\n"),
			file("work/file.txt", 0o644, "file\n"),
		},
		absent: []string{"contents/dir", "contents-slash/dir"},
		config: `{"WorkingDir":"/work"}`,
		history: []step{
			copied("COPY", "", "dir", "/contents"),
			copied("COPY", "", "dir", "/contents-slash/"),
			copied("COPY", "", "file", "/newdir/"),
			copied("COPY", "", "file", "/renamed"),
			copied("COPY", "", "multi", "/multi/"),
			copied("COPY", "", "dir", "/all/"),
			{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop) WORKDIR /work")},
			copied("COPY", "", "file", "relative/"),
			copied("COPY", "", "file", "."),
		},
	},
	{
		name: "copy keeps symlinks",
		dir:  "copy-symlinks",
		files: []entry{
			file("tree/target.txt", 0o644, "target\n"),
			symlink("tree/link-to-file", "target.txt"),
			symlink("tree/absolute", "/etc/passwd"),
			symlink("tree/dangling", "missing"),
			file("followed", 0o644, "target\n"),
		},
	},
	{
		name: "user names resolved",
		dir:  "user",
		files: []entry{
			dir("out", 0o777),
			file("out/uid.txt", 0o644, "1\n").owner(1, 1),
			file("out/gid.txt", 0o644, "1\n").owner(1, 1),
			file("out/made-by-daemon", 0o644, "").owner(1, 1),
			file("out/made-by-1000", 0o644, "").owner(1000, 2000),
			file("out/made-by-nobody", 0o644, "").owner(65534, 2),
		},
		config: `{"User":"nobody:bin"}`,
		history: []step{
			nop("USER daemon"),
			run("/bin/sh -c id -u > /out/uid.txt && id -g > /out/gid.txt && touch /out/made-by-daemon"),
			nop("USER 1000:2000"),
			run("/bin/sh -c touch /out/made-by-1000"),
			nop("USER nobody:bin"),
			run("/bin/sh -c touch /out/made-by-nobody"),
		},
	},
	{
		name: "workdir relative and created",
		dir:  "workdir",
		files: []entry{
			dir("a/b", 0o755),
			dir("a/c", 0o755),
			dir("srv/app", 0o755),
			file("pwd1.txt", 0o644, "/a/c\n"),
			file("pwd2.txt", 0o644, "/srv/app\n"),
		},
		config: `{"WorkingDir":"/srv/app"}`,
		history: []step{
			{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop) WORKDIR /a/c")},
			run("/bin/sh -c pwd > /pwd1.txt"),
			{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop) WORKDIR /srv/app")},
			run("/bin/sh -c pwd > /pwd2.txt"),
		},
	},
	{
		name: "arg scopes defaults",
		dir:  "arg-scopes",
		files: []entry{
			file("before-redeclare.txt", 0o644, "[]\n"),
			file("after-redeclare.txt", 0o644, "[global-default]\n"),
			file("args.txt", 0o644, "[default] []\n"),
			file("env-wins.txt", 0o644, "[from-env]\n"),
			file("proxy.txt", 0o644, "[]\n"),
		},
		config: `{"Env":["` + defaultPath + `","WITH_DEFAULT=from-env"]}`,
		history: []step{
			run(`/bin/sh -c echo "[$GLOBAL]" > /before-redeclare.txt`),
			nop("ARG GLOBAL"),
			run(`|1 GLOBAL=global-default /bin/sh -c echo "[$GLOBAL]" > /after-redeclare.txt`),
			nop("ARG WITH_DEFAULT=default"),
			nop("ARG NO_DEFAULT"),
			run(`|2 GLOBAL=global-default WITH_DEFAULT=default /bin/sh -c echo "[$WITH_DEFAULT] [$NO_DEFAULT]" > /args.txt`),
			nop("ENV WITH_DEFAULT=from-env"),
			run(`|1 GLOBAL=global-default /bin/sh -c echo "[$WITH_DEFAULT]" > /env-wins.txt`),
			run(`|1 GLOBAL=global-default /bin/sh -c echo "[$HTTP_PROXY]" > /proxy.txt`),
		},
	},
	{
		name: "build args and proxy",
		dir:  "arg-scopes",
		args: []string{"--build-arg", "HTTP_PROXY=http://127.0.0.1:3128", "--build-arg", "NO_DEFAULT=given"},
		files: []entry{
			file("args.txt", 0o644, "[default] [given]\n"),
			file("proxy.txt", 0o644, "[http://127.0.0.1:3128]\n"),
		},
		// The proxy arguments are left out of the history.
		history: []step{
			run(`|2 GLOBAL=global-default NO_DEFAULT=given /bin/sh -c echo "[$HTTP_PROXY]" > /proxy.txt`),
		},
	},
	{
		name:   "onbuild recorded",
		dir:    "onbuild",
		args:   []string{"--target", "parent"},
		config: `{"OnBuild":["RUN echo triggered > /onbuild.txt","ENV FROM_TRIGGER=yes"]}`,
		absent: []string{"onbuild.txt"},
		history: []step{
			nop("ONBUILD RUN echo triggered > /onbuild.txt"),
			nop("ONBUILD ENV FROM_TRIGGER=yes"),
		},
	},
	{
		name: "onbuild triggered",
		dir:  "onbuild",
		files: []entry{
			file("onbuild.txt", 0o644, "triggered\n"),
			file("child.txt", 0o644, "child\n"),
		},
		config: `{"OnBuild":null,"Env":["` + defaultPath + `","FROM_TRIGGER=yes"]}`,
		history: []step{
			run("/bin/sh -c echo triggered > /onbuild.txt"),
			nop("ENV FROM_TRIGGER=yes"),
			run("/bin/sh -c echo child > /child.txt"),
		},
	},
	{
		name:   "comments and continuations",
		dir:    "continuations",
		files:  []entry{file("joined.txt", 0o644, "one two three\n")},
		config: `{"Labels":{"a":"1","b":"2"}}`,
		history: []step{
			run("/bin/sh -c echo one     two     three > /joined.txt"),
			nop("LABEL a=1 b=2"),
		},
	},
	{
		name: "escape directive",
		dir:  "escape-directive",
		files: []entry{
			file("joined.txt", 0o644, "one two\n"),
			file(`with\backslash/file.txt`, 0o644, "file\n"),
		},
		config: `{"Env":["` + defaultPath + `","WINPATH=C:\\dir\\file"]}`,
	},
	{
		name: "variable expansion",
		dir:  "expansion",
		files: []entry{
			dir("a/ab", 0o755),
			file("dest-a/file.txt", 0o644, "file\n"),
			file("tmp/run.txt", 0o644, "a ab\n").owner(1, 1),
		},
		config: `{
			"Env":["` + defaultPath + `","A=a","SPACE=x y","B=ab","C=default","D=alt","E=","F=$A","G=$A","H=a","I=aa","J=a-a"],
			"WorkingDir":"/a/ab",
			"Labels":{"from.env":"a","quoted":"x y"},
			"ExposedPorts":{"8080/tcp":{}},
			"User":"daemon",
			"StopSignal":"SIGTERM",
			"Volumes":{"/vol-a":{}}
		}`,
		history: []step{
			nop("ENV B=ab C=default D=alt E= F=$A G=$A H=a I=aa J=a-a"),
			{createdBy: regexp.QuoteMeta("/bin/sh -c #(nop) WORKDIR /a/ab")},
			nop("LABEL from.env=a quoted=x y"),
			nop("ARG PORT=8080"),
			nop("EXPOSE 8080/tcp"),
			copied("COPY", "", "file", "/dest-a/"),
			nop("ARG WHO=daemon"),
			nop("USER daemon"),
			nop("ARG SIG=SIGTERM"),
			nop("STOPSIGNAL SIGTERM"),
			nop("VOLUME [/vol-a]"),
			run(`|3 PORT=8080 SIG=SIGTERM WHO=daemon /bin/sh -c echo "$A $B" > /tmp/run.txt`),
		},
	},
	{
		name: "heredocs",
		dir:  "heredocs",
		files: []entry{
			file("heredoc-run.txt", 0o644, "first\nsecond\n"),
			file("heredoc-copy.txt", 0o644, "copied line\n"),
			file("heredoc-sh.txt", 0o644, "via sh\n"),
		},
		classicRejects: true,
	},
	{
		name: "copy chmod",
		dir:  "copy-chmod",
		files: []entry{
			file("script.sh", 0o755, "#!/bin/sh\necho hi\n"),
			dir("private", 0o600),
			file("private/y.txt", 0o600, "y\n"),
			file("added.sh", 0o640, "#!/bin/sh\necho hi\n"),
		},
		classicRejects: true,
	},
	{
		name: "copy link",
		dir:  "copy-link",
		files: []entry{
			file("opt/app/base.txt", 0o644, "base\n"),
			file("opt/app/app.txt", 0o644, "app\n"),
			file("linked/owned.txt", 0o644, "app\n").owner(1000, 1000),
		},
		classicRejects: true,
	},
	{
		name:           "add url checksum",
		dir:            "add-url",
		args:           []string{"--build-arg", "URL={server}/hello.txt"},
		files:          []entry{file("downloaded.txt", 0o600, "hello\n")},
		classicRejects: true,
	},
	{
		// The classic builder runs RUN with the declared volumes mounted,
		// so what RUN writes there after VOLUME is not committed (BuildKit
		// keeps it). berth builds like the classic builder.
		name: "volume discards later writes",
		dir:  "volume",
		files: []entry{
			file("data/before.txt", 0o644, "before\n"),
		},
		absent: []string{"data/after.txt"},
		config: `{"Volumes":{"/data":{},"/v1":{},"/v2":{}}}`,
		history: []step{
			run("/bin/sh -c mkdir /data && echo before > /data/before.txt"),
			nop("VOLUME [/data]"),
			nop("VOLUME [/v1 /v2]"),
			run("/bin/sh -c echo after > /data/after.txt"),
		},
	},
	{
		// Docker's classic builder builds every stage before the target,
		// BuildKit and berth only the ones the target depends on.
		name: "unused stages skipped",
		dir:  "multistage-target",
		args: []string{"--target", "final"},
		files: []entry{
			file("base.txt", 0o644, "base\n"),
			file("final.txt", 0o644, "final\n"),
		},
		classicRejects: true,
	},
}

func TestBuildCorpus(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	berth := berthEngine(d)
	server := corpusServer(t)
	for _, c := range corpusCases {
		t.Run(c.name, func(t *testing.T) { checkCorpusCase(t, berth, c, server) })
	}
}

// corpusServer serves the files that ADD fetches by URL, on loopback.
func corpusServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "hello\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// engine runs a Docker-compatible CLI against one daemon.
type engine struct {
	name string
	run  func(args ...string) (result, error)
}

func berthEngine(d *daemon) engine {
	return engine{name: "berth", run: d.run}
}

// dockerEngine runs Docker's CLI with the classic builder against host.
func dockerEngine(host string) engine {
	return engine{name: "docker", run: func(args ...string) (result, error) {
		cmd := exec.Command("docker", append([]string{"-H", host}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			r.code = exitErr.ExitCode()
			err = nil
		}
		return r, err
	}}
}

func (e engine) must(t *testing.T, args ...string) string {
	t.Helper()
	r, err := e.run(args...)
	assert.NilError(t, err)
	assert.Assert(t, r.code == 0, "%s %s\n%s", e.name, strings.Join(args, " "), r)
	return r.stdout
}

// builtImage is what the checks read from a built image.
type builtImage struct {
	files   map[string]exportedEntry
	config  map[string]any
	history []historyEntry
}

type exportedEntry struct {
	hdr     tar.Header
	content []byte
}

type historyEntry struct {
	CreatedBy  string `json:"created_by"`
	EmptyLayer bool   `json:"empty_layer"`
}

// buildCorpusCase builds the case with e and reads the image back.
func buildCorpusCase(t *testing.T, e engine, c corpusCase, server string) builtImage {
	t.Helper()
	root, err := moduleRoot()
	assert.NilError(t, err)
	tag := "corpus-" + strings.ReplaceAll(c.name, " ", "-")
	args := []string{"build", "-t", tag}
	for _, a := range c.args {
		args = append(args, strings.ReplaceAll(a, "{server}", server))
	}
	args = append(args, filepath.Join(root, "integration", "testdata", "build", c.dir))
	e.must(t, args...)
	return readImage(t, e, tag)
}

// readImage exports a container of the image for its file system, and reads
// its config from image inspect and its history from image save.
func readImage(t *testing.T, e engine, ref string) builtImage {
	t.Helper()
	tmp := t.TempDir()
	id := strings.TrimSpace(e.must(t, "create", ref, "/no-command"))
	defer e.run("rm", "-f", id)
	rootfs := filepath.Join(tmp, "rootfs.tar")
	e.must(t, "export", "-o", rootfs, id)

	img := builtImage{files: map[string]exportedEntry{}}
	readTar(t, rootfs, func(hdr *tar.Header, r io.Reader) {
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		ent := exportedEntry{hdr: *hdr}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(r)
			assert.NilError(t, err)
			ent.content = data
		}
		img.files[name] = ent
	})

	var inspect []struct{ Config map[string]any }
	assert.NilError(t, json.Unmarshal([]byte(e.must(t, "image", "inspect", ref)), &inspect))
	assert.Assert(t, is.Len(inspect, 1))
	img.config = inspect[0].Config

	saved := filepath.Join(tmp, "image.tar")
	e.must(t, "save", "-o", saved, ref)
	blobs := map[string][]byte{}
	readTar(t, saved, func(hdr *tar.Header, r io.Reader) {
		if strings.HasSuffix(hdr.Name, ".json") || strings.HasPrefix(hdr.Name, "blobs/") && hdr.Size < 1<<20 {
			data, err := io.ReadAll(r)
			assert.NilError(t, err)
			blobs[hdr.Name] = data
		}
	})
	var manifest []struct{ Config string }
	assert.NilError(t, json.Unmarshal(blobs["manifest.json"], &manifest))
	assert.Assert(t, is.Len(manifest, 1))
	var cfg struct{ History []historyEntry }
	assert.NilError(t, json.Unmarshal(blobs[manifest[0].Config], &cfg), "config %s of the saved image", manifest[0].Config)
	img.history = cfg.History
	return img
}

func readTar(t *testing.T, name string, each func(*tar.Header, io.Reader)) {
	t.Helper()
	f, err := os.Open(name)
	assert.NilError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		assert.NilError(t, err)
		each(hdr, tr)
	}
}

func checkCorpusCase(t *testing.T, e engine, c corpusCase, server string) {
	img := buildCorpusCase(t, e, c, server)
	checkFiles(t, img, c)
	checkConfig(t, img, c.config)
	checkHistory(t, img, c.history)
}

func checkFiles(t *testing.T, img builtImage, c corpusCase) {
	t.Helper()
	for _, want := range c.files {
		got, ok := img.files[want.path]
		if !assert.Check(t, ok, "%s is missing from the image", want.path) {
			continue
		}
		hdr := got.hdr
		assert.Check(t, is.Equal(string(hdr.Typeflag), string(want.kind)), "type of %s", want.path)
		assert.Check(t, is.Equal(fmt.Sprintf("%04o", hdr.Mode&0o7777), fmt.Sprintf("%04o", want.mode)), "mode of %s", want.path)
		assert.Check(t, is.Equal(hdr.Uid, want.uid), "uid of %s", want.path)
		assert.Check(t, is.Equal(hdr.Gid, want.gid), "gid of %s", want.path)
		switch want.kind {
		case tar.TypeReg:
			assert.Check(t, is.Equal(string(got.content), want.content), "content of %s", want.path)
		case tar.TypeSymlink:
			assert.Check(t, is.Equal(hdr.Linkname, want.target), "target of %s", want.path)
		}
	}
	for _, name := range c.absent {
		_, ok := img.files[name]
		assert.Check(t, !ok, "%s must not be in the image", name)
	}
}

func checkConfig(t *testing.T, img builtImage, want string) {
	t.Helper()
	if want == "" {
		return
	}
	var fields map[string]any
	assert.NilError(t, json.Unmarshal([]byte(want), &fields))
	for key, value := range fields {
		got := img.config[key]
		assert.Check(t, reflect.DeepEqual(got, value), "config %s: got %s, expected %s", key, jsonString(got), jsonString(value))
	}
}

func jsonString(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func checkHistory(t *testing.T, img builtImage, want []step) {
	t.Helper()
	if len(want) == 0 {
		return
	}
	if !assert.Check(t, len(img.history) >= len(want), "history has %d entries, expected at least %d:\n%s",
		len(img.history), len(want), historyString(img.history)) {
		return
	}
	tail := img.history[len(img.history)-len(want):]
	for i, s := range want {
		re := regexp.MustCompile("^" + s.createdBy + "$")
		assert.Check(t, re.MatchString(tail[i].CreatedBy), "history entry %d: created_by %q does not match %q\nhistory:\n%s",
			i, tail[i].CreatedBy, s.createdBy, historyString(img.history))
		assert.Check(t, is.Equal(tail[i].EmptyLayer, s.empty), "history entry %d (%s): empty_layer", i, tail[i].CreatedBy)
	}
}

func historyString(h []historyEntry) string {
	var b strings.Builder
	for _, e := range h {
		fmt.Fprintf(&b, "  %q empty=%v\n", e.CreatedBy, e.EmptyLayer)
	}
	return b.String()
}

// TestBuildCorpusMatchesDocker builds the corpus with berth and with the
// Docker daemon at BERTH_COMPARE_DOCKER_HOST (which needs busybox:latest
// made by `docker import -c 'CMD ["sh"]'` of scripts/busybox-rootfs.sh),
// checks Docker's images against the corpus expectations, and compares
// both images file by file, their configs and their histories.
func TestBuildCorpusMatchesDocker(t *testing.T) {
	host := os.Getenv("BERTH_COMPARE_DOCKER_HOST")
	if host == "" {
		t.Skip("set BERTH_COMPARE_DOCKER_HOST to a Docker daemon's socket (unix:///path) to compare builds with Docker")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	if !strings.Contains(host, "://") {
		host = "unix://" + host
	}
	d := newDaemon(t)
	d.importBusybox()
	berth := berthEngine(d)
	docker := dockerEngine(host)
	server := corpusServer(t)
	for _, c := range corpusCases {
		t.Run(c.name, func(t *testing.T) {
			if c.classicRejects {
				t.Skip("Docker's classic builder cannot build this case")
			}
			want := buildCorpusCase(t, docker, c, server)
			t.Run("docker meets corpus", func(t *testing.T) {
				checkFiles(t, want, c)
				checkConfig(t, want, c.config)
				checkHistory(t, want, c.history)
			})
			got := buildCorpusCase(t, berth, c, server)
			compareImages(t, got, want)
		})
	}
}

// runtimeFiles are created by the container runtime, not by the build.
// Docker's export of a FROM scratch image has an etc directory for them.
var runtimeFiles = regexp.MustCompile(`^(\.dockerenv|etc/(hosts|hostname|resolv\.conf|mtab)|dev|proc|sys)(/|$)|^etc$`)

var (
	copySum       = regexp.MustCompile(`(file|dir|multi):[0-9a-f]{64}`)
	chownSpace    = regexp.MustCompile(`(--chown=\S+) (file|dir|multi):`)
	startInterval = regexp.MustCompile(`(HEALTHCHECK &\{\[.*\] "[^"]*" "[^"]*" "[^"]*") "[^"]*" ('\\x[0-9a-f]{2}\})`)
)

func compareImages(t *testing.T, got, want builtImage) {
	t.Helper()
	names := map[string]bool{}
	for name := range got.files {
		names[name] = true
	}
	for name := range want.files {
		names[name] = true
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		if !runtimeFiles.MatchString(name) {
			sorted = append(sorted, name)
		}
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		g, inBerth := got.files[name]
		w, inDocker := want.files[name]
		if !assert.Check(t, inBerth == inDocker, "%s: in berth's image %v, in Docker's %v", name, inBerth, inDocker) {
			continue
		}
		assert.Check(t, is.Equal(describeEntry(g), describeEntry(w)), "entry %s (berth, Docker)", name)
	}

	for _, key := range []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
		"Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"} {
		assert.Check(t, is.Equal(jsonString(emptyToNil(got.config[key])), jsonString(emptyToNil(want.config[key]))), "config %s (berth, Docker)", key)
	}

	// Docker's content sums in COPY lines are its own tarsum, so only
	// their kind is compared. Docker 20.10 writes no space after the
	// --chown flag, and no start interval in HEALTHCHECK lines.
	normalize := func(h []historyEntry) string {
		var b strings.Builder
		for _, e := range h {
			by := copySum.ReplaceAllString(e.CreatedBy, "$1:<sum>")
			by = chownSpace.ReplaceAllString(by, "$1$2")
			by = startInterval.ReplaceAllString(by, "$1 $2")
			fmt.Fprintf(&b, "%q empty=%v\n", by, e.EmptyLayer)
		}
		return b.String()
	}
	assert.Check(t, is.Equal(normalize(got.history), normalize(want.history)), "history (berth, Docker)")
}

// emptyToNil makes "", [], {} and a missing field compare equal.
func emptyToNil(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

func describeEntry(e exportedEntry) string {
	h := e.hdr
	s := fmt.Sprintf("type=%c mode=%04o uid=%d gid=%d", h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid)
	switch h.Typeflag {
	case tar.TypeReg:
		sum := sha256.Sum256(e.content)
		s += fmt.Sprintf(" size=%d sha256=%s", len(e.content), hex.EncodeToString(sum[:8]))
	case tar.TypeSymlink, tar.TypeLink:
		s += " target=" + h.Linkname
	}
	return s
}
