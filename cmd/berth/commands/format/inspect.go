package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
)

// Inspector prints objects for the inspect commands: an indented JSON
// array of the raw API responses, or one line per object from a template.
type Inspector struct {
	out  io.Writer
	tmpl *template.Template
	raw  []json.RawMessage
}

// NewInspector returns an Inspector for the -f/--format value. The values
// "" and "json" select the indented JSON array.
func NewInspector(out io.Writer, format string) (*Inspector, error) {
	inspector := &Inspector{out: out}
	if format == "" || format == JSONKey {
		return inspector, nil
	}

	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := Parse(format)
	if err != nil {
		return nil, err
	}
	inspector.tmpl = tmpl
	return inspector, nil
}

// Add prints one object. typed is the decoded API type and raw its JSON.
// The template runs against typed first, so that Go field names such as
// .ID work. If that fails, it runs against the decoded JSON, so that API
// names such as .Id work too.
func (i *Inspector) Add(typed any, raw []byte) error {
	if i.tmpl == nil {
		i.raw = append(i.raw, json.RawMessage(raw))
		return nil
	}

	var buf bytes.Buffer
	err := i.tmpl.Execute(&buf, typed)
	// An unset address field is a zero netip.Addr in the API types, which
	// prints "invalid IP", where the JSON has "" and Docker's CLI prints
	// nothing. The daemon's JSON renders such a template as Docker does.
	if err != nil || bytes.Contains(buf.Bytes(), []byte("invalid IP")) {
		var generic any
		if jsonErr := json.Unmarshal(raw, &generic); jsonErr != nil {
			if err != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
		} else {
			var fromRaw bytes.Buffer
			if rawErr := i.tmpl.Execute(&fromRaw, generic); rawErr == nil {
				buf = fromRaw
			} else if err != nil {
				return fmt.Errorf("template parsing error: %w", err)
			}
		}
	}
	buf.WriteByte('\n')
	_, err = i.out.Write(buf.Bytes())
	return err
}

// Flush prints the JSON array collected by Add. In template mode it prints
// nothing.
func (i *Inspector) Flush() error {
	if i.tmpl != nil {
		return nil
	}
	if len(i.raw) == 0 {
		_, err := io.WriteString(i.out, "[]\n")
		return err
	}

	// Joining by hand keeps the daemon's bytes: json.Marshal would escape
	// HTML characters in them.
	var array bytes.Buffer
	array.WriteByte('[')
	for n, raw := range i.raw {
		if n > 0 {
			array.WriteByte(',')
		}
		array.Write(raw)
	}
	array.WriteByte(']')

	var buf bytes.Buffer
	if err := json.Indent(&buf, array.Bytes(), "", "    "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := i.out.Write(buf.Bytes())
	return err
}
