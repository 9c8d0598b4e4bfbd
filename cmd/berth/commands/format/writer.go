package format

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Special --format values.
const (
	// TableKey selects the command's default table.
	TableKey = "table"
	// JSONKey prints each row as one JSON object per line.
	JSONKey = "json"
)

// Writer formats rows for a --format value: a table with a header row, a
// plain template with one line per row, or JSON lines.
type Writer struct {
	out    io.Writer
	table  *tabwriter.Writer
	tmpl   *template.Template
	header map[string]string

	wroteHeader bool
}

// NewWriter returns a Writer for format. An empty format or "table" selects
// defaultTable, "table TEMPLATE" a table with a custom template, "json" one
// JSON object per row, and anything else a plain template. header maps the
// row's field names to column titles. The escapes \t and \n typed on a
// command line become a tab and a newline.
func NewWriter(out io.Writer, format, defaultTable string, header map[string]string) (*Writer, error) {
	if format == "" || format == TableKey {
		format = defaultTable
	}
	if format == JSONKey {
		format = "{{json .}}"
	}

	isTable := strings.HasPrefix(format, TableKey)
	if isTable {
		format = strings.TrimPrefix(format, TableKey)
		format = strings.TrimLeft(format, " ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)

	tmpl, err := Parse(format)
	if err != nil {
		return nil, err
	}

	w := &Writer{out: out, tmpl: tmpl}
	if isTable {
		// Same layout as Docker's tables: minimum cell width 10, three
		// spaces between columns.
		w.table = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w.header = header
	}
	return w, nil
}

// Write formats one row.
func (w *Writer) Write(row any) error {
	w.writeHeader()

	var buf bytes.Buffer
	if err := w.tmpl.Execute(&buf, row); err != nil {
		return err
	}
	buf.WriteByte('\n')

	_, err := w.output().Write(buf.Bytes())
	return err
}

// Flush writes the header when no row was written and aligns the table.
func (w *Writer) Flush() error {
	w.writeHeader()
	if w.table != nil {
		return w.table.Flush()
	}
	return nil
}

// writeHeader writes the column titles once. A template that cannot run
// against the titles (one calling a method with arguments) gets no header.
func (w *Writer) writeHeader() {
	if w.table == nil || w.wroteHeader {
		return
	}
	w.wroteHeader = true

	headerTmpl, err := w.tmpl.Clone()
	if err != nil {
		return
	}
	var buf bytes.Buffer
	if err := headerTmpl.Option("missingkey=zero").Execute(&buf, w.header); err != nil {
		return
	}
	buf.WriteByte('\n')
	_, _ = w.table.Write(buf.Bytes())
}

func (w *Writer) output() io.Writer {
	if w.table != nil {
		return w.table
	}
	return w.out
}

// MarshalMethods encodes the results of v's exported methods that take no
// arguments and return one value as a JSON object keyed by method name.
// Row types use it to implement json.Marshaler for --format json.
func MarshalMethods(v any) ([]byte, error) {
	value := reflect.ValueOf(v)
	fields := make(map[string]any)
	for i := range value.NumMethod() {
		method := value.Type().Method(i)
		if method.Name == "MarshalJSON" {
			continue
		}
		if method.Type.NumIn() != 1 || method.Type.NumOut() != 1 {
			continue
		}
		fields[method.Name] = value.Method(i).Call(nil)[0].Interface()
	}
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(fields); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
