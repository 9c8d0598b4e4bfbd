package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// apiConn sends raw Engine API requests to a daemon over its unix socket.
type apiConn struct {
	t      *testing.T
	socket string
	http   *http.Client
}

func newAPIConn(t *testing.T, socket string) *apiConn {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &apiConn{t: t, socket: socket, http: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads the whole response body. A non-nil body
// is sent as JSON unless it is an io.Reader.
func (c *apiConn) do(t *testing.T, method, path string, body any) apiResponse {
	t.Helper()
	var reader io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		reader, contentType = b, "application/x-tar"
	default:
		data, err := json.Marshal(b)
		assert.NilError(t, err)
		reader, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, "http://docker"+path, reader)
	assert.NilError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// object decodes the body as one JSON object.
func (r apiResponse) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	assert.NilError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// objects decodes the body as a JSON array of objects.
func (r apiResponse) objects(t *testing.T) []map[string]any {
	t.Helper()
	var list []map[string]any
	assert.NilError(t, json.Unmarshal(r.body, &list), "body: %s", r.body)
	return list
}

// createContainer creates a container from a raw create body and returns
// its ID.
func (c *apiConn) createContainer(t *testing.T, name string, config map[string]any) string {
	t.Helper()
	resp := c.do(t, http.MethodPost, "/containers/create?name="+name, config)
	assert.Equal(t, resp.status, http.StatusCreated, "create %s: %s", name, resp.body)
	return resp.object(t)["Id"].(string)
}

func (c *apiConn) start(t *testing.T, id string) {
	t.Helper()
	resp := c.do(t, http.MethodPost, "/containers/"+id+"/start", nil)
	assert.Equal(t, resp.status, http.StatusNoContent, "start %s: %s", id, resp.body)
}

// wait blocks until the container exits and returns its exit code.
func (c *apiConn) wait(t *testing.T, id string) int {
	t.Helper()
	resp := c.do(t, http.MethodPost, "/containers/"+id+"/wait", nil)
	assert.Equal(t, resp.status, http.StatusOK, "wait %s: %s", id, resp.body)
	return int(resp.object(t)["StatusCode"].(float64))
}

// hijack sends a request that takes over the connection, as attach and exec
// start do, and returns the parsed status and the connection. With upgrade
// set the request carries "Connection: Upgrade" and "Upgrade: tcp", as the
// moby client sends them.
func (c *apiConn) hijack(t *testing.T, path string, body any, upgrade bool) (*http.Response, *net.UnixConn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", c.socket)
	assert.NilError(t, err)
	t.Cleanup(func() { conn.Close() })

	var payload []byte
	if body != nil {
		payload, err = json.Marshal(body)
		assert.NilError(t, err)
	}
	var req strings.Builder
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: docker\r\n", path)
	if upgrade {
		req.WriteString("Connection: Upgrade\r\nUpgrade: tcp\r\n")
	}
	fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(payload))
	_, err = conn.Write(append([]byte(req.String()), payload...))
	assert.NilError(t, err)

	reader := bufio.NewReader(conn)
	resp, err := http.ReadResponse(reader, nil)
	assert.NilError(t, err)
	return resp, conn.(*net.UnixConn), reader
}

// frame is one record of a multiplexed attach stream.
type frame struct {
	stream byte
	data   string
}

// readFrames reads multiplexed records until EOF: an 8-byte header (stream
// id, three zero bytes, big-endian payload length) and the payload.
func readFrames(t *testing.T, r io.Reader) []frame {
	t.Helper()
	var frames []frame
	for {
		var header [8]byte
		if _, err := io.ReadFull(r, header[:]); err != nil {
			assert.Check(t, err == io.EOF, "reading a frame header: %v", err)
			return frames
		}
		assert.Check(t, is.DeepEqual(header[1:4], []byte{0, 0, 0}), "header %v", header)
		payload := make([]byte, binary.BigEndian.Uint32(header[4:]))
		_, err := io.ReadFull(r, payload)
		assert.NilError(t, err)
		frames = append(frames, frame{stream: header[0], data: string(payload)})
	}
}

// joinFrames concatenates the payloads of one stream id.
func joinFrames(frames []frame, stream byte) string {
	var b strings.Builder
	for _, f := range frames {
		if f.stream == stream {
			b.WriteString(f.data)
		}
	}
	return b.String()
}

// checkKeys checks that each key is present in m and not null.
func checkKeys(t *testing.T, subject string, m map[string]any, keys ...string) {
	t.Helper()
	for _, key := range keys {
		value, ok := m[key]
		if assert.Check(t, ok, "%s has no %q: %v", subject, key, m) {
			assert.Check(t, value != nil, "%s has %q: null", subject, key)
		}
	}
}

// checkAbsent checks that none of keys is present in m.
func checkAbsent(t *testing.T, subject string, m map[string]any, keys ...string) {
	t.Helper()
	for _, key := range keys {
		_, ok := m[key]
		assert.Check(t, !ok, "%s has %q, which this API version does not have: %v", subject, key, m[key])
	}
}

// checkArray checks that m[key] is a JSON array, not null.
func checkArray(t *testing.T, subject string, m map[string]any, key string) {
	t.Helper()
	_, ok := m[key].([]any)
	assert.Check(t, ok, "%s %q is %#v, expected an array", subject, key, m[key])
}

// checkObject checks that m[key] is a JSON object, not null, and returns it.
func checkObject(t *testing.T, subject string, m map[string]any, key string) map[string]any {
	t.Helper()
	obj, ok := m[key].(map[string]any)
	assert.Check(t, ok, "%s %q is %#v, expected an object", subject, key, m[key])
	return obj
}

func tarContext(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}))
		_, err := tw.Write([]byte(content))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return &buf
}

