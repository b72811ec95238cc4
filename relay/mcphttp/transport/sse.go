package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/keyrelay/keyrelay/relay/front"
)

// event is one dispatched server-sent event (the WHATWG SSE format).
type event struct {
	name string // "message" when the stream named none
	data []byte // the data lines joined with "\n"
	id   string // the last event ID when the event was dispatched
}

// sseReader parses an event stream of untrusted input. A line, and the
// data of one event, are capped at max bytes (front.ErrMessageTooLarge). Lines
// end with CRLF, LF or CR; comments and unknown fields are skipped.
//
// It keeps what a client needs to resume the stream: lastID, the last
// event ID set when an event was dispatched (an event with no data counts,
// which is how a server primes a client to resume), and retry, the
// reconnection time the server asked for (hasRetry).
type sseReader struct {
	sc       *bufio.Scanner
	max      int
	partial  bool // the stream ended in the middle of a line
	started  bool // a line has been read (for the BOM)
	lastID   string
	retry    time.Duration
	hasRetry bool
}

func newSSEReader(r io.Reader, max int) *sseReader {
	s := &sseReader{max: max}
	s.reset(r)
	return s
}

// reset reads a new stream (a resumed one), keeping lastID and retry.
func (s *sseReader) reset(r io.Reader) {
	s.sc = bufio.NewScanner(r)
	s.sc.Buffer(make([]byte, 0, 4<<10), s.max+len("data: \r\n"))
	s.sc.Split(s.splitLines)
	s.partial, s.started = false, false
}

// next returns the next event that has data. At the end of the stream it
// returns io.EOF; io.ErrUnexpectedEOF if the stream ends in the middle of
// a line (the unfinished event is dropped); the read error if it breaks
// off. An event whose lines are all complete but which misses the final
// blank line is dispatched at the end of the stream, as mcp-go did.
func (s *sseReader) next() (event, error) {
	var (
		name  string
		data  bytes.Buffer
		id    = s.lastID
		lines int
	)
	dispatch := func() (event, bool) {
		s.lastID = id
		if lines == 0 {
			name = ""
			return event{}, false
		}
		if name == "" {
			name = "message"
		}
		ev := event{name: name, data: bytes.TrimSuffix(data.Bytes(), []byte("\n")), id: s.lastID}
		return ev, true
	}
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if !s.started {
			s.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if s.partial {
			return event{}, io.ErrUnexpectedEOF
		}
		if len(line) == 0 {
			if ev, ok := dispatch(); ok {
				return ev, nil
			}
			continue
		}
		field, value := splitField(line)
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if data.Len()+len(value)+1 > s.max {
				return event{}, front.ErrMessageTooLarge
			}
			data.Write(value)
			data.WriteByte('\n')
			lines++
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				id = string(value)
			}
		case "retry":
			s.setRetry(value)
		}
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return event{}, front.ErrMessageTooLarge
		}
		return event{}, err
	}
	if ev, ok := dispatch(); ok {
		return ev, nil
	}
	return event{}, io.EOF
}

// splitField splits "field: value" (one space after the colon is not part
// of the value); a comment (":...") has an empty field name.
func splitField(line []byte) (field, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	field, value = line[:i], line[i+1:]
	return field, bytes.TrimPrefix(value, []byte(" "))
}

// setRetry takes a reconnection time of ASCII digits only, in ms.
func (s *sseReader) setRetry(value []byte) {
	if len(value) == 0 || len(value) > 9 || len(bytes.Trim(value, "0123456789")) != 0 {
		return
	}
	ms, err := strconv.Atoi(string(value))
	if err != nil {
		return
	}
	s.retry, s.hasRetry = time.Duration(ms)*time.Millisecond, true
}

// splitLines is a bufio.SplitFunc for SSE lines ending in CRLF, LF or CR.
// A last line with no end is returned, and marks the stream partial.
func (s *sseReader) splitLines(buf []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexAny(buf, "\r\n")
	switch {
	case i >= 0 && buf[i] == '\n':
		return i + 1, buf[:i], nil
	case i >= 0 && i+1 < len(buf):
		if buf[i+1] == '\n' {
			return i + 2, buf[:i], nil
		}
		return i + 1, buf[:i], nil
	case i >= 0 && atEOF:
		return i + 1, buf[:i], nil
	case i >= 0:
		return 0, nil, nil // a CR at the end: wait for a possible LF
	case atEOF && len(buf) > 0:
		s.partial = true
		return len(buf), buf, nil
	}
	return 0, nil, nil
}
