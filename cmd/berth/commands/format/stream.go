package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
	"golang.org/x/term"
)

// defaultTerminalWidth is the line width assumed when the size of the
// terminal cannot be read.
const defaultTerminalWidth = 200

// streamMessage is one message of a JSON message stream. On top of
// jsonstream.Message it decodes the "progress" text that older daemons
// send alongside "progressDetail" (the Engine API 1.17 documentation shows
// both) and the "error" text sent alongside "errorDetail".
type streamMessage struct {
	jsonstream.Message
	ProgressText string `json:"progress,omitempty"`
	ErrorText    string `json:"error,omitempty"`
}

// DisplayJSONStream prints a stream of JSON messages such as the output of
// POST /build and POST /images/create as plain lines, the way
// DisplayJSONStreamTo prints it to a writer that is not a terminal.
func DisplayJSONStream(in io.Reader, out io.Writer, onAux func(json.RawMessage)) error {
	return DisplayJSONStreamTo(in, out, -1, false, onAux)
}

// DisplayJSONStreamTo prints a stream of JSON messages such as the output
// of POST /images/create, POST /images/{name}/push, POST /build, and
// POST /images/load. It prints "stream" text verbatim and "status" lines
// with their ID. Messages with an "aux" field go to onAux instead, when it
// is not nil. It returns the message of the first "errorDetail" (or
// "error") as an error, without printing the rest of the stream.
//
// When isTerminal is true, out is the terminal behind terminalFd, and every
// ID gets one line with a progress bar that later messages for the ID
// redraw in place. Progress without an ID, such as that of an import from
// a URL, is redrawn on the current line. Bars fit the terminal width.
// Otherwise a status of an ID is printed when it differs from the last one
// printed for that ID, and progress updates are skipped.
func DisplayJSONStreamTo(in io.Reader, out io.Writer, terminalFd int, isTerminal bool, onAux func(json.RawMessage)) error {
	width := func() int {
		columns, _, err := term.GetSize(terminalFd)
		if err != nil || columns <= 0 {
			return defaultTerminalWidth
		}
		return columns
	}
	return displayJSONStream(in, newStreamPrinter(out, isTerminal, width), onAux)
}

func displayJSONStream(in io.Reader, printer *streamPrinter, onAux func(json.RawMessage)) error {
	decoder := json.NewDecoder(in)
	for {
		var message streamMessage
		err := decoder.Decode(&message)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read daemon output: %w", err)
		}

		if message.Error != nil && message.Error.Message != "" {
			return errors.New(message.Error.Message)
		}
		if message.ErrorText != "" {
			return errors.New(message.ErrorText)
		}
		if message.Aux != nil {
			if onAux != nil {
				onAux(*message.Aux)
			}
			continue
		}
		printer.print(message)
	}
}

// streamPrinter writes the messages of one stream. On a terminal it keeps
// a block of one line per ID directly above the cursor, which sits at the
// start of the line below the block.
type streamPrinter struct {
	out        io.Writer
	isTerminal bool
	// width returns the terminal width in columns. It is read for every
	// line, so a resized terminal gets bars of the new width.
	width func() int

	// lineByID maps an ID to its line in the block, counted from 0 at
	// the top. It is reset by any line that is not about an ID.
	lineByID map[string]int
	// lastStatus is the status last printed for each ID when out is not
	// a terminal. It is reset by any line that is not about an ID, so a
	// second pull in one stream prints its statuses again.
	lastStatus map[string]string
	// atLineStart reports whether the cursor is at the start of an empty
	// line, which is false after text without a final newline and after
	// progress without an ID.
	atLineStart bool
	// inlineProgress reports whether the current line contains progress
	// without an ID, which the next such message redraws.
	inlineProgress bool
}

func newStreamPrinter(out io.Writer, isTerminal bool, width func() int) *streamPrinter {
	return &streamPrinter{
		out:         out,
		isTerminal:  isTerminal,
		width:       width,
		lineByID:    map[string]int{},
		lastStatus:  map[string]string{},
		atLineStart: true,
	}
}

func (p *streamPrinter) print(message streamMessage) {
	if p.isTerminal {
		p.printTerminal(message)
	} else {
		p.printPlain(message)
	}
}