// TestAPICompat checks Engine API behaviour that the docker CLI does not
// reach: version handling, stream framing, field presence and error bodies.
func TestAPICompat(t *testing.T) {
	d := newDaemon(t)
	d.importBusybox()
	api := newAPIConn(t, d.socket)

	// A running container and a stopped one, for the list and inspect checks.
	running := api.createContainer(t, "running", map[string]any{
		"Image": "busybox", "Cmd": []string{"sleep", "300"},
		"Labels": map[string]string{"role": "server"},
	})
	api.start(t, running)
	stopped := api.createContainer(t, "stopped", map[string]any{"Image": "busybox", "Cmd": []string{"true"}})
	api.start(t, stopped)
	assert.Equal(t, api.wait(t, stopped), 0)

	t.Run("ping headers", func(t *testing.T) { testPing(t, api) })
	t.Run("version prefix", func(t *testing.T) { testVersionPrefix(t, api) })
	t.Run("pinned client versions", func(t *testing.T) { testPinnedVersions(t, d.socket, running) })
	t.Run("legacy shapes", func(t *testing.T) { testLegacyShapes(t, api, running) })
	t.Run("attach multiplexed stdin", func(t *testing.T) { testAttachMultiplexed(t, api) })
	t.Run("attach without upgrade", func(t *testing.T) { testAttachPlain(t, api) })
	t.Run("attach tty raw", func(t *testing.T) { testAttachTTY(t, api) })
	t.Run("exec stdin close", func(t *testing.T) { testExecStdin(t, api, d.socket, running) })
	t.Run("container required fields", func(t *testing.T) { testContainerFields(t, api, running, stopped) })
	t.Run("image required fields", func(t *testing.T) { testImageFields(t, api) })
	t.Run("event fields", func(t *testing.T) { testEventFields(t, api) })
	t.Run("build stream", func(t *testing.T) { testBuildStream(t, api) })
	t.Run("swarm not manager", func(t *testing.T) { testSwarmEndpoints(t, api) })
	t.Run("error bodies", func(t *testing.T) { testErrorBodies(t, api, running) })
}

func testPing(t *testing.T, api *apiConn) {
	for _, path := range []string{"/_ping", "/v1.24/_ping", "/v1.57/_ping"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp := api.do(t, method, path, nil)
			subject := method + " " + path
			assert.Check(t, is.Equal(resp.status, http.StatusOK), subject)
			assert.Check(t, is.Equal(resp.header.Get("Api-Version"), "1.57"), subject)
			assert.Check(t, is.Equal(resp.header.Get("Docker-Experimental"), "false"), subject)
			assert.Check(t, is.Equal(resp.header.Get("Ostype"), "linux"), subject)
			assert.Check(t, resp.header.Get("Builder-Version") != "", "%s: no Builder-Version header", subject)
			if method == http.MethodGet {
				assert.Check(t, is.Equal(string(resp.body), "OK"), subject)
			} else {
				assert.Check(t, is.Equal(string(resp.body), ""), subject)
			}
		}
	}
}

