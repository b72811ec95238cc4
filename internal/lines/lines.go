// Package lines bounds the lines of newline-delimited input (JSON-RPC over
// stdio, event streams), so that a peer sending an endless line cannot make
// a reader that buffers whole lines grow without bound.
package lines

import (
	"bytes"
	"io"
)

// Limit returns a reader that passes r through and fails with tooLong once
// a line grows past max bytes (the newline not counted), wherever r's reads
// split the input.
func Limit(r io.Reader, max int, tooLong error) io.Reader {
	return &limiter{r: r, max: max, err: tooLong}
}

type limiter struct {
	r   io.Reader
	max int
	n   int // bytes since the last newline
	err error
}

func (l *limiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	chunk := p[:n]
	for {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			l.n += len(chunk)
			break
		}
		if l.n+i > l.max {
			return 0, l.err
		}
		l.n, chunk = 0, chunk[i+1:]
	}
	if l.n > l.max {
		return 0, l.err
	}
	return n, err
}
