package image

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func untagged(ref string) imagetypes.DeleteResponse {
	return imagetypes.DeleteResponse{Untagged: ref}
}

func deleted(id digest.Digest) imagetypes.DeleteResponse {
	return imagetypes.DeleteResponse{Deleted: id.String()}
}

func exists(s *Store, id digest.Digest) bool {
	_, err := s.Get(context.Background(), id.String())
	return err == nil
}

func TestDeleteByName(t *testing.T) {
	s := newStores(t).images
	ctx := context.Background()
	img := configImage(t, s, "", "img")
	tag(t, s, img.ID, "app:v1", "app:v2")

	resp, err := s.Delete(ctx, "app:v1", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{untagged("app:v1")}))
	assert.Check(t, exists(s, img.ID))

	resp, err = s.Delete(ctx, "app:v2", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{untagged("app:v2"), deleted(img.ID)}))
	assert.Check(t, !exists(s, img.ID))

	_, err = s.Delete(ctx, "app:v2", false, nil)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrNotFound))
	assert.Check(t, is.Error(err, "No such image: app:v2"))
}

func TestDeleteByID(t *testing.T) {
	tests := []struct {
		name      string
		tags      []string
		force     bool
		ref       func(Image) string
		want      func(Image) []imagetypes.DeleteResponse
		wantErr   error
		wantMsg   string
		wantExist bool
	}{
		{
			name: "untagged by short ID",
			ref:  func(img Image) string { return img.ID.Encoded()[:12] },
			want: func(img Image) []imagetypes.DeleteResponse {
				return []imagetypes.DeleteResponse{deleted(img.ID)}
			},
		},
		{
			name: "single tag",
			tags: []string{"app"},
			ref:  func(img Image) string { return img.ID.String() },
			want: func(img Image) []imagetypes.DeleteResponse {
				return []imagetypes.DeleteResponse{untagged("app:latest"), deleted(img.ID)}
			},
		},
		{
			name:      "tags in two repositories",
			tags:      []string{"app", "other"},
			ref:       func(img Image) string { return img.ID.String() },
			wantErr:   errdefs.ErrConflict,
			wantMsg:   "(must be forced) - image is referenced in multiple repositories",
			wantExist: true,
		},
		{
			name:  "tags in two repositories forced",
			tags:  []string{"app", "other"},
			force: true,
			ref:   func(img Image) string { return img.ID.String() },
			want: func(img Image) []imagetypes.DeleteResponse {
				return []imagetypes.DeleteResponse{untagged("app:latest"), untagged("other:latest"), deleted(img.ID)}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStores(t).images
			img := configImage(t, s, "", "img")
			tag(t, s, img.ID, tc.tags...)

			resp, err := s.Delete(context.Background(), tc.ref(img), tc.force, nil)
			if tc.wantErr != nil {
				assert.Check(t, is.ErrorIs(err, tc.wantErr))
				assert.Check(t, is.ErrorContains(err, tc.wantMsg))
			} else {
				assert.NilError(t, err)
				assert.Check(t, is.DeepEqual(resp, tc.want(img)))
			}
			assert.Check(t, is.Equal(exists(s, img.ID), tc.wantExist))
		})
	}
}

func TestDeleteInUse(t *testing.T) {
	tests := []struct {
		name      string
		ref       string
		force     bool
		use       ContainerUse
		wantMsg   string
		wantExist bool
	}{
		{
			name: "last tag", ref: "app",
			use:     ContainerUse{ContainerID: "0123456789abcdef"},
			wantMsg: `unable to remove repository reference "app" (must force) - container 0123456789ab is using its referenced image`,
		},
		{
			name: "by ID", ref: "id",
			use:     ContainerUse{ContainerID: "0123456789abcdef"},
			wantMsg: "(must be forced) - image is being used by stopped container 0123456789ab",
		},
		{name: "by ID forced", ref: "id", force: true, use: ContainerUse{ContainerID: "c1"}},
		{name: "last tag forced", ref: "app", force: true, use: ContainerUse{ContainerID: "c1"}},
		{
			name: "running forced", ref: "id", force: true,
			use:     ContainerUse{ContainerID: "c1", Running: true},
			wantMsg: "(cannot be forced) - image is being used by running container c1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStores(t).images
			img := configImage(t, s, "", "img")
			tag(t, s, img.ID, "app")
			ref := tc.ref
			if ref == "id" {
				ref = img.ID.String()
			}

			_, err := s.DeleteWithOptions(context.Background(), ref, DeleteOptions{
				Force: tc.force,
				UsedBy: func(id digest.Digest) (ContainerUse, bool) {
					return tc.use, id == img.ID
				},
			})
			if tc.wantMsg != "" {
				assert.Check(t, is.ErrorIs(err, errdefs.ErrConflict))
				assert.Check(t, is.ErrorContains(err, tc.wantMsg))
				assert.Check(t, exists(s, img.ID))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, !exists(s, img.ID))
		})
	}
}

