package build

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func baseConfig() dockerspec.DockerOCIImage {
	return dockerspec.DockerOCIImage{Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
		Env:        []string{"PATH=/bin", "HOME=/root"},
		Cmd:        []string{"sh"},
		WorkingDir: "/srv",
	}}}
}

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		name    string
		changes []string
		check   func(t *testing.T, cfg dockerspec.DockerOCIImageConfig)
	}{
		{
			name:    "cmd exec form",
			changes: []string{`CMD ["echo", "hi"]`},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Cmd, []string{"echo", "hi"}))
			},
		},
		{
			name:    "cmd shell form",
			changes: []string{"CMD echo $HOME"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Cmd, []string{"/bin/sh", "-c", "echo $HOME"}))
			},
		},
		{
			name:    "entrypoint clears cmd",
			changes: []string{"ENTRYPOINT /app"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Entrypoint, []string{"/bin/sh", "-c", "/app"}))
				assert.Check(t, is.Nil(cfg.Cmd))
			},
		},
		{
			name:    "entrypoint keeps cmd set before",
			changes: []string{`CMD ["-v"]`, `ENTRYPOINT ["/app"]`},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Entrypoint, []string{"/app"}))
				assert.Check(t, is.DeepEqual(cfg.Cmd, []string{"-v"}))
			},
		},
		{
			name:    "env both syntaxes",
			changes: []string{"ENV A 1 2", "ENV B=x C=\"y z\" HOME=/home", "ENV D=$B"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Env, []string{
					"PATH=/bin", "HOME=/home", "A=1 2", "B=x", "C=y z", "D=x",
				}))
			},
		},
		{
			name:    "expose",
			changes: []string{"EXPOSE 80 53/udp 8000-8002/tcp"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.ExposedPorts, map[string]struct{}{
					"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {},
				}))
			},
		},
		{
			name:    "label",
			changes: []string{`LABEL a=b "c d"=e`},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Labels, map[string]string{"a": "b", "c d": "e"}))
			},
		},
		{
			name:    "onbuild",
			changes: []string{"ONBUILD RUN make"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.OnBuild, []string{"RUN make"}))
			},
		},
		{
			name:    "user",
			changes: []string{"USER app:staff"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.Equal(cfg.User, "app:staff"))
			},
		},
		{
			name:    "volume",
			changes: []string{`VOLUME ["/data", "/logs"]`},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.DeepEqual(cfg.Volumes, map[string]struct{}{"/data": {}, "/logs": {}}))
			},
		},
		{
			name:    "workdir relative",
			changes: []string{"WORKDIR app", "WORKDIR ../lib"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.Equal(cfg.WorkingDir, "/srv/lib"))
			},
		},
		{
			name:    "stopsignal",
			changes: []string{"STOPSIGNAL SIGQUIT"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Check(t, is.Equal(cfg.StopSignal, "SIGQUIT"))
			},
		},
		{
			name:    "healthcheck",
			changes: []string{"HEALTHCHECK --interval=5s --retries=2 CMD curl -f localhost"},
			check: func(t *testing.T, cfg dockerspec.DockerOCIImageConfig) {
				assert.Assert(t, cfg.Healthcheck != nil)
				assert.Check(t, is.DeepEqual(cfg.Healthcheck.Test, []string{"CMD-SHELL", "curl -f localhost"}))
				assert.Check(t, is.Equal(cfg.Healthcheck.Interval, 5*time.Second))
				assert.Check(t, is.Equal(cfg.Healthcheck.Retries, 2))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			assert.NilError(t, ApplyChanges(&cfg, tc.changes))
			tc.check(t, cfg.Config)
		})
	}
}

func TestApplyChangesErrors(t *testing.T) {
	tests := []struct {
		name    string
		changes []string
		want    string
	}{
		{name: "run", changes: []string{"RUN make"}, want: "RUN is not a valid change command"},
		{name: "copy", changes: []string{"COPY a b"}, want: "COPY is not a valid change command"},
		{name: "from", changes: []string{"FROM busybox"}, want: "FROM is not a valid change command"},
		{name: "bad signal", changes: []string{"STOPSIGNAL SIGNOPE"}, want: "invalid signal: SIGNOPE"},
		{name: "bad port", changes: []string{"EXPOSE 80/xyz"}, want: "invalid proto: xyz"},
		{name: "bad syntax", changes: []string{"USER"}, want: "USER requires exactly one argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			err := ApplyChanges(&cfg, append([]string{"ENV CHANGED=1"}, tc.changes...))
			assert.ErrorContains(t, err, tc.want)
			assert.Check(t, errdefs.IsInvalidArgument(err))
			assert.Check(t, is.DeepEqual(cfg, baseConfig()), "a failed change leaves the configuration unchanged")
		})
	}
}

