package image

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/content"
	"github.com/berth-engine/berth/snapshot"
)

type testStores struct {
	images   *Store
	content  *content.Store
	snapshot *snapshot.Store
	root     string
}

func newStores(t *testing.T) testStores {
	t.Helper()
	root := t.TempDir()
	return openStores(t, root)
}

func openStores(t *testing.T, root string) testStores {
	t.Helper()
	cs, err := content.New(root + "/content")
	assert.NilError(t, err)
	ls, err := snapshot.New(root)
	assert.NilError(t, err)
	images, err := New(root+"/images", cs, ls)
	assert.NilError(t, err)
	return testStores{images: images, content: cs, snapshot: ls, root: root}
}

var testCreated = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// configImage creates an image without layers whose config differs by label.
func configImage(t *testing.T, s *Store, parent digest.Digest, label string) Image {
	t.Helper()
	created := testCreated
	cfg := dockerspec.DockerOCIImage{}
	cfg.Created = &created
	cfg.Config.Labels = map[string]string{"test": label}
	img, err := s.Create(context.Background(), parent, nil, cfg, ocispec.History{CreatedBy: "LABEL test=" + label})
	assert.NilError(t, err)
	return img
}

func tag(t *testing.T, s *Store, id digest.Digest, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		assert.NilError(t, s.Tag(context.Background(), id, ref))
	}
}

func TestGetResolvesReferences(t *testing.T) {
	st := newStores(t)
	s := st.images
	latest := configImage(t, s, "", "latest")
	older := configImage(t, s, "", "older")
	app := configImage(t, s, "", "app")
	untagged := configImage(t, s, "", "untagged")
	tag(t, s, latest.ID, "busybox")
	tag(t, s, older.ID, "busybox:1.36")
	tag(t, s, app.ID, "example.com:5000/team/app:v1")

	tests := []struct {
		name    string
		ref     string
		want    digest.Digest
		wantErr error
		wantMsg string
	}{
		{name: "familiar name", ref: "busybox", want: latest.ID},
		{name: "familiar name and tag", ref: "busybox:latest", want: latest.ID},
		{name: "library path", ref: "library/busybox", want: latest.ID},
		{name: "full name", ref: "docker.io/library/busybox:latest", want: latest.ID},
		{name: "other tag", ref: "busybox:1.36", want: older.ID},
		{name: "registry with port", ref: "example.com:5000/team/app:v1", want: app.ID},
		{name: "full ID", ref: untagged.ID.String(), want: untagged.ID},
		{name: "full hex", ref: untagged.ID.Encoded(), want: untagged.ID},
		{name: "short ID", ref: untagged.ID.Encoded()[:12], want: untagged.ID},
		{name: "short ID with algorithm", ref: "sha256:" + untagged.ID.Encoded()[:12], want: untagged.ID},
		{name: "manifest digest", ref: "busybox@" + latest.Manifest.String(), want: latest.ID},
		{
			name: "unknown name", ref: "nosuch", wantErr: errdefs.ErrNotFound,
			wantMsg: "No such image: nosuch:latest",
		},
		{
			name: "unknown tag", ref: "busybox:2", wantErr: errdefs.ErrNotFound,
			wantMsg: "No such image: busybox:2",
		},
		{
			name: "unknown full ID", ref: "sha256:" + strings.Repeat("0", 64), wantErr: errdefs.ErrNotFound,
			wantMsg: "No such image: sha256:" + strings.Repeat("0", 64),
		},
		{name: "tag not on other repository", ref: "app:v1", wantErr: errdefs.ErrNotFound},
		{name: "uppercase", ref: "BusyBox", wantErr: errdefs.ErrInvalidArgument},
		{name: "empty", ref: "", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := s.Get(context.Background(), tc.ref)
			if tc.wantErr != nil {
				assert.Check(t, is.ErrorIs(err, tc.wantErr))
				if tc.wantMsg != "" {
					assert.Check(t, is.Error(err, tc.wantMsg))
				}
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(img.ID, tc.want))
		})
	}
}

func TestGetShortIDPrefixes(t *testing.T) {
	st := newStores(t)
	s := st.images

	// With 17 images two share their first hex digit.
	byFirst := map[byte][]Image{}
	for i := range 17 {
		img := configImage(t, s, "", fmt.Sprint(i))
		byFirst[img.ID.Encoded()[0]] = append(byFirst[img.ID.Encoded()[0]], img)
	}

	for first, images := range byFirst {
		prefix := string(first)
		img, err := s.Get(context.Background(), prefix)
		if len(images) > 1 {
			assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument), "prefix %s", prefix)
			assert.Check(t, is.ErrorContains(err, "ambiguous"), "prefix %s", prefix)
			continue
		}
		assert.NilError(t, err, "prefix %s", prefix)
		assert.Check(t, is.Equal(img.ID, images[0].ID))
	}
}