func testVersionPrefix(t *testing.T, api *apiConn) {
	for _, path := range []string{"/version", "/v1.24/version", "/v1.40/version", "/v1.57/version"} {
		resp := api.do(t, http.MethodGet, path, nil)
		assert.Check(t, is.Equal(resp.status, http.StatusOK), "%s: %s", path, resp.body)
		v := resp.object(t)
		checkKeys(t, path, v, "Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "GoVersion", "KernelVersion")
		assert.Check(t, is.Equal(v["ApiVersion"], "1.57"), path)
		assert.Check(t, is.Equal(v["MinAPIVersion"], "1.24"), path)
	}

	for path, message := range map[string]string{
		"/v1.23/version": "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
		"/v1.12/_ping":   "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
		"/v1.58/version": "client version 1.58 is too new. Maximum supported API version is 1.57",
		"/v2.0/info":     "client version 2.0 is too new. Maximum supported API version is 1.57",
	} {
		resp := api.do(t, http.MethodGet, path, nil)
		assert.Check(t, is.Equal(resp.status, http.StatusBadRequest), path)
		assert.Check(t, is.Equal(resp.header.Get("Content-Type"), "application/json"), path)
		assert.Check(t, is.DeepEqual(resp.object(t), map[string]any{"message": message}), path)
	}
}

// testPinnedVersions runs the calls every SDK makes first with a client
// pinned to each supported API version.
func testPinnedVersions(t *testing.T, socket, running string) {
	ctx := context.Background()
	for minor := 24; minor <= 57; minor++ {
		v := fmt.Sprintf("1.%d", minor)
		c, err := client.New(client.WithHost("unix://"+socket), client.WithAPIVersion(v))
		assert.NilError(t, err)

		ping, err := c.Ping(ctx, client.PingOptions{})
		if assert.Check(t, err, "ping with API %s", v) {
			assert.Check(t, is.Equal(ping.APIVersion, "1.57"), v)
			assert.Check(t, is.Equal(ping.OSType, "linux"), v)
		}
		list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		if assert.Check(t, err, "container list with API %s", v) {
			assert.Check(t, is.Len(list.Items, 2), v)
		}
		images, err := c.ImageList(ctx, client.ImageListOptions{})
		if assert.Check(t, err, "image list with API %s", v) {
			assert.Check(t, is.Len(images.Items, 1), v)
		}
		inspect, err := c.ContainerInspect(ctx, running, client.ContainerInspectOptions{})
		if assert.Check(t, err, "container inspect with API %s", v) {
			assert.Check(t, is.Equal(inspect.Container.ID, running), v)
			assert.Check(t, inspect.Container.State != nil && inspect.Container.State.Running, v)
		}
		image, err := c.ImageInspect(ctx, "busybox")
		if assert.Check(t, err, "image inspect with API %s", v) {
			assert.Check(t, is.DeepEqual(image.RepoTags, []string{"busybox:latest"}), v)
		}
		info, err := c.Info(ctx, client.InfoOptions{})
		if assert.Check(t, err, "info with API %s", v) {
			assert.Check(t, is.Equal(info.Info.Containers, 2), v)
		}
		assert.NilError(t, c.Close())
	}
}

// testLegacyShapes checks the fields that Docker Engine sends older clients
// in place of, or in addition to, the current ones. The versions are the
// ones the Engine API version history (docs/CHANGELOG.md of
// github.com/moby/moby/api v1.57.0) names for each change.
func testLegacyShapes(t *testing.T, api *apiConn, running string) {
	t.Run("network settings", func(t *testing.T) {
		old := api.do(t, http.MethodGet, "/v1.51/containers/"+running+"/json", nil).object(t)
		settings := checkObject(t, "1.51 NetworkSettings", old, "NetworkSettings")
		checkKeys(t, "1.51 NetworkSettings", settings, "IPAddress", "Gateway", "MacAddress", "EndpointID", "IPPrefixLen")
		assert.Check(t, settings["IPAddress"] != "", "1.51 NetworkSettings.IPAddress is empty")

		current := api.do(t, http.MethodGet, "/v1.52/containers/"+running+"/json", nil).object(t)
		settings = checkObject(t, "1.52 NetworkSettings", current, "NetworkSettings")
		checkAbsent(t, "1.52 NetworkSettings", settings, "IPAddress", "Gateway", "MacAddress", "Bridge")
	})

	t.Run("events status id from", func(t *testing.T) {
		since := time.Now().Add(-time.Hour).Unix()
		until := time.Now().Unix() + 1
		query := fmt.Sprintf("/events?since=%d&until=%d&filters=%s", since, until, `{"type":["container"],"event":["start"]}`)

		old := decodeEvents(t, api.do(t, http.MethodGet, "/v1.51"+query, nil).body)
		assert.Assert(t, len(old) > 0, "no start events")
		for _, e := range old {
			assert.Check(t, is.Equal(e["status"], "start"), "1.51 event %v", e)
			actor, _ := e["Actor"].(map[string]any)
			assert.Check(t, actor != nil && e["id"] == actor["ID"], "1.51 event id %v", e)
			assert.Check(t, is.Equal(e["from"], "busybox"), "1.51 event %v", e)
		}

		current := decodeEvents(t, api.do(t, http.MethodGet, "/v1.52"+query, nil).body)
		assert.Assert(t, len(current) > 0, "no start events")
		for _, e := range current {
			checkAbsent(t, "1.52 event", e, "status", "id", "from")
		}
	})

	t.Run("image list", func(t *testing.T) {
		old := api.do(t, http.MethodGet, "/v1.43/images/json", nil).objects(t)
		assert.Assert(t, is.Len(old, 1))
		assert.Check(t, is.Equal(old[0]["VirtualSize"], old[0]["Size"]), "1.43 VirtualSize: %v", old[0])
		assert.Check(t, is.Equal(old[0]["Containers"], float64(-1)), "1.43 Containers: %v", old[0])

		current := api.do(t, http.MethodGet, "/v1.51/images/json", nil).objects(t)
		assert.Assert(t, is.Len(current, 1))
		checkAbsent(t, "1.51 image summary", current[0], "VirtualSize")
		assert.Check(t, is.Equal(current[0]["Containers"], float64(2)), "1.51 Containers: %v", current[0])
	})

	t.Run("image inspect", func(t *testing.T) {
		old := api.do(t, http.MethodGet, "/v1.43/images/busybox/json", nil).object(t)
		assert.Check(t, is.Equal(old["VirtualSize"], old["Size"]), "1.43 VirtualSize")
		checkKeys(t, "1.43 image", old, "Container", "ContainerConfig", "Parent", "Comment", "DockerVersion", "Author", "Created")
		config := checkObject(t, "1.43 image", old, "Config")
		for _, key := range []string{"Hostname", "Domainname", "AttachStdin", "Tty", "OpenStdin", "Image", "Cmd", "Env", "Labels", "WorkingDir", "User"} {
			_, ok := config[key]
			assert.Check(t, ok, "1.43 image Config has no %q: %v", key, config)
		}

		current := api.do(t, http.MethodGet, "/v1.52/images/busybox/json", nil).object(t)
		checkAbsent(t, "1.52 image", current, "VirtualSize", "Container", "ContainerConfig", "Parent", "DockerVersion")
		config = checkObject(t, "1.52 image", current, "Config")
		checkAbsent(t, "1.52 image Config", config, "Hostname", "Domainname", "AttachStdin", "Tty", "Image")
	})

	t.Run("system df", func(t *testing.T) {
		old := api.do(t, http.MethodGet, "/v1.51/system/df", nil).object(t)
		checkKeys(t, "1.51 system df", old, "LayersSize", "Images", "Containers")
		current := api.do(t, http.MethodGet, "/v1.53/system/df", nil).object(t)
		checkKeys(t, "1.53 system df", current, "ImageUsage", "ContainerUsage")
		checkAbsent(t, "1.53 system df", current, "LayersSize", "Images", "Containers")
	})
}

func decodeEvents(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var m map[string]any
		assert.NilError(t, dec.Decode(&m), "events: %s", body)
		list = append(list, m)
	}
	return list
}

