// Package format renders command output: Go templates given with --format,
// aligned tables, inspect output and human-readable times and sizes.
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// Funcs returns the functions available in every --format template. The
// names and behaviour follow Docker's CLI so that existing templates work.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json":     marshalJSON,
		"split":    strings.Split,
		"join":     strings.Join,
		"title":    title,
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"pad":      pad,
		"truncate": truncate,
		"println":  fmt.Sprintln,
	}
}

// Parse parses a --format template with Funcs.
func Parse(text string) (*template.Template, error) {
	tmpl, err := template.New("").Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid format template %q: %w", text, err)
	}
	return tmpl, nil
}

// marshalJSON encodes v without HTML escaping and without the trailing
// newline of json.Encoder.
func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	encoder := json.NewEncoder(&buf)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// title upper-cases the first letter of each space-separated word.
func title(s string) string {
	var b strings.Builder
	startOfWord := true
	for _, r := range s {
		if startOfWord {
			b.WriteRune(unicode.ToUpper(r))
		} else {
			b.WriteRune(r)
		}
		startOfWord = unicode.IsSpace(r)
	}
	return b.String()
}

// pad surrounds s with prefix spaces before and suffix spaces after.
func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if n < 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
