package build

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestErrorsNameLine(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		options    Options
		want       string
	}{
		{
			name:       "missing copy source",
			dockerfile: "FROM busybox\n# comment\n\nENV A=1\nCOPY missing.txt /x\n",
			want: "Dockerfile:5: COPY failed: file not found in build context or excluded by .dockerignore: " +
				"stat missing.txt: file does not exist",
		},
		{
			name:       "unknown instruction",
			dockerfile: "FROM busybox\nRUN true\nFOO bar\n",
			want:       "dockerfile parse error on line 3: unknown instruction: FOO",
		},
		{
			name:       "flag error",
			dockerfile: "FROM busybox\nCOPY --bogus=1 a /x\n",
			want:       "dockerfile parse error on line 2: unknown flag: --bogus",
		},
		{
			name:       "other dockerfile",
			dockerfile: "FROM busybox\nCOPY missing.txt /x\n",
			options:    Options{Dockerfile: "sub/Dockerfile.dev"},
			want:       "sub/Dockerfile.dev:2: COPY failed:",
		},
		{
			name:       "continued line",
			dockerfile: "FROM busybox\nCOPY \\\n  missing.txt \\\n  /x\n",
			want:       "Dockerfile:2: COPY failed:",
		},
		{
			name:       "missing base",
			dockerfile: "FROM nothere\n",
			want:       "Dockerfile:1: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, _ := newTestBuilder(t)
			name := tc.options.Dockerfile
			if name == "" {
				name = "Dockerfile"
			}
			_, err := b.Build(context.Background(), contextTar(t, map[string]string{name: tc.dockerfile}),
				tc.options, &bytes.Buffer{})
			assert.Assert(t, err != nil)
			assert.Check(t, strings.HasPrefix(err.Error(), tc.want), "error: %v", err)
		})
	}
}

func TestErrorsKeepKind(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(),
		contextTar(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY missing.txt /x\n"}), Options{}, &bytes.Buffer{})
	assert.Check(t, errdefs.IsNotFound(err), "error: %v", err)
}

func TestTailWriterKeepsLastLines(t *testing.T) {
	var out bytes.Buffer
	w := &tailWriter{w: &out}
	_, _ = w.Write([]byte(" ---> Running in 0123456789ab\n"))
	for i := range 12 {
		_, _ = w.Write([]byte(strings.Repeat("x", i) + "\n"))
	}
	_, _ = w.Write([]byte("part"))
	lines := w.tail()
	assert.Check(t, is.Len(lines, maxOutputLines))
	assert.Check(t, is.Equal(lines[len(lines)-1], "part"))
	assert.Check(t, is.Equal(lines[0], strings.Repeat("x", 3)))
	assert.Check(t, strings.HasPrefix(out.String(), " ---> Running in "), "output passes through")
}

func TestSyntaxDirective(t *testing.T) {
	tests := []struct {
		syntax string
		warn   bool
	}{
		{syntax: "docker/dockerfile:1"},
		{syntax: "docker/dockerfile:1.7-labs"},
		{syntax: "docker.io/docker/dockerfile:1.4"},
		{syntax: "docker/dockerfile"},
		{syntax: "example.com/frontend:2", warn: true},
		{syntax: "docker/dockerfile:2", warn: true},
	}
	for _, tc := range tests {
		t.Run(tc.syntax, func(t *testing.T) {
			b, _, _ := newTestBuilder(t)
			var out bytes.Buffer
			df := "# syntax=" + tc.syntax + "\nFROM busybox\nENV A=1\n"
			_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &out)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(strings.Contains(out.String(), "[WARNING]: Ignoring syntax directive"), tc.warn),
				"output: %s", out.String())
		})
	}
}