// testAttachMultiplexed attaches to `cat` before it starts, writes stdin,
// half-closes the connection and expects the container to see the end of
// its input, exit 0 and send back all output in stdout and stderr frames.
func testAttachMultiplexed(t *testing.T, api *apiConn) {
	id := api.createContainer(t, "attach-cat", map[string]any{
		"Image": "busybox", "Cmd": []string{"sh", "-c", "cat; echo done >&2"},
		"OpenStdin": true, "StdinOnce": true, "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
	})
	resp, conn, reader := api.hijack(t, "/containers/"+id+"/attach?stream=1&stdin=1&stdout=1&stderr=1", nil, true)
	assert.Equal(t, resp.StatusCode, http.StatusSwitchingProtocols)
	assert.Check(t, is.Equal(resp.Header.Get("Upgrade"), "tcp"))
	assert.Check(t, is.Equal(resp.Header.Get("Connection"), "Upgrade"))
	assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "application/vnd.docker.multiplexed-stream"))

	api.start(t, id)
	input := "line one\nline two\n" + strings.Repeat("x", 70000) + "\n"
	_, err := conn.Write([]byte(input))
	assert.NilError(t, err)
	assert.NilError(t, conn.CloseWrite())

	frames := readFrames(t, reader)
	for _, f := range frames {
		assert.Check(t, f.stream == 1 || f.stream == 2, "stream id %d", f.stream)
	}
	assert.Check(t, is.Equal(joinFrames(frames, 1), input))
	assert.Check(t, is.Equal(joinFrames(frames, 2), "done\n"))
	assert.Check(t, is.Equal(api.wait(t, id), 0))
}

