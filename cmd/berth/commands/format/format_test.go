package format

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestTemplateFuncs(t *testing.T) {
	tests := []struct {
		name     string
		template string
		data     any
		want     string
	}{
		{name: "json", template: `{{json .}}`, data: map[string]string{"a": "<b>"}, want: `{"a":"<b>"}`},
		{name: "join", template: `{{join . ","}}`, data: []string{"a", "b"}, want: "a,b"},
		{name: "split", template: `{{index (split . ":") 1}}`, data: "a:b", want: "b"},
		{name: "upper", template: `{{upper .}}`, data: "abc", want: "ABC"},
		{name: "lower", template: `{{lower .}}`, data: "ABC", want: "abc"},
		{name: "title", template: `{{title .}}`, data: "hello big world", want: "Hello Big World"},
		{name: "pad", template: `[{{pad . 1 2}}]`, data: "x", want: "[ x  ]"},
		{name: "pad empty", template: `[{{pad . 1 2}}]`, data: "", want: "[]"},
		{name: "truncate", template: `{{truncate . 3}}`, data: "abcdef", want: "abc"},
		{name: "truncate short", template: `{{truncate . 10}}`, data: "abc", want: "abc"},
		{name: "println", template: `{{println .}}`, data: "x", want: "x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.template)
			assert.NilError(t, err)

			var out bytes.Buffer
			assert.NilError(t, tmpl.Execute(&out, tc.data))
			assert.Equal(t, out.String(), tc.want)
		})
	}
}

func TestParseInvalidTemplate(t *testing.T) {
	_, err := Parse("{{.Unclosed")
	assert.ErrorContains(t, err, "invalid format template")
}

type testRow struct{ name, size string }

func (r testRow) Name() string                 { return r.name }
func (r testRow) Size() string                 { return r.size }
func (r testRow) Label(key string) string      { return key + "-value" }
func (r testRow) MarshalJSON() ([]byte, error) { return MarshalMethods(r) }

func writeRows(t *testing.T, formatText string, rows ...testRow) string {
	t.Helper()
	var out bytes.Buffer
	writer, err := NewWriter(&out, formatText, "table {{.Name}}\t{{.Size}}", map[string]string{"Name": "NAME", "Size": "SIZE"})
	assert.NilError(t, err)
	for _, row := range rows {
		assert.NilError(t, writer.Write(row))
	}
	assert.NilError(t, writer.Flush())
	return out.String()
}

func TestWriterFormats(t *testing.T) {
	rows := []testRow{{name: "alpha", size: "1kB"}, {name: "a-much-longer-name", size: "20MB"}}
	tests := []struct {
		name   string
		format string
		want   string
	}{
		{
			name:   "default table",
			format: "",
			want:   "NAME                 SIZE\nalpha                1kB\na-much-longer-name   20MB\n",
		},
		{
			name:   "table keyword",
			format: "table",
			want:   "NAME                 SIZE\nalpha                1kB\na-much-longer-name   20MB\n",
		},
		{
			name:   "custom table with escaped tab",
			format: `table {{.Size}}\t{{.Name}}`,
			want:   "SIZE      NAME\n1kB       alpha\n20MB      a-much-longer-name\n",
		},
		{
			name:   "raw template",
			format: `{{.Name}}={{.Size}}`,
			want:   "alpha=1kB\na-much-longer-name=20MB\n",
		},
		{
			name:   "raw template with escaped newline",
			format: `{{.Name}}\n{{.Size}}`,
			want:   "alpha\n1kB\na-much-longer-name\n20MB\n",
		},
		{
			name:   "json lines",
			format: "json",
			want:   `{"Name":"alpha","Size":"1kB"}` + "\n" + `{"Name":"a-much-longer-name","Size":"20MB"}` + "\n",
		},
		{
			name:   "table with method arguments has no header",
			format: `table {{.Label "x"}}`,
			want:   "x-value\nx-value\n",
		},
		{
			name:   "unknown header key",
			format: `table {{.Name}}|{{.Missing}}`,
			want:   "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				var out bytes.Buffer
				writer, err := NewWriter(&out, tc.format, "", map[string]string{"Name": "NAME"})
				assert.NilError(t, err)
				err = writer.Write(rows[0])
				assert.ErrorContains(t, err, "Missing")
				return
			}
			assert.Equal(t, writeRows(t, tc.format, rows...), tc.want)
		})
	}
}

func TestWriterHeaderOnlyTable(t *testing.T) {
	assert.Equal(t, writeRows(t, ""), "NAME      SIZE\n")
	assert.Equal(t, writeRows(t, "{{.Name}}"), "")
}

type inspected struct {
	ID    string `json:"Id"`
	Name  string
	State struct{ Running bool }
}

