package format

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/moby/moby/api/types/jsonstream"
)

// ANSI escape sequences (ECMA-48) used to redraw the line of an ID.
const (
	ansiEraseLine  = "\x1b[2K"
	ansiCursorUp   = "\x1b[%dA"
	ansiCursorDown = "\x1b[%dB"
)

const (
	// maxBarCells and minBarCells bound the cells inside the brackets of
	// a progress bar. A line too narrow for minBarCells shows no bar.
	maxBarCells = 50
	minBarCells = 10
	// countWidth is the width the current count is right-aligned to, so
	// that the counts of a redrawn line do not shift as they grow. Size
	// returns at most 6 characters, such as "1.23MB", unless a count
	// rounds up to 1000 of a unit, such as "1e+03kB".
	countWidth = 6
)

// progressLine returns the line drawn for a message on a terminal of the
// given width: "ID: Status", or "Status" without an ID, then the daemon's
// "progress" text or a bar drawn from "progressDetail". The line is cut to leave the
// last column empty, because a line that fills the terminal wraps on some
// terminals and moves the lines that the cursor movement counts on.
func progressLine(message streamMessage, width int) string {
	line := message.Status
	if message.ID != "" {
		line = message.ID + ": " + line
	}
	switch {
	case message.ProgressText != "":
		line += " " + message.ProgressText
	case message.Progress != nil:
		available := width - 1 - utf8.RuneCountInString(line) - 1
		if detail := renderProgress(*message.Progress, available); detail != "" {
			line += " " + detail
		}
	}
	return Ellipsis(line, max(width-1, 1))
}

// renderProgress returns a bar and counts such as
// "[=====>     ]  1.2MB/4.5MB" that fit in width columns where possible,
// or "" when the message has no counts. The bar is left out when the width
// leaves room for fewer than minBarCells cells or the total is unknown.
func renderProgress(progress jsonstream.Progress, width int) string {
	if progress.Current <= 0 && progress.Total <= 0 {
		return ""
	}
	counts := renderCounts(progress)
	if progress.Total <= 0 {
		return counts
	}

	// The bar takes its cells plus "[" and "]", and a space before the
	// counts when there are counts.
	cells := width - 2
	if counts != "" {
		cells -= 1 + len(counts)
	}
	cells = min(cells, maxBarCells)
	if cells < minBarCells {
		return counts
	}
	bar := "[" + renderBar(progress.Current, progress.Total, cells) + "]"
	if counts == "" {
		return bar
	}
	return bar + " " + counts
}

// renderBar returns the cells of a bar: "=" for the part done, then ">"
// and spaces until the bar is full.
func renderBar(current, total int64, cells int) string {
	filled := int(float64(current) / float64(total) * float64(cells))
	if filled >= cells {
		return strings.Repeat("=", cells)
	}
	filled = max(filled, 0)
	return strings.Repeat("=", filled) + ">" + strings.Repeat(" ", cells-filled-1)
}

// renderCounts returns "current/total" in human sizes, or in the message's
// units when it names them. A current count past the total is shown alone,
// because the total is then wrong.
func renderCounts(progress jsonstream.Progress) string {
	if progress.HideCounts {
		return ""
	}
	showTotal := progress.Total > 0 && progress.Current <= progress.Total
	if progress.Units != "" {
		if showTotal {
			return fmt.Sprintf("%d/%d %s", progress.Current, progress.Total, progress.Units)
		}
		return fmt.Sprintf("%d %s", progress.Current, progress.Units)
	}
	current := fmt.Sprintf("%*s", countWidth, Size(progress.Current))
	if showTotal {
		return current + "/" + Size(progress.Total)
	}
	return current
}