// testAttachPlain attaches without asking for an upgrade, as older clients
// do, and expects a plain 200 with the stream after it.
func testAttachPlain(t *testing.T, api *apiConn) {
	id := api.createContainer(t, "attach-plain", map[string]any{
		"Image": "busybox", "Cmd": []string{"echo", "plain"}, "AttachStdout": true,
	})
	resp, _, reader := api.hijack(t, "/v1.41/containers/"+id+"/attach?stream=1&stdout=1&stderr=1", nil, false)
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	// API 1.41 predates the multiplexed-stream media type, but the stream is
	// framed all the same.
	assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "application/vnd.docker.raw-stream"))
	api.start(t, id)
	frames := readFrames(t, reader)
	assert.Check(t, is.Equal(joinFrames(frames, 1), "plain\n"))
	assert.Check(t, is.Equal(api.wait(t, id), 0))
}

// testAttachTTY expects the raw bytes of the terminal, without frame
// headers, from a container with a TTY.
func testAttachTTY(t *testing.T, api *apiConn) {
	id := api.createContainer(t, "attach-tty", map[string]any{
		"Image": "busybox", "Cmd": []string{"sh", "-c", "head -n 1; echo tty-out"}, "Tty": true,
		"OpenStdin": true, "StdinOnce": true, "AttachStdin": true, "AttachStdout": true,
	})
	resp, conn, reader := api.hijack(t, "/containers/"+id+"/attach?stream=1&stdin=1&stdout=1", nil, true)
	assert.Equal(t, resp.StatusCode, http.StatusSwitchingProtocols)
	assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "application/vnd.docker.raw-stream"))

	api.start(t, id)
	_, err := conn.Write([]byte("typed\n"))
	assert.NilError(t, err)
	out, err := io.ReadAll(reader)
	assert.NilError(t, err)
	// The terminal echoes the input, then head writes it back, and the
	// terminal turns each "\n" into "\r\n".
	assert.Check(t, is.Equal(string(out), "typed\r\ntyped\r\ntty-out\r\n"))
	assert.Check(t, is.Equal(api.wait(t, id), 0))
}

// testExecStdin runs `cat` in an exec with stdin, half-closes the
// connection and expects the exec to exit 0 with all output.
func testExecStdin(t *testing.T, api *apiConn, socket, running string) {
	ctx := context.Background()
	c, err := client.New(client.WithHost("unix://" + socket))
	assert.NilError(t, err)
	defer c.Close()

	created, err := c.ExecCreate(ctx, running, client.ExecCreateOptions{
		Cmd:         []string{"sh", "-c", "cat; echo exec-done >&2"},
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	assert.NilError(t, err)

	for _, upgrade := range []bool{true, false} {
		if !upgrade {
			created, err = c.ExecCreate(ctx, running, client.ExecCreateOptions{
				Cmd:         []string{"sh", "-c", "cat; echo exec-done >&2"},
				AttachStdin: true, AttachStdout: true, AttachStderr: true,
			})
			assert.NilError(t, err)
		}
		resp, conn, reader := api.hijack(t, "/exec/"+created.ID+"/start", map[string]any{"Detach": false, "Tty": false}, upgrade)
		if upgrade {
			assert.Check(t, is.Equal(resp.StatusCode, http.StatusSwitchingProtocols))
			assert.Check(t, is.Equal(resp.Header.Get("Upgrade"), "tcp"))
		} else {
			assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
		}
		assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "application/vnd.docker.multiplexed-stream"))

		input := "exec input\n" + strings.Repeat("y", 50000) + "\n"
		_, err = conn.Write([]byte(input))
		assert.NilError(t, err)
		assert.NilError(t, conn.CloseWrite())
		frames := readFrames(t, reader)
		assert.Check(t, is.Equal(joinFrames(frames, 1), input), "upgrade %v", upgrade)
		assert.Check(t, is.Equal(joinFrames(frames, 2), "exec-done\n"), "upgrade %v", upgrade)

		inspect, err := c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		assert.NilError(t, err)
		assert.Check(t, !inspect.Running, "upgrade %v", upgrade)
		assert.Check(t, is.Equal(inspect.ExitCode, 0), "upgrade %v", upgrade)
	}
}

