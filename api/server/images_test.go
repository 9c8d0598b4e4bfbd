package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	berthbuild "github.com/berth-engine/berth/build"
)

const testImageID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestImageNamesWithSlashes(t *testing.T) {
	var inspected, histories, deleted recorder[string]
	b := &fakeBackend{
		imageGet: func(_ context.Context, name string) (image.InspectResponse, error) {
			inspected.add(name)
			if name == "missing" {
				return image.InspectResponse{}, errdefs.ErrNotFound.WithMessage("No such image: missing:latest")
			}
			return image.InspectResponse{ID: testImageID, RepoTags: []string{name}}, nil
		},
		history: func(_ context.Context, name string) ([]image.HistoryResponseItem, error) {
			histories.add(name)
			return []image.HistoryResponseItem{{ID: testImageID, CreatedBy: "/bin/sh -c true"}}, nil
		},
		imageDel: func(_ context.Context, name string, _, _ bool) ([]image.DeleteResponse, error) {
			deleted.add(name)
			return []image.DeleteResponse{{Untagged: name}}, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	names := []string{
		"busybox",
		"busybox:1.36",
		"team/app",
		"localhost:5000/team/app:1.0",
		"registry.example.com:443/a/b/c/json:latest",
		"busybox@" + testImageID,
		testImageID,
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			res, err := c.ImageInspect(ctx, name)
			assert.NilError(t, err)
			assert.DeepEqual(t, res.RepoTags, []string{name})

			history, err := c.ImageHistory(ctx, name)
			assert.NilError(t, err)
			assert.Assert(t, is.Len(history.Items, 1))

			removed, err := c.ImageRemove(ctx, name, client.ImageRemoveOptions{})
			assert.NilError(t, err)
			assert.DeepEqual(t, removed.Items, []image.DeleteResponse{{Untagged: name}})
		})
	}
	assert.DeepEqual(t, inspected.all(), names)
	assert.DeepEqual(t, histories.all(), names)
	assert.DeepEqual(t, deleted.all(), names)

	_, err := c.ImageInspect(ctx, "missing")
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, "No such image: missing:latest"))
}

func TestImageListAndDeleteOptions(t *testing.T) {
	type listCall struct {
		All     bool
		Filters map[string][]string
	}
	var lists recorder[listCall]
	var deletes recorder[[2]bool]
	b := &fakeBackend{
		images: func(_ context.Context, all bool, filters map[string][]string) ([]image.Summary, error) {
			lists.add(listCall{all, filters})
			return []image.Summary{{ID: testImageID, RepoTags: []string{"busybox:latest"}}}, nil
		},
		imageDel: func(_ context.Context, _ string, force, noPrune bool) ([]image.DeleteResponse, error) {
			deletes.add([2]bool{force, noPrune})
			return nil, nil
		},
	}
	c := startServer(t, b).client(t)
	ctx := context.Background()

	res, err := c.ImageList(ctx, client.ImageListOptions{All: true, Filters: make(client.Filters).Add("dangling", "true")})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(res.Items, 1))
	assert.DeepEqual(t, lists.all(), []listCall{{true, map[string][]string{"dangling": {"true"}}}})

	removed, err := c.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{Force: true, PruneChildren: true})
	assert.NilError(t, err)
	assert.Check(t, is.Len(removed.Items, 0))
	_, err = c.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{})
	assert.NilError(t, err)
	assert.DeepEqual(t, deletes.all(), [][2]bool{{true, false}, {false, true}})
}

func TestImageTag(t *testing.T) {
	var tags recorder[[3]string]
	b := &fakeBackend{
		tag: func(_ context.Context, name, repo, tag string) error {
			tags.add([3]string{name, repo, tag})
			return nil
		},
	}
	ts := startServer(t, b)
	c := ts.client(t)

	_, err := c.ImageTag(context.Background(), client.ImageTagOptions{
		Source: "localhost:5000/team/app:1.0",
		Target: "localhost:5000/team/app:stable",
	})
	assert.NilError(t, err)
	assert.DeepEqual(t, tags.all(), [][3]string{{"localhost:5000/team/app:1.0", "localhost:5000/team/app", "stable"}})

	hc := ts.httpClient(t)
	tests := []struct {
		name    string
		query   string
		message string
	}{
		{"missing repo", "", "repository name (repo) is required"},
		{"invalid repo", "?repo=UPPER", `invalid reference "UPPER": invalid reference format: repository name (library/UPPER) must be lowercase`},
		{"invalid tag", "?repo=app&tag=no%20spaces", `invalid tag "no spaces": invalid tag format`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := hc.Post("http://berth/images/busybox/tag"+tc.query, "", nil)
			assert.NilError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, resp.StatusCode, http.StatusBadRequest)
			assert.Equal(t, readErrorMessage(t, resp), tc.message)
		})
	}
}