func TestInspectorJSON(t *testing.T) {
	var out bytes.Buffer
	inspector, err := NewInspector(&out, "")
	assert.NilError(t, err)

	assert.NilError(t, inspector.Add(nil, []byte(`{"Id":"abc","Name":"/a<b>"}`)))
	assert.NilError(t, inspector.Add(nil, []byte(`{"Id":"def"}`)))
	assert.NilError(t, inspector.Flush())

	want := "[\n    {\n        \"Id\": \"abc\",\n        \"Name\": \"/a<b>\"\n    },\n    {\n        \"Id\": \"def\"\n    }\n]\n"
	assert.Equal(t, out.String(), want)
}

func TestInspectorEmpty(t *testing.T) {
	var out bytes.Buffer
	inspector, err := NewInspector(&out, "json")
	assert.NilError(t, err)
	assert.NilError(t, inspector.Flush())

	assert.Equal(t, out.String(), "[]\n")
}

func TestInspectorTemplate(t *testing.T) {
	typed := inspected{ID: "abc", Name: "/web"}
	typed.State.Running = true
	raw := []byte(`{"Id":"abc","Name":"/web","State":{"Running":true}}`)

	tests := []struct {
		name   string
		format string
		want   string
	}{
		{name: "go field name", format: "{{.ID}}", want: "abc\n"},
		{name: "api field name falls back to json", format: "{{.Id}}", want: "abc\n"},
		{name: "nested", format: "{{.State.Running}} {{.Name}}", want: "true /web\n"},
		{name: "json func", format: "{{json .State}}", want: `{"Running":true}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			inspector, err := NewInspector(&out, tc.format)
			assert.NilError(t, err)

			assert.NilError(t, inspector.Add(typed, raw))
			assert.NilError(t, inspector.Flush())
			assert.Equal(t, out.String(), tc.want)
		})
	}
}

func TestInspectorTemplateError(t *testing.T) {
	var out bytes.Buffer
	inspector, err := NewInspector(&out, "{{.Id.Deeper}}")
	assert.NilError(t, err)

	err = inspector.Add(inspected{}, []byte(`{"Id":"abc"}`))
	assert.ErrorContains(t, err, "template parsing error")
}

func TestHumanHelpers(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	assert.Equal(t, Ago(now.Add(-2*time.Minute), now), "2 minutes ago")
	assert.Equal(t, Ago(now.Add(-3*time.Second), now), "3 seconds ago")
	assert.Equal(t, Ago(now.Add(-49*time.Hour), now), "2 days ago")
	assert.Equal(t, Size(0), "0B")
	assert.Equal(t, Size(7_812_345), "7.81MB")
	assert.Equal(t, TruncateID("sha256:0123456789abcdef0123"), "0123456789ab")
	assert.Equal(t, Ellipsis("abcdef", 4), "abc…")
	assert.Equal(t, Ellipsis("abc", 4), "abc")
	assert.Equal(t, StripNamePrefix("/web"), "web")
}

func TestDisplayJSONStream(t *testing.T) {
	stream := `{"stream":"Step 1/2 : FROM scratch\n"}
{"status":"Downloading","id":"abc","progressDetail":{"current":1,"total":2}}
{"status":"Pull complete","id":"abc"}
{"aux":{"ID":"sha256:123"}}
{"stream":"Successfully built 123\n"}
{"status":"sha256:456"}
`
	var out bytes.Buffer
	var aux []string
	err := DisplayJSONStream(bytes.NewBufferString(stream), &out, func(raw json.RawMessage) { aux = append(aux, string(raw)) })

	assert.NilError(t, err)
	assert.Equal(t, out.String(), "Step 1/2 : FROM scratch\nabc: Pull complete\nSuccessfully built 123\nsha256:456\n")
	assert.DeepEqual(t, aux, []string{`{"ID":"sha256:123"}`})
}

func TestDisplayJSONStreamError(t *testing.T) {
	stream := `{"stream":"Step 1/1 : RUN false\n"}
{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"ignored"}
{"stream":"never printed\n"}
`
	var out bytes.Buffer
	err := DisplayJSONStream(bytes.NewBufferString(stream), &out, nil)

	assert.Error(t, err, "The command '/bin/sh -c false' returned a non-zero code: 1")
	assert.Equal(t, out.String(), "Step 1/1 : RUN false\n")
}

func TestDisplayJSONStreamInvalid(t *testing.T) {
	err := DisplayJSONStream(bytes.NewBufferString("not json"), &bytes.Buffer{}, nil)
	assert.ErrorContains(t, err, "read daemon output")
}

func TestInspectorTemplateUnsetAddress(t *testing.T) {
	typed := struct{ IPAddress netip.Addr }{}
	raw := []byte(`{"IPAddress":""}`)
	var out bytes.Buffer
	inspector, err := NewInspector(&out, "[{{.IPAddress}}]")
	assert.NilError(t, err)

	assert.NilError(t, inspector.Add(typed, raw))
	assert.Equal(t, out.String(), "[]\n", "an unset address prints as the daemon sent it, empty")
}