// testContainerFields checks the fields the swagger (Engine API v1.57) lists
// as required, and the ones SDKs such as docker-py index into without a
// default, on container list and inspect.
func testContainerFields(t *testing.T, api *apiConn, running, stopped string) {
	list := api.do(t, http.MethodGet, "/containers/json?all=1", nil).objects(t)
	assert.Assert(t, len(list) >= 2)
	for _, c := range list {
		subject := fmt.Sprintf("container summary %v", c["Names"])
		checkKeys(t, subject, c, "Id", "Names", "Image", "ImageID", "Command", "Created", "State", "Status", "HostConfig", "NetworkSettings")
		checkArray(t, subject, c, "Names")
		checkArray(t, subject, c, "Ports")
		checkArray(t, subject, c, "Mounts")
		checkObject(t, subject, c, "Labels")
		if settings := checkObject(t, subject, c, "NetworkSettings"); settings != nil {
			checkObject(t, subject+" NetworkSettings", settings, "Networks")
		}
		if hostConfig := checkObject(t, subject, c, "HostConfig"); hostConfig != nil {
			checkKeys(t, subject+" HostConfig", hostConfig, "NetworkMode")
		}
	}

	for _, id := range []string{running, stopped} {
		c := api.do(t, http.MethodGet, "/containers/"+id+"/json", nil).object(t)
		subject := "container " + id[:12]
		checkKeys(t, subject, c, "Id", "Created", "Path", "Args", "State", "Image", "Name", "RestartCount",
			"Driver", "Platform", "HostConfig", "GraphDriver", "Config", "NetworkSettings",
			"ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "MountLabel", "ProcessLabel", "AppArmorProfile")
		checkArray(t, subject, c, "Args")
		checkArray(t, subject, c, "Mounts")
		if state := checkObject(t, subject, c, "State"); state != nil {
			checkKeys(t, subject+" State", state, "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt")
			// Health is present only for containers with a health check.
			checkAbsent(t, subject+" State", state, "Health")
		}
		if config := checkObject(t, subject, c, "Config"); config != nil {
			checkObject(t, subject+" Config", config, "Labels")
			checkKeys(t, subject+" Config", config, "Image", "Cmd", "Env", "Hostname", "Tty", "OpenStdin")
		}
		if settings := checkObject(t, subject, c, "NetworkSettings"); settings != nil {
			checkObject(t, subject+" NetworkSettings", settings, "Networks")
			checkKeys(t, subject+" NetworkSettings", settings, "SandboxID", "SandboxKey", "Ports")
		}
		if graph := checkObject(t, subject, c, "GraphDriver"); graph != nil {
			checkKeys(t, subject+" GraphDriver", graph, "Name", "Data")
		}
	}

	healthy := api.createContainer(t, "healthy", map[string]any{
		"Image": "busybox", "Cmd": []string{"sleep", "300"},
		"Healthcheck": map[string]any{"Test": []string{"CMD", "true"}, "Interval": int64(time.Hour)},
	})
	api.start(t, healthy)
	defer api.do(t, http.MethodDelete, "/containers/"+healthy+"?force=1", nil)
	c := api.do(t, http.MethodGet, "/containers/"+healthy+"/json", nil).object(t)
	if state := checkObject(t, "healthy container", c, "State"); state != nil {
		if health := checkObject(t, "healthy container State", state, "Health"); health != nil {
			checkKeys(t, "healthy container State.Health", health, "Status", "FailingStreak")
			checkArray(t, "healthy container State.Health", health, "Log")
			if health["Status"] != "starting" {
				t.Errorf("healthy container State.Health.Status = %v, want starting", health["Status"])
			}
		}
	}
}

func testImageFields(t *testing.T, api *apiConn) {
	// An untagged image, the case where RepoTags is most easily null.
	resp := api.do(t, http.MethodPost, "/build?rm=1", tarContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nLABEL stage=untagged\n",
	}))
	assert.Assert(t, is.Equal(resp.status, http.StatusOK), "%s", resp.body)

	list := api.do(t, http.MethodGet, "/images/json", nil).objects(t)
	assert.Assert(t, len(list) >= 2)
	for _, img := range list {
		subject := fmt.Sprintf("image summary %v", img["Id"])
		checkKeys(t, subject, img, "Id", "ParentId", "Created", "Size", "SharedSize", "Containers")
		checkArray(t, subject, img, "RepoTags")
		checkArray(t, subject, img, "RepoDigests")
		checkObject(t, subject, img, "Labels")
	}

	for _, img := range list {
		id := img["Id"].(string)
		inspect := api.do(t, http.MethodGet, "/images/"+id+"/json", nil).object(t)
		subject := "image " + id
		checkKeys(t, subject, inspect, "Id", "Architecture", "Os", "Size", "RootFS", "Metadata", "Config", "GraphDriver")
		checkArray(t, subject, inspect, "RepoTags")
		checkArray(t, subject, inspect, "RepoDigests")
		if rootfs := checkObject(t, subject, inspect, "RootFS"); rootfs != nil {
			checkKeys(t, subject+" RootFS", rootfs, "Type")
			checkArray(t, subject+" RootFS", rootfs, "Layers")
		}
		checkObject(t, subject, inspect, "Metadata")
	}
}

