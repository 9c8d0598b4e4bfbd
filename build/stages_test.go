package build

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestStagesOnlyNeededBuilt(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	df := "FROM busybox AS base\nRUN echo base\n" +
		"FROM busybox AS unused\nRUN false\n" +
		"FROM busybox AS files\nRUN echo files\n" +
		"FROM base AS final\nCOPY --from=files /ran /files-ran\nCOPY --from=2 /ran /again\n" +
		"FROM final AS after\nRUN false\n"
	var out bytes.Buffer
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}),
		Options{Target: "final"}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 2))
	assert.Check(t, is.Contains(out.String(), "Step 1/7 : FROM busybox AS base"))
	assert.Check(t, is.Contains(out.String(), "Step 7/7 : COPY --from=2 /ran /again"))
	assert.Check(t, !strings.Contains(out.String(), "unused"))
}

func TestStagesVariableFromBuildsAll(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	df := "FROM busybox AS one\nRUN echo one\n" +
		"FROM busybox AS two\nRUN echo two\n" +
		"FROM busybox\nARG SRC=one\nCOPY --from=$SRC /ran /got\n"
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 2))
}

func TestStagesFromGlobalArg(t *testing.T) {
	b, _, runner := newTestBuilder(t)
	df := "ARG BASE=builder\nFROM busybox AS builder\nRUN echo built\n" +
		"FROM busybox AS other\nRUN false\n" +
		"FROM ${BASE}\nENV A=1\n"
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runner.requests, 1))
}

func TestStagesDuplicateName(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	df := "FROM busybox AS a\nFROM busybox AS A\nFROM busybox\n"
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "a stage name already used")
}

func TestStagesSkippedArgNotWarned(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	df := "FROM busybox AS unused\nARG ONLY_THERE\nFROM busybox\nENV A=1\n"
	value := "x"
	var out bytes.Buffer
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}),
		Options{BuildArgs: map[string]*string{"ONLY_THERE": &value}}, &out)
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(out.String(), "were not consumed"), out.String())
}
