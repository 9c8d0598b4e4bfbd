package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// boolValue parses a boolean query parameter the way Docker Engine does:
// absent, "", "0", "no", "false" and "none" are false, anything else is true.
func boolValue(q url.Values, key string) bool {
	switch strings.ToLower(strings.TrimSpace(q.Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	default:
		return true
	}
}

// boolValueOrDefault is boolValue, but returns def when key is absent or empty.
func boolValueOrDefault(q url.Values, key string, def bool) bool {
	if q.Get(key) == "" {
		return def
	}
	return boolValue(q, key)
}

// intValue parses an optional integer query parameter. ok is false when the
// parameter is absent or empty.
func intValue(q url.Values, key string) (n int, ok bool, err error) {
	s := q.Get(key)
	if s == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(s)
	if err != nil {
		return 0, false, invalidParameter(fmt.Sprintf("invalid value for %q: %q is not an integer", key, s))
	}
	return n, true, nil
}

// uintValue parses a required unsigned integer query parameter.
func uintValue(q url.Values, key string) (uint, error) {
	s := q.Get(key)
	n, err := strconv.ParseUint(s, 10, 0)
	if err != nil {
		return 0, invalidParameter(fmt.Sprintf("invalid value for %q: %q is not an unsigned integer", key, s))
	}
	return uint(n), nil
}

// parseFilters decodes the "filters" query parameter. The current format is
// {"key": {"value": true}}; API versions before 1.22 sent {"key": ["value"]},
// which is accepted as well. Values come back sorted.
func parseFilters(s string) (map[string][]string, error) {
	if s == "" {
		return nil, nil
	}

	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err == nil {
		filters := make(map[string][]string, len(sets))
		for key, values := range sets {
			list := make([]string, 0, len(values))
			for value, on := range values {
				if on {
					list = append(list, value)
				}
			}
			slices.Sort(list)
			filters[key] = list
		}
		return filters, nil
	}

	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err != nil {
		return nil, invalidParameter(fmt.Sprintf("invalid filter %q: %v", s, err))
	}
	for _, values := range lists {
		slices.Sort(values)
	}
	return lists, nil
}

// parseUnixTimestamp parses the "since" and "until" parameters: seconds since
// the Unix epoch with an optional fraction of up to nine digits, as the moby
// client sends them ("1700000000.123456789"). "" and "0" mean no bound and
// return the zero time.
func parseUnixTimestamp(key, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	invalid := invalidParameter(fmt.Sprintf("invalid value for %q: %q is not a Unix timestamp", key, s))

	secText, fracText, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil {
		return time.Time{}, invalid
	}

	var nsec int64
	if hasFrac {
		if fracText == "" || len(fracText) > 9 || strings.TrimLeft(fracText, "0123456789") != "" {
			return time.Time{}, invalid
		}
		nsec, _ = strconv.ParseInt(fracText+strings.Repeat("0", 9-len(fracText)), 10, 64)
		if strings.HasPrefix(secText, "-") {
			nsec = -nsec
		}
	}

	if sec == 0 && nsec == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, nsec), nil
}

// writeJSON sends v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return writeJSONBody(w, v)
}

// writeJSONBody writes v as one line of JSON, leaving "<" and ">" unescaped
// as Docker Engine does.
func writeJSONBody(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// flush sends buffered response data to the client. Writers that cannot
// flush are ignored: the data then goes out when the handler returns.
func flush(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
}

// decodeJSONBody decodes a JSON request body into v. The body must be JSON:
// a Content-Type other than application/json is rejected, a missing one is
// accepted because older clients send none.
func decodeJSONBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || mediaType != "application/json" {
			return invalidParameter(fmt.Sprintf("unsupported Content-Type header (%s): must be 'application/json'", ct))
		}
	}

	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return invalidParameter("invalid JSON: request body is empty")
		}
		return invalidParameter("invalid JSON: " + err.Error())
	}
	return nil
}