func testEventFields(t *testing.T, api *apiConn) {
	since := time.Now().Add(-time.Hour).Unix()
	until := time.Now().Unix() + 1
	events := decodeEvents(t, api.do(t, http.MethodGet, fmt.Sprintf("/events?since=%d&until=%d", since, until), nil).body)
	assert.Assert(t, len(events) > 0)
	for _, e := range events {
		subject := fmt.Sprintf("event %v %v", e["Type"], e["Action"])
		checkKeys(t, subject, e, "Type", "Action", "Actor", "scope", "time", "timeNano")
		if actor := checkObject(t, subject, e, "Actor"); actor != nil {
			checkKeys(t, subject+" Actor", actor, "ID")
			checkObject(t, subject+" Actor", actor, "Attributes")
		}
	}
}

var (
	builtPattern  = regexp.MustCompile(`^Successfully built [0-9a-f]{12}\n$`)
	taggedPattern = regexp.MustCompile(`^Successfully tagged compat:1\.0\n$`)
)

func testBuildStream(t *testing.T, api *apiConn) {
	resp := api.do(t, http.MethodPost, "/build?t=compat:1.0&rm=1", tarContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo built > /built\n",
	}))
	assert.Assert(t, is.Equal(resp.status, http.StatusOK), "%s", resp.body)
	messages := decodeEvents(t, resp.body)
	assert.Assert(t, len(messages) >= 3, "%s", resp.body)

	var streams []string
	var auxID string
	for _, m := range messages {
		checkAbsent(t, "build message", m, "error", "errorDetail")
		if s, ok := m["stream"].(string); ok {
			streams = append(streams, s)
		}
		if aux, ok := m["aux"].(map[string]any); ok {
			auxID, _ = aux["ID"].(string)
		}
	}
	assert.Assert(t, len(streams) >= 2, "%s", resp.body)
	assert.Check(t, strings.HasPrefix(streams[0], "Step 1/2 : FROM busybox"), "first stream message %q", streams[0])
	built, tagged := streams[len(streams)-2], streams[len(streams)-1]
	assert.Check(t, builtPattern.MatchString(built), "%q", built)
	assert.Check(t, taggedPattern.MatchString(tagged), "%q", tagged)
	assert.Check(t, strings.HasPrefix(auxID, "sha256:"), "aux ID %q", auxID)
	if len(auxID) > 19 && len(built) > 31 {
		assert.Check(t, is.Equal(built[len("Successfully built "):len(built)-1], auxID[7:19]))
	}

	resp = api.do(t, http.MethodPost, "/build?t=compat:broken&rm=1", tarContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN exit 3\n",
	}))
	assert.Assert(t, is.Equal(resp.status, http.StatusOK), "%s", resp.body)
	messages = decodeEvents(t, resp.body)
	last := messages[len(messages)-1]
	detail := checkObject(t, "failed build message", last, "errorDetail")
	if detail != nil {
		message, _ := detail["message"].(string)
		assert.Check(t, strings.Contains(message, "returned a non-zero code: 3"), "errorDetail %v", detail)
		assert.Check(t, is.Equal(detail["code"], float64(3)), "errorDetail %v", detail)
	}
}

