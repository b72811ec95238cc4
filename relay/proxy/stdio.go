package proxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxMessage bounds one JSON-RPC message from either side: one line on
// stdin, one line of the server's SSE stream or JSON body.
const MaxMessage = 16 << 20

// ErrMessageTooLarge ends the stdio stream when a line exceeds MaxMessage.
var ErrMessageTooLarge = fmt.Errorf("proxy: a message is over %d MiB", MaxMessage>>20)

// scanLines reads newline-delimited messages of at most max bytes.
func scanLines(r io.Reader, max int) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), max+1)
	return sc
}

// scanErr maps the scanner's error: nil at the end of input.
func scanErr(sc *bufio.Scanner) error {
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return ErrMessageTooLarge
	}
	return sc.Err()
}

// writer writes messages to the client, one per line. It is safe for
// concurrent use; a failed write is sticky.
type writer struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (w *writer) send(m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	_, w.err = w.w.Write(append(b, '\n'))
	return w.err
}