// printPlain skips repeated statuses of an ID and progress updates, which
// only make sense as a bar redrawn in place.
func (p *streamPrinter) printPlain(message streamMessage) {
	switch {
	case message.Stream != "":
		p.lastStatus = map[string]string{}
		fmt.Fprint(p.out, message.Stream)
	case message.Status != "":
		if hasProgress(message) {
			return
		}
		if message.ID == "" {
			p.lastStatus = map[string]string{}
			fmt.Fprintln(p.out, message.Status)
			return
		}
		if p.lastStatus[message.ID] == message.Status {
			return
		}
		p.lastStatus[message.ID] = message.Status
		fmt.Fprintf(p.out, "%s: %s\n", message.ID, message.Status)
	}
}

// printTerminal draws a message with an ID on that ID's line, and prints
// any other message below the block of ID lines.
//
// A message starts a line for its ID when it carries progress fields: the
// daemon sends an empty "progressDetail" with every per-layer status, and
// none with lines such as "latest: Pulling from library/busybox", which
// use the tag as ID. Once an ID has a line, all its messages redraw it.
func (p *streamPrinter) printTerminal(message streamMessage) {
	if message.Stream == "" && message.ID == "" && hasProgress(message) {
		p.printInlineProgress(message)
		return
	}
	if message.Stream != "" || message.ID == "" {
		p.printBelowBlock(message)
		return
	}
	line, tracked := p.lineByID[message.ID]
	if !tracked && message.Progress == nil && message.ProgressText == "" {
		p.printBelowBlock(message)
		return
	}

	text := progressLine(message, p.width())
	if !tracked {
		if !p.atLineStart {
			fmt.Fprint(p.out, "\n")
		}
		p.lineByID[message.ID] = len(p.lineByID)
		fmt.Fprintf(p.out, "%s%s\n", ansiEraseLine, text)
		p.atLineStart = true
		p.inlineProgress = false
		return
	}

	// Move up to the ID's line, redraw it, and return to the start of
	// the line below the block.
	// NOTE: a block taller than the terminal has scrolled its top lines
	// away, and the cursor stops at the top row, so those IDs are drawn
	// over the wrong lines.
	linesUp := len(p.lineByID) - line
	fmt.Fprintf(p.out, ansiCursorUp+"%s%s\r"+ansiCursorDown, linesUp, ansiEraseLine, text, linesUp)
}

// printBelowBlock prints a message that is not drawn on an ID's line. The
// ID lines above stay as they are and are no longer redrawn, so a later
// message for one of these IDs starts a new line.
//
// An empty message, which the Docker daemon sends after the last update
// of some progress, only ends a line of progress without an ID.
func (p *streamPrinter) printBelowBlock(message streamMessage) {
	var text string
	switch {
	case message.Stream != "":
		text = message.Stream
	case message.Status != "" && message.ID != "":
		text = message.ID + ": " + message.Status + "\n"
	case message.Status != "":
		text = message.Status + "\n"
	}

	if p.inlineProgress {
		// Keep the last progress line and start below it.
		fmt.Fprint(p.out, "\n")
		p.inlineProgress = false
		p.atLineStart = true
	}
	if text == "" {
		return
	}
	p.lineByID = map[string]int{}
	fmt.Fprint(p.out, text)
	p.atLineStart = text[len(text)-1] == '\n'
}

// printInlineProgress draws progress without an ID over the current line,
// below the block of ID lines, and leaves the cursor on that line.
func (p *streamPrinter) printInlineProgress(message streamMessage) {
	p.lineByID = map[string]int{}
	if !p.atLineStart && !p.inlineProgress {
		fmt.Fprint(p.out, "\n")
	}
	fmt.Fprintf(p.out, "%s%s\r", ansiEraseLine, progressLine(message, p.width()))
	p.atLineStart = false
	p.inlineProgress = true
}

// hasProgress reports whether a message is a progress update rather than
// a change of status.
func hasProgress(message streamMessage) bool {
	if message.ProgressText != "" {
		return true
	}
	return message.Progress != nil && (message.Progress.Current > 0 || message.Progress.Total > 0)
}
