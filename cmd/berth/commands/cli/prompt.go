package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Confirm prints message followed by " [y/N] " to out and reads one line
// from in. It returns true only for "y" or "Y", so an empty line or the end
// of the input declines, as in Docker's CLI.
func Confirm(in io.Reader, out io.Writer, message string) bool {
	fmt.Fprint(out, message+" [y/N] ")
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && answer == "" {
		// Nothing to read: end the prompt's line before the next output.
		fmt.Fprintln(out)
		return false
	}
	answer = strings.TrimSpace(answer)
	return answer == "y" || answer == "Y"
}