func testSwarmEndpoints(t *testing.T, api *apiConn) {
	requests := []struct{ method, path string }{
		{http.MethodGet, "/swarm"},
		{http.MethodGet, "/v1.45/swarm"},
		{http.MethodGet, "/services"},
		{http.MethodGet, "/services/web"},
		{http.MethodPost, "/services/create"},
		{http.MethodGet, "/nodes"},
		{http.MethodGet, "/tasks"},
		{http.MethodGet, "/secrets"},
		{http.MethodGet, "/configs"},
	}
	for _, req := range requests {
		resp := api.do(t, req.method, req.path, nil)
		subject := req.method + " " + req.path
		assert.Check(t, is.Equal(resp.status, http.StatusServiceUnavailable), subject)
		message, _ := resp.object(t)["message"].(string)
		assert.Check(t, strings.HasPrefix(message, "This node is not a swarm manager."), "%s: %q", subject, message)
	}
}

func testErrorBodies(t *testing.T, api *apiConn, running string) {
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		message string // the whole message, or "" to check only that there is one
	}{
		{"unknown container", http.MethodGet, "/containers/nosuch/json", nil, http.StatusNotFound, "No such container: nosuch"},
		{"unknown container start", http.MethodPost, "/containers/nosuch/start", nil, http.StatusNotFound, "No such container: nosuch"},
		{"unknown container delete", http.MethodDelete, "/containers/nosuch", nil, http.StatusNotFound, "No such container: nosuch"},
		{"unknown image", http.MethodGet, "/images/nosuch:1.0/json", nil, http.StatusNotFound, "No such image: nosuch:1.0"},
		{"unknown image create", http.MethodPost, "/containers/create", map[string]any{"Image": "nosuch:1.0"}, http.StatusNotFound, "No such image: nosuch:1.0"},
		{"unknown exec", http.MethodGet, "/exec/nosuch/json", nil, http.StatusNotFound, "No such exec instance: nosuch"},
		{"name conflict", http.MethodPost, "/containers/create?name=running", map[string]any{"Image": "busybox"}, http.StatusConflict, ""},
		{"remove running", http.MethodDelete, "/containers/" + running, nil, http.StatusConflict, ""},
		{"bad filters", http.MethodGet, "/containers/json?filters=notjson", nil, http.StatusBadRequest, ""},
		{"bad event filter", http.MethodGet, "/events?filters=" + `{"bogus":["x"]}`, nil, http.StatusBadRequest, "invalid filter 'bogus'"},
		{"bad container name", http.MethodPost, "/containers/create?name=a%20b", map[string]any{"Image": "busybox"}, http.StatusBadRequest, ""},
		{"missing config", http.MethodPost, "/containers/create", nil, http.StatusBadRequest, ""},
		{"unimplemented search", http.MethodGet, "/images/search?term=busybox", nil, http.StatusNotImplemented, ""},
		{"unknown volume", http.MethodGet, "/volumes/nosuch", nil, http.StatusNotFound, "get nosuch: no such volume"},
		{"unknown path", http.MethodGet, "/nosuch", nil, http.StatusNotFound, "page not found"},
	}
	for _, tc := range cases {
		resp := api.do(t, tc.method, tc.path, tc.body)
		assert.Check(t, is.Equal(resp.status, tc.status), "%s: %s", tc.name, resp.body)
		assert.Check(t, is.Equal(resp.header.Get("Content-Type"), "application/json"), tc.name)
		body := resp.object(t)
		message, ok := body["message"].(string)
		assert.Check(t, ok && message != "", "%s: no message in %s", tc.name, resp.body)
		if tc.message != "" {
			assert.Check(t, is.Equal(message, tc.message), tc.name)
		}
	}
}