func TestImageImport(t *testing.T) {
	type importCall struct {
		Body    string
		Request ImageImportRequest
	}
	var calls recorder[importCall]
	b := &fakeBackend{
		importFn: func(_ context.Context, req ImageImportRequest) (string, error) {
			data, err := io.ReadAll(req.Source)
			if err != nil {
				return "", err
			}
			req.Source = nil
			calls.add(importCall{string(data), req})
			return testImageID, nil
		},
	}
	c := startServer(t, b).client(t)

	body, err := c.ImageImport(context.Background(),
		client.ImageImportSource{Source: strings.NewReader("rootfs tarball"), SourceName: "-"},
		"localhost:5000/team/app:1.0",
		client.ImageImportOptions{Changes: []string{"ENV A=1", "CMD [\"sh\"]"}, Message: "imported"})
	assert.NilError(t, err)
	defer body.Close()

	messages := decodeMessages(t, body)
	assert.DeepEqual(t, messages, []jsonstream.Message{{Status: testImageID}})
	assert.DeepEqual(t, calls.all(), []importCall{{
		Body: "rootfs tarball",
		Request: ImageImportRequest{
			Ref:     "localhost:5000/team/app:1.0",
			Changes: []string{"ENV A=1", "CMD [\"sh\"]"},
			Message: "imported",
		},
	}})
}

func TestImageCreateRejections(t *testing.T) {
	b := &fakeBackend{
		importFn: func(context.Context, ImageImportRequest) (string, error) {
			return "", errdefs.ErrInvalidArgument.WithMessage("archive/tar: invalid tar header")
		},
	}
	ts := startServer(t, b)
	c := ts.client(t)
	ctx := context.Background()

	_, err := c.ImageImport(ctx, client.ImageImportSource{Source: strings.NewReader("junk"), SourceName: "-"}, "", client.ImageImportOptions{})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)

	hc := ts.httpClient(t)
	for query, status := range map[string]int{
		"":                               http.StatusBadRequest,
		"?fromSrc=http://example.com/x":  http.StatusNotImplemented,
		"?fromSrc=-&repo=Not%20A%20Name": http.StatusBadRequest,
		"?fromImage=Busybox":             http.StatusBadRequest,
		"?fromImage=busybox&tag=sha256:": http.StatusBadRequest,
		"?fromImage=busybox&tag=a%20b":   http.StatusBadRequest,
	} {
		resp, err := hc.Post("http://berth/images/create"+query, "", nil)
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, status), query)
	}
}

func TestBuildStream(t *testing.T) {
	var requests recorder[BuildRequest]
	var contexts recorder[string]
	b := &fakeBackend{
		build: func(_ context.Context, req BuildRequest, out io.Writer) (string, error) {
			data, err := io.ReadAll(req.Context)
			if err != nil {
				return "", err
			}
			contexts.add(string(data))
			req.Context = nil
			requests.add(req)
			fmt.Fprintf(out, "Step 1/2 : FROM busybox\n")
			fmt.Fprintf(out, "Step 2/2 : RUN true\n")
			return testImageID, nil
		},
	}
	c := startServer(t, b).client(t)
	value := "1"

	res, err := c.ImageBuild(context.Background(), strings.NewReader("context tar"), client.ImageBuildOptions{
		Tags:        []string{"team/app", "localhost:5000/team/app:1.0", "team/app:latest"},
		Dockerfile:  "build/Dockerfile",
		BuildArgs:   map[string]*string{"VERSION": &value, "UNSET": nil},
		Labels:      map[string]string{"owner": "me"},
		NoCache:     true,
		Remove:      true,
		Target:      "final",
		NetworkMode: "host",
		ExtraHosts:  []string{"db:10.0.0.2"},
	})
	assert.NilError(t, err)
	defer res.Body.Close()

	messages := decodeMessages(t, res.Body)
	assert.Assert(t, is.Len(messages, 3))
	assert.Equal(t, messages[0].Stream, "Step 1/2 : FROM busybox\n")
	assert.Equal(t, messages[1].Stream, "Step 2/2 : RUN true\n")
	var result build.Result
	assert.NilError(t, json.Unmarshal(*messages[2].Aux, &result))
	assert.Equal(t, result.ID, testImageID)

	assert.DeepEqual(t, contexts.all(), []string{"context tar"})
	assert.DeepEqual(t, requests.all(), []BuildRequest{{
		Dockerfile:  "build/Dockerfile",
		Tags:        []string{"team/app:latest", "localhost:5000/team/app:1.0"},
		BuildArgs:   map[string]*string{"VERSION": &value, "UNSET": nil},
		Labels:      map[string]string{"owner": "me"},
		NoCache:     true,
		Remove:      true,
		Target:      "final",
		NetworkMode: "host",
		ExtraHosts:  []string{"db:10.0.0.2"},
	}})
}

