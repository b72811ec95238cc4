package cli

import (
	"errors"
	"fmt"
	"io"
)

// Report writes err to stderr as `relay: error: ...` and its hint as
// `relay: hint: ...`, and returns the exit code (Classify). An *Error
// with no Err writes its hint only. A nil err writes nothing: ExitOK.
func Report(stderr io.Writer, err error, cmd string) int {
	code, hint := Classify(err, cmd)
	if err == nil {
		return code
	}
	if e, ok := errors.AsType[*Error](err); !ok || e.Err != nil {
		fmt.Fprintf(stderr, "relay: error: %v\n", err)
	}
	if hint != "" {
		fmt.Fprintf(stderr, "relay: hint: %s\n", hint)
	}
	return code
}
