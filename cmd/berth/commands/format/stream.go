package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
)

// DisplayJSONStream prints a stream of JSON messages such as the output of
// POST /build and POST /images/create: "stream" text verbatim, "status"
// lines with their ID, and nothing for progress updates. Messages with an
// "aux" field go to onAux instead, when it is not nil. It returns the
// message of the first "errorDetail" as an error.
func DisplayJSONStream(in io.Reader, out io.Writer, onAux func(json.RawMessage)) error {
	decoder := json.NewDecoder(in)
	for {
		var message jsonstream.Message
		err := decoder.Decode(&message)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read daemon output: %w", err)
		}

		if message.Error != nil {
			return errors.New(message.Error.Message)
		}
		if message.Aux != nil {
			if onAux != nil {
				onAux(*message.Aux)
			}
			continue
		}
		displayMessage(out, message)
	}
}

func displayMessage(out io.Writer, message jsonstream.Message) {
	switch {
	case message.Stream != "":
		fmt.Fprint(out, message.Stream)
	case message.Status != "":
		if message.Progress != nil && (message.Progress.Current > 0 || message.Progress.Total > 0) {
			// Progress bars need a terminal; plain output skips them.
			return
		}
		if message.ID != "" {
			fmt.Fprintf(out, "%s: ", message.ID)
		}
		fmt.Fprintln(out, message.Status)
	}
}
