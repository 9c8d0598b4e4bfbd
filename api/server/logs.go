package server

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types"

	"github.com/berth-engine/berth/api/version"
	"github.com/berth-engine/berth/internal/log"
)

// logTimestampFormat is RFC 3339 with exactly nine fractional digits, which
// keeps the columns of "docker logs --timestamps" aligned. Docker Engine
// uses the same format.
const logTimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// parseTail parses the "tail" parameter. Like Docker Engine, "all", "" and
// anything that is not a non-negative integer mean every line (-1).
func parseTail(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// getContainerLogs streams a container's log: multiplexed stdcopy frames
// unless the container has a TTY, in which case the lines go out as they
// are. With timestamps each line starts with its time and a space.
//
// The response headers go out with the first line, so an error the backend
// returns before that still becomes an HTTP status. With follow they go out
// at once, because the client waits for them before it reads.
func (s *Server) getContainerLogs(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	ctx := r.Context()
	id := vars["id"]
	q := r.URL.Query()

	opts := LogsOptions{
		Stdout:     boolValue(q, "stdout"),
		Stderr:     boolValue(q, "stderr"),
		Follow:     boolValue(q, "follow"),
		Timestamps: boolValue(q, "timestamps"),
		Tail:       parseTail(q.Get("tail")),
	}
	if !opts.Stdout && !opts.Stderr {
		return invalidParameter("Bad parameters: you must choose at least one stream")
	}
	var err error
	if opts.Since, err = parseUnixTimestamp("since", q.Get("since")); err != nil {
		return err
	}
	if opts.Until, err = parseUnixTimestamp("until", q.Get("until")); err != nil {
		return err
	}

	tty, err := s.backend.ContainerTTY(ctx, id)
	if err != nil {
		return err
	}

	if opts.Follow {
		var cancel context.CancelFunc
		ctx, cancel = s.streamContext(ctx)
		defer cancel()
	}

	mediaType := types.MediaTypeRawStream
	if !tty && version.FromContext(ctx).AtLeast(version.Version{Major: 1, Minor: 42}) {
		mediaType = types.MediaTypeMultiplexedStream
	}
	started := false
	start := func() {
		started = true
		w.Header().Set("Content-Type", mediaType)
		w.WriteHeader(http.StatusOK)
		flush(w)
	}
	if opts.Follow {
		start()
	}

	var stdout, stderr io.Writer = w, w
	if !tty {
		stdout = newStdWriter(w, stdcopy.Stdout)
		stderr = newStdWriter(w, stdcopy.Stderr)
	}

	err = s.backend.ContainerLogs(ctx, id, opts, func(m LogMessage) error {
		dst := stdout
		switch {
		case m.Stream == "stderr" && opts.Stderr:
			dst = stderr
		case m.Stream == "stdout" && opts.Stdout:
		default:
			return nil
		}
		if !started {
			start()
		}

		line := m.Line
		if opts.Timestamps {
			line = append([]byte(m.Time.UTC().Format(logTimestampFormat)+" "), line...)
		}
		if _, err := dst.Write(line); err != nil {
			return err
		}
		if opts.Follow {
			flush(w)
		}
		return nil
	})

	switch {
	case err != nil && !started:
		return err
	case err != nil && ctx.Err() == nil:
		log.FromContext(ctx).Error("log stream failed", log.KeyContainer, id, log.Err(err))
		if !tty {
			_, _ = newStdWriter(w, stdcopy.Systemerr).Write([]byte(errorMessage(err)))
		}
	case !started:
		start()
	}
	return nil
}
