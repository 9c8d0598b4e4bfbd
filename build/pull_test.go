package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// fakePuller "pulls" by adding a one-file image to the store, with a
// different file for each pull of the same reference.
type fakePuller struct {
	t     *testing.T
	store *fakeStore
	pulls []string
}

func (p *fakePuller) PullImage(_ context.Context, ref string, out io.Writer) error {
	p.pulls = append(p.pulls, ref)
	if ref == "unknown/image" {
		return fmt.Errorf("pull access denied for %s", ref)
	}
	entries := append(baseEntries(), file("pulled", fmt.Sprintf("%s %d", ref, len(p.pulls))))
	p.store.addBase(p.t, ref, entries, dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{Env: []string{"PATH=/bin"}},
	})
	fmt.Fprintf(out, "Status: Downloaded newer image for %s\n", ref)
	return nil
}

func newPullingBuilder(t *testing.T) (*Builder, *fakeStore, *fakePuller) {
	b, store, _ := newTestBuilder(t)
	puller := &fakePuller{t: t, store: store}
	b.SetPuller(puller)
	return b, store, puller
}

func TestPullMissingBase(t *testing.T) {
	b, _, puller := newPullingBuilder(t)
	var out bytes.Buffer
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM alpine:3\nENV A=1\n"}),
		Options{}, &out)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(puller.pulls, []string{"alpine:3"}))
	assert.Check(t, is.Contains(out.String(), "Status: Downloaded newer image for alpine:3\n"))
}

func TestPullPresentBaseOnlyWithOption(t *testing.T) {
	b, _, puller := newPullingBuilder(t)
	files := map[string]string{"Dockerfile": "FROM busybox AS base\nFROM base\nENV A=1\n"}
	_, err := b.Build(context.Background(), contextTar(t, files), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(puller.pulls, 0), "a present base is not pulled without --pull")

	_, err = b.Build(context.Background(), contextTar(t, files), Options{Pull: true}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(puller.pulls, []string{"busybox"}), "--pull pulls images, not stages")
}

func TestPullCopyFromImage(t *testing.T) {
	b, store, puller := newPullingBuilder(t)
	df := "FROM busybox\nCOPY --from=tools/app:1 /pulled /got\n"
	img, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": df}), Options{}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(puller.pulls, []string{"tools/app:1"}))
	assert.Check(t, is.Equal(findEntry(t, store.layer(t, img.ID), "got").body, "tools/app:1 1"))
}

func TestPullFailureNamesLine(t *testing.T) {
	b, _, _ := newPullingBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM unknown/image\n"}),
		Options{}, &bytes.Buffer{})
	assert.Error(t, err, "Dockerfile:1: pull access denied for unknown/image")
}

func TestNoPullerMissingBase(t *testing.T) {
	b, _, _ := newTestBuilder(t)
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM alpine:3\n"}),
		Options{Pull: true}, &bytes.Buffer{})
	assert.Assert(t, err != nil)
}

func TestPullOptionsPullerWins(t *testing.T) {
	b, store, defaultPuller := newPullingBuilder(t)
	perBuild := &fakePuller{t: t, store: store}
	_, err := b.Build(context.Background(), contextTar(t, map[string]string{"Dockerfile": "FROM alpine:3\n"}),
		Options{Puller: perBuild}, &bytes.Buffer{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(defaultPuller.pulls, 0))
	assert.Check(t, is.DeepEqual(perBuild.pulls, []string{"alpine:3"}))
}
