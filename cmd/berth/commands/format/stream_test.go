package format

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/jsonstream"
	"gotest.tools/v3/assert"
)

// pullStream is the output of POST /images/create for a pull of two
// layers, as a daemon sends it.
const pullStream = `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Waiting","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":1200000,"total":4500000},"id":"aaa"}
{"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":4500000,"total":4500000},"id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Extracting","progressDetail":{"current":32768,"total":4500000},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Digest: sha256:0123"}
{"status":"Status: Downloaded newer image for busybox:latest"}
`

// displayTerminal prints stream as DisplayJSONStreamTo does on a terminal
// that is width columns wide.
func displayTerminal(t *testing.T, stream string, width int) (string, error) {
	t.Helper()
	var out bytes.Buffer
	printer := newStreamPrinter(&out, true, func() int { return width })
	err := displayJSONStream(strings.NewReader(stream), printer, nil)
	return out.String(), err
}

func TestDisplayJSONStreamPlainPull(t *testing.T) {
	var out bytes.Buffer
	err := DisplayJSONStreamTo(strings.NewReader(pullStream), &out, -1, false, nil)

	assert.NilError(t, err)
	assert.Equal(t, out.String(), `latest: Pulling from library/busybox
aaa: Pulling fs layer
bbb: Pulling fs layer
bbb: Waiting
aaa: Download complete
aaa: Pull complete
bbb: Pull complete
Digest: sha256:0123
Status: Downloaded newer image for busybox:latest
`)
}

func TestDisplayJSONStreamPlainRepeatsAfterStatus(t *testing.T) {
	stream := `{"status":"Already exists","progressDetail":{},"id":"aaa"}
{"status":"Digest: sha256:0123"}
{"status":"Already exists","progressDetail":{},"id":"aaa"}
`
	var out bytes.Buffer
	err := DisplayJSONStream(strings.NewReader(stream), &out, nil)

	assert.NilError(t, err)
	assert.Equal(t, out.String(), "aaa: Already exists\nDigest: sha256:0123\naaa: Already exists\n")
}

func TestDisplayJSONStreamTerminalInterleaved(t *testing.T) {
	stream := `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":1200000,"total":4500000},"id":"aaa"}
{"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"bbb"}
{}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
`
	got, err := displayTerminal(t, stream, 60)

	assert.NilError(t, err)
	// Each ID line is erased and drawn where it is: the first ID two
	// lines up and the second one line up, after which the cursor goes
	// back down to the line below both. The empty message prints nothing.
	want := "latest: Pulling from library/busybox\n" +
		"\x1b[2Kaaa: Pulling fs layer\n" +
		"\x1b[2Kbbb: Pulling fs layer\n" +
		"\x1b[2A\x1b[2Kaaa: Downloading [=======>                   ]  1.2MB/4.5MB\r\x1b[2B" +
		"\x1b[1A\x1b[2Kbbb: Downloading [==============>              ]   500B/1kB\r\x1b[1B" +
		"\x1b[2A\x1b[2Kaaa: Download complete\r\x1b[2B" +
		"\x1b[1A\x1b[2Kbbb: Pull complete\r\x1b[1B"
	assert.Equal(t, got, want)
}

func TestDisplayJSONStreamTerminalLineWithoutID(t *testing.T) {
	stream := `{"status":"Pull complete","progressDetail":{},"id":"aaa"}
{"status":"Pull complete","progressDetail":{},"id":"bbb"}
{"status":"Digest: sha256:0123"}
{"status":"Pushing","progressDetail":{"current":10,"total":20},"progress":"[==>   ] 10B/20B","id":"aaa"}
{"status":"Pushed","progressDetail":{},"id":"aaa"}
`
	got, err := displayTerminal(t, stream, 80)

	assert.NilError(t, err)
	// The line without an ID ends the block of ID lines, so the next
	// message for "aaa" starts a new line below it. The daemon's
	// "progress" text is drawn in place of a bar.
	want := "\x1b[2Kaaa: Pull complete\n" +
		"\x1b[2Kbbb: Pull complete\n" +
		"Digest: sha256:0123\n" +
		"\x1b[2Kaaa: Pushing [==>   ] 10B/20B\n" +
		"\x1b[1A\x1b[2Kaaa: Pushed\r\x1b[1B"
	assert.Equal(t, got, want)
}