func TestBuildQuiet(t *testing.T) {
	b := &fakeBackend{
		build: func(_ context.Context, req BuildRequest, out io.Writer) (string, error) {
			fmt.Fprintf(out, "Step 1/1 : FROM scratch\n")
			if req.Target == "broken" {
				return "", errors.New("target stage broken could not be found")
			}
			return testImageID, nil
		},
	}
	c := startServer(t, b).client(t)

	res, err := c.ImageBuild(context.Background(), strings.NewReader(""), client.ImageBuildOptions{SuppressOutput: true})
	assert.NilError(t, err)
	messages := decodeMessages(t, res.Body)
	res.Body.Close()
	assert.Assert(t, is.Len(messages, 2))
	assert.Check(t, messages[0].Aux != nil)
	assert.Equal(t, messages[1].Stream, testImageID+"\n")

	res, err = c.ImageBuild(context.Background(), strings.NewReader(""), client.ImageBuildOptions{SuppressOutput: true, Target: "broken"})
	assert.NilError(t, err)
	messages = decodeMessages(t, res.Body)
	res.Body.Close()
	assert.Assert(t, is.Len(messages, 2))
	assert.Equal(t, messages[0].Stream, "Step 1/1 : FROM scratch\n")
	assert.Assert(t, messages[1].Error != nil)
	assert.Equal(t, messages[1].Error.Message, "target stage broken could not be found")
}

func TestBuildErrors(t *testing.T) {
	b := &fakeBackend{
		build: func(_ context.Context, req BuildRequest, out io.Writer) (string, error) {
			if req.Dockerfile == "missing" {
				return "", errdefs.ErrInvalidArgument.WithMessage("Cannot locate specified Dockerfile: missing")
			}
			fmt.Fprintf(out, "Step 1/1 : RUN false\n")
			return "", fmt.Errorf("build step 1: %w", &berthbuild.RunError{Cmd: []string{"/bin/sh", "-c", "false"}, Code: 1})
		},
	}
	ts := startServer(t, b)
	c := ts.client(t)
	ctx := context.Background()

	// An error before any output is an HTTP status.
	_, err := c.ImageBuild(ctx, strings.NewReader(""), client.ImageBuildOptions{Dockerfile: "missing"})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)

	// An error after output is a message in the stream, with both fields
	// and the exit code of the failed command.
	res, err := c.ImageBuild(ctx, strings.NewReader(""), client.ImageBuildOptions{})
	assert.NilError(t, err)
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	assert.NilError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
	assert.Assert(t, is.Len(lines, 2))
	assert.Equal(t, lines[1], `{"errorDetail":{"code":1,"message":"build step 1: The command '/bin/sh -c false' returned a non-zero code: 1"},`+
		`"error":"build step 1: The command '/bin/sh -c false' returned a non-zero code: 1"}`)

	_, err = c.ImageBuild(ctx, strings.NewReader(""), client.ImageBuildOptions{Tags: []string{"app@" + testImageID}})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)

	hc := ts.httpClient(t)
	for query, status := range map[string]int{
		"?buildargs=notjson":          http.StatusBadRequest,
		"?labels=%5B%5D":              http.StatusBadRequest,
		"?remote=https://example.com": http.StatusNotImplemented,
		"?version=2":                  http.StatusNotImplemented,
	} {
		resp, err := hc.Post("http://berth/build"+query, "application/x-tar", strings.NewReader(""))
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, status), query)
	}
}

func decodeMessages(t *testing.T, r io.Reader) []jsonstream.Message {
	t.Helper()
	var messages []jsonstream.Message
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return messages
		}
		assert.NilError(t, err)
		messages = append(messages, m)
	}
}
