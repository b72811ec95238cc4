// Package helptext lays out the help that `relay help` and `backend help`
// print: a name, then its text indented below it and wrapped at about 80
// columns. It holds no text of its own.
package helptext

import (
	"fmt"
	"io"
	"strings"
)

// indent is where the text under a name starts.
const indent = "        "

// Item writes "  name", then text indented below it, wrapped at about 80
// columns.
func Item(w io.Writer, name, text string) {
	fmt.Fprintf(w, "  %s\n", name)
	Wrap(w, text)
}

// Wrap writes text indented by 8 spaces, wrapped at about 80 columns; a
// word longer than a line stands on a line of its own.
func Wrap(w io.Writer, text string) {
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(indent)+len(line)+1+len(word) > 80 {
			fmt.Fprintln(w, indent+line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(w, indent+line)
}