func TestApplyChangesNone(t *testing.T) {
	cfg := baseConfig()
	assert.NilError(t, ApplyChanges(&cfg, nil))
	assert.Check(t, is.DeepEqual(cfg, baseConfig()))
}

func parseOne(t *testing.T, line string) instructions.Command {
	t.Helper()
	res, err := parser.Parse(strings.NewReader(line))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(res.AST.Children, 1))
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	assert.NilError(t, err)
	return cmd
}

func TestExpandCommand(t *testing.T) {
	env := []string{"NAME=app", "DIR=/srv", "PORTS=80 443"}
	tests := []struct {
		line  string
		check func(t *testing.T, cmd instructions.Command)
	}{
		{
			line: "COPY --chown=$NAME ${NAME}.txt $DIR/",
			check: func(t *testing.T, cmd instructions.Command) {
				c := cmd.(*instructions.CopyCommand)
				assert.Check(t, is.Equal(c.Chown, "app"))
				assert.Check(t, is.DeepEqual(c.SourcePaths, []string{"app.txt"}))
				assert.Check(t, is.Equal(c.DestPath, "/srv/"))
			},
		},
		{
			line: "ENV X=${MISSING:-default} Y=$NAME",
			check: func(t *testing.T, cmd instructions.Command) {
				c := cmd.(*instructions.EnvCommand)
				assert.Check(t, is.Equal(c.Env[0].Value, "default"))
				assert.Check(t, is.Equal(c.Env[1].Value, "app"))
			},
		},
		{
			line: "WORKDIR $DIR/$NAME",
			check: func(t *testing.T, cmd instructions.Command) {
				assert.Check(t, is.Equal(cmd.(*instructions.WorkdirCommand).Path, "/srv/app"))
			},
		},
		{
			line: "EXPOSE $PORTS",
			check: func(t *testing.T, cmd instructions.Command) {
				assert.Check(t, is.DeepEqual(cmd.(*instructions.ExposeCommand).Ports, []string{"80", "443"}))
			},
		},
		{
			line: "CMD echo $NAME",
			check: func(t *testing.T, cmd instructions.Command) {
				assert.Check(t, is.DeepEqual(cmd.(*instructions.CmdCommand).CmdLine, []string{"echo $NAME"}))
			},
		},
		{
			line: "RUN echo $NAME",
			check: func(t *testing.T, cmd instructions.Command) {
				assert.Check(t, is.DeepEqual(cmd.(*instructions.RunCommand).CmdLine, []string{"echo $NAME"}))
			},
		},
		{
			line: `LABEL "$NAME"='$DIR'`,
			check: func(t *testing.T, cmd instructions.Command) {
				c := cmd.(*instructions.LabelCommand)
				assert.Check(t, is.Equal(c.Labels[0].Key, "app"))
				assert.Check(t, is.Equal(c.Labels[0].Value, "$DIR"))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			cmd := parseOne(t, tc.line)
			assert.NilError(t, expandCommand(cmd, shell.NewLex('\\'), env))
			tc.check(t, cmd)
		})
	}
}

func TestValidateSignal(t *testing.T) {
	for _, sig := range []string{"SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX"} {
		assert.Check(t, validateSignal(sig), sig)
	}
	for _, sig := range []string{"", "0", "65", "SIGFOO", "RTMIN+99"} {
		assert.Check(t, validateSignal(sig) != nil, sig)
	}
}

func TestBuildArgsScoping(t *testing.T) {
	fromOptions := "opt"
	def := "default"
	global := newBuildArgs(map[string]*string{"A": &fromOptions, "HTTP_PROXY": &fromOptions})
	global.declare("G", &def, true)
	global.declare("A", &def, true)
	assert.Check(t, is.DeepEqual(global.globalEnv(), []string{"A=opt", "G=default", "HTTP_PROXY=opt"}))

	st := global.forStage()
	assert.Check(t, is.DeepEqual(st.stageValues(), map[string]string{"HTTP_PROXY": "opt"}),
		"a stage sees only the arguments it declares and the proxy arguments")
	st.declare("G", nil, false)
	assert.Check(t, is.Equal(st.stageValues()["G"], "default"), "a declaration without default takes the global value")

	args := st.argsNotIn([]string{"G=from-env"})
	assert.Check(t, is.DeepEqual(args, []string{"HTTP_PROXY=opt"}))
	assert.Check(t, is.Len(st.historyArgs(args), 0), "undeclared proxy arguments stay out of the history")
	assert.Check(t, is.Len(global.unused(), 0))
}