func TestGetPrefersNameOverIDPrefix(t *testing.T) {
	st := newStores(t)
	s := st.images
	named := configImage(t, s, "", "named")
	other := configImage(t, s, "", "other")
	prefix := other.ID.Encoded()[:6]
	tag(t, s, named.ID, prefix)

	img, err := s.Get(context.Background(), prefix)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.ID, named.ID))
}

func TestTagMovesAndUntags(t *testing.T) {
	st := newStores(t)
	s := st.images
	ctx := context.Background()
	first := configImage(t, s, "", "first")
	second := configImage(t, s, "", "second")

	tag(t, s, first.ID, "app", "app:v1")
	img, err := s.Get(ctx, first.ID.String())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(img.RepoTags, []string{"docker.io/library/app:latest", "docker.io/library/app:v1"}))

	tag(t, s, second.ID, "app:latest")
	img, err = s.Get(ctx, "app")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.ID, second.ID))
	img, err = s.Get(ctx, first.ID.String())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(img.RepoTags, []string{"docker.io/library/app:v1"}))

	assert.NilError(t, s.Untag(ctx, "app:v1"))
	img, err = s.Get(ctx, first.ID.String())
	assert.NilError(t, err)
	assert.Check(t, is.Len(img.RepoTags, 0))

	err = s.Untag(ctx, "app:v1")
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	assert.Check(t, is.Error(err, "No such image: app:v1"))

	err = s.Tag(ctx, digest.FromString("missing"), "x")
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	err = s.Tag(ctx, first.ID, "x@"+first.ID.String())
	assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument))
	err = s.Tag(ctx, first.ID, "UPPER")
	assert.Check(t, is.ErrorIs(err, errdefs.ErrInvalidArgument))
}

func TestListAndReopen(t *testing.T) {
	st := newStores(t)
	s := st.images
	ctx := context.Background()
	a := configImage(t, s, "", "a")
	b := configImage(t, s, a.ID, "b")
	tag(t, s, b.ID, "b:1")

	list, err := s.List(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 2))

	reopened := openStores(t, st.root).images
	img, err := reopened.Get(ctx, "b:1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.ID, b.ID))
	assert.Check(t, is.Equal(img.Parent, a.ID))
	assert.Check(t, is.Equal(img.Manifest, b.Manifest))
	assert.Check(t, is.DeepEqual(img.Config, b.Config))
	list, err = reopened.List(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 2))
}

func TestCreateConfigOnly(t *testing.T) {
	st := newStores(t)
	s := st.images
	base := configImage(t, s, "", "base")
	child := configImage(t, s, base.ID, "child")

	assert.Check(t, is.Equal(child.Parent, base.ID))
	assert.Check(t, is.Len(child.Config.History, 2))
	assert.Check(t, child.Config.History[1].EmptyLayer)
	assert.Check(t, is.Equal(child.Config.History[1].CreatedBy, "LABEL test=child"))
	assert.Check(t, is.Equal(child.Config.OS, "linux"))
	assert.Check(t, child.Config.Architecture != "")
	assert.Check(t, is.Equal(child.ChainID(), digest.Digest("")))
	assert.Check(t, is.Equal(child.ID, digest.FromBytes(mustRead(t, st.content, child.ID))))

	again := configImage(t, s, base.ID, "child")
	assert.Check(t, is.Equal(again.ID, child.ID))

	_, err := s.Create(context.Background(), digest.FromString("missing"), nil, dockerspec.DockerOCIImage{}, ocispec.History{})
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
}

func mustRead(t *testing.T, cs *content.Store, d digest.Digest) []byte {
	t.Helper()
	data, err := cs.ReadAll(d)
	assert.NilError(t, err)
	return data
}

func TestFamiliarName(t *testing.T) {
	tests := []struct {
		ref  string
		want string
	}{
		{ref: "docker.io/library/busybox:latest", want: "busybox:latest"},
		{ref: "busybox", want: "busybox"},
		{ref: "docker.io/team/app:v1", want: "team/app:v1"},
		{ref: "example.com/app:v1", want: "example.com/app:v1"},
		{ref: "Not Valid", want: "Not Valid"},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			assert.Check(t, is.Equal(FamiliarName(tc.ref), tc.want))
		})
	}
}