func TestDisplayJSONStreamTerminalProgressWithoutID(t *testing.T) {
	stream := `{"status":"Importing","progressDetail":{"current":1000000,"total":2000000}}
{"status":"Importing","progressDetail":{"current":2000000,"total":2000000}}
{}
{"status":"sha256:0123"}
`
	got, err := displayTerminal(t, stream, 40)

	assert.NilError(t, err)
	// Progress without an ID is redrawn on one line, which stays when the
	// next line is printed below it.
	want := "\x1b[2KImporting [========>       ]    1MB/2MB\r" +
		"\x1b[2KImporting [================]    2MB/2MB\r" +
		"\nsha256:0123\n"
	assert.Equal(t, got, want)
}

func TestDisplayJSONStreamTerminalAfterPartialText(t *testing.T) {
	stream := `{"stream":"Step 1/1 : FROM busybox"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
`
	got, err := displayTerminal(t, stream, 80)

	assert.NilError(t, err)
	assert.Equal(t, got, "Step 1/1 : FROM busybox\n\x1b[2Kaaa: Pulling fs layer\n")
}

func TestDisplayJSONStreamTerminalError(t *testing.T) {
	stream := `{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Downloading","progressDetail":{"current":100,"total":0},"id":"aaa"}
{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}
{"status":"Pull complete","progressDetail":{},"id":"aaa"}
`
	got, err := displayTerminal(t, stream, 80)

	assert.Error(t, err, "unexpected EOF")
	assert.Equal(t, got, "\x1b[2Kaaa: Pulling fs layer\n\x1b[1A\x1b[2Kaaa: Downloading   100B\r\x1b[1B")
}

func TestDisplayJSONStreamErrorString(t *testing.T) {
	stream := `{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"error":"manifest unknown"}
`
	var out bytes.Buffer
	err := DisplayJSONStream(strings.NewReader(stream), &out, nil)

	assert.Error(t, err, "manifest unknown")
	assert.Equal(t, out.String(), "aaa: Pulling fs layer\n")
}

func TestDisplayJSONStreamToUnknownWidth(t *testing.T) {
	stream := `{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Extracting","progressDetail":{"current":1,"total":2},"id":"aaa"}
{"aux":{"ID":"sha256:123"}}
`
	var out bytes.Buffer
	var aux []string
	err := DisplayJSONStreamTo(strings.NewReader(stream), &out, -1, true, func(raw json.RawMessage) { aux = append(aux, string(raw)) })

	assert.NilError(t, err)
	// Without a terminal size the line is 200 columns wide, which leaves
	// room for the longest bar.
	bar := "[" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 24) + "]"
	assert.Equal(t, out.String(), "\x1b[2Kaaa: Pulling fs layer\n\x1b[1A\x1b[2Kaaa: Extracting "+bar+"     1B/2B\r\x1b[1B")
	assert.DeepEqual(t, aux, []string{`{"ID":"sha256:123"}`})
}

func TestRenderProgressWidths(t *testing.T) {
	tests := []struct {
		name     string
		progress jsonstream.Progress
		width    int
		want     string
	}{
		{name: "no counts", progress: jsonstream.Progress{}, width: 80, want: ""},
		{name: "narrow bar", progress: jsonstream.Progress{Current: 3, Total: 10}, width: 23, want: "[===>      ]     3B/10B"},
		{name: "too narrow", progress: jsonstream.Progress{Current: 3, Total: 10}, width: 22, want: "    3B/10B"},
		{name: "done", progress: jsonstream.Progress{Current: 10, Total: 10}, width: 23, want: "[==========]    10B/10B"},
		{name: "past total", progress: jsonstream.Progress{Current: 12, Total: 10}, width: 19, want: "[==========]    12B"},
		{name: "unknown total", progress: jsonstream.Progress{Current: 2_500_000}, width: 80, want: " 2.5MB"},
		{name: "units", progress: jsonstream.Progress{Current: 1, Total: 4, Units: "layers"}, width: 23, want: "[==>       ] 1/4 layers"},
		{name: "hidden counts", progress: jsonstream.Progress{Current: 1, Total: 2, HideCounts: true}, width: 12, want: "[=====>    ]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, renderProgress(tc.progress, tc.width), tc.want)
		})
	}
}

func TestProgressLineFitsWidth(t *testing.T) {
	message := streamMessage{Message: jsonstream.Message{ID: "aaa", Status: "Mounted from team/application"}}

	assert.Equal(t, progressLine(message, 20), "aaa: Mounted from …")
}