func TestDeleteInUseBool(t *testing.T) {
	s := newStores(t).images
	img := configImage(t, s, "", "img")
	inUse := func(id digest.Digest) bool { return id == img.ID }

	_, err := s.Delete(context.Background(), img.ID.String(), false, inUse)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrConflict))
	assert.Check(t, exists(s, img.ID))

	_, err = s.Delete(context.Background(), img.ID.String(), true, inUse)
	assert.NilError(t, err)
	assert.Check(t, !exists(s, img.ID))
}

func TestDeleteParentWithChild(t *testing.T) {
	s := newStores(t).images
	ctx := context.Background()
	parent := configImage(t, s, "", "parent")
	child := configImage(t, s, parent.ID, "child")
	tag(t, s, child.ID, "child")

	_, err := s.Delete(ctx, parent.ID.String(), true, nil)
	assert.Check(t, is.ErrorIs(err, errdefs.ErrConflict))
	assert.Check(t, is.ErrorContains(err, "(cannot be forced) - image has dependent child images"))

	// Deleting the child prunes the untagged parent.
	resp, err := s.Delete(ctx, "child", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{
		untagged("child:latest"), deleted(child.ID), deleted(parent.ID),
	}))
}

func TestDeleteKeepsTaggedParent(t *testing.T) {
	s := newStores(t).images
	ctx := context.Background()
	parent := configImage(t, s, "", "parent")
	child := configImage(t, s, parent.ID, "child")
	tag(t, s, parent.ID, "parent")

	resp, err := s.Delete(ctx, child.ID.String(), false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{deleted(child.ID)}))
	assert.Check(t, exists(s, parent.ID))
}

func TestDeleteNoPrune(t *testing.T) {
	s := newStores(t).images
	parent := configImage(t, s, "", "parent")
	child := configImage(t, s, parent.ID, "child")

	resp, err := s.DeleteWithOptions(context.Background(), child.ID.String(), DeleteOptions{NoPrune: true})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{deleted(child.ID)}))
	assert.Check(t, exists(s, parent.ID))
}

func TestDeleteRemovesBlobs(t *testing.T) {
	st := newStores(t)
	s := st.images
	img := configImage(t, s, "", "img")
	assert.Check(t, st.content.Has(img.ID))
	assert.Check(t, st.content.Has(img.Manifest))

	_, err := s.Delete(context.Background(), img.ID.String(), false, nil)
	assert.NilError(t, err)
	assert.Check(t, !st.content.Has(img.ID))
	assert.Check(t, !st.content.Has(img.Manifest))

	reopened := openStores(t, st.root).images
	list, err := reopened.List(context.Background())
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 0))
}

func TestPruneLayersRemovesUnusedBlobs(t *testing.T) {
	st := newStores(t)
	ctx := context.Background()
	img := configImage(t, st.images, "", "kept")
	orphan, _, err := st.content.Write(ctx, strings.NewReader("blob of a failed pull"), "")
	assert.NilError(t, err)

	_, err = st.images.PruneLayers(ctx)
	assert.NilError(t, err)
	assert.Check(t, !st.content.Has(orphan), "an unused blob is removed")
	assert.Check(t, st.content.Has(img.ID), "the config of an image stays")
	assert.Check(t, st.content.Has(img.Manifest), "the manifest of an image stays")
}

func TestDeleteTagRemovesRepoDigests(t *testing.T) {
	s := newStores(t).images
	ctx := context.Background()
	img := configImage(t, s, "", "img")
	tag(t, s, img.ID, "example.com/app:v1", "example.com/app:v2", "other:latest")
	assert.NilError(t, s.AddRepoDigest(ctx, img.ID, "example.com/app", ""))
	assert.NilError(t, s.AddRepoDigest(ctx, img.ID, "mirror.example.com/app", ""))
	appDigest := "example.com/app@" + img.Manifest.String()
	mirrorDigest := "mirror.example.com/app@" + img.Manifest.String()

	// Another tag of the repository keeps its repo digest.
	resp, err := s.Delete(ctx, "example.com/app:v1", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{untagged("example.com/app:v1")}))

	resp, err = s.Delete(ctx, "example.com/app:v2", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{
		untagged("example.com/app:v2"), untagged(appDigest)}))
	got, err := s.Get(ctx, img.ID.String())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.RepoDigests, []string{mirrorDigest}))

	// The repo digest of another repository keeps the image.
	resp, err = s.Delete(ctx, "other", false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(resp, []imagetypes.DeleteResponse{untagged("other:latest")}))
	assert.Check(t, exists(s, img.ID))
}
