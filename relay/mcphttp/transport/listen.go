package transport

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// Listen keeps the standalone GET stream open for the session's lifetime,
// for the server's own notifications and requests. It goes with the cached
// token only (the auth layer never signs in for a GET).
//
// A stream that ends or cannot be opened is reopened, with Last-Event-ID
// once the server has sent an event id, after a wait that starts at the
// server's retry time (else listenDelay) and doubles up to listenMax; a
// stream that delivers an event resets it. A refused token (it expired, and
// only a POST refreshes it) is one of these failures; a POST that goes
// through cuts the wait short. The first failure in a row is logged at
// Info, the rest at Debug. A 405 (no stream offered) or a 404 ends it: a
// lost session is found by the next POST.
//
// The channel it returns is closed once the first attempt has the
// server's answer (the stream is open, or refused), or the session ended:
// a server that sends its own messages on the stream as soon as a request
// comes (an elicitation during a tool call) drops them while no stream is
// open, so the caller waits for it before sending more.
func (s *Streamable) Listen() <-chan struct{} {
	opened := make(chan struct{})
	go s.listenLoop(opened)
	return opened
}

func (s *Streamable) listenLoop(opened chan struct{}) {
	defer func() {
		select {
		case <-opened:
		default:
			close(opened)
		}
	}()
	r := &sseReader{max: front.MaxMessage}
	failing := false
	for attempt := 1; s.ctx.Err() == nil; attempt++ {
		select {
		case <-s.wake: // a POST before this attempt says nothing about it
		default:
		}
		body, err := s.open(s.ctx, r.lastID)
		select {
		case <-opened:
		default:
			close(opened)
		}
		if err == nil {
			if failing {
				s.log.Info("the MCP server's event stream is open again")
				failing = false
			}
			r.reset(body)
			var n int
			if _, n, err = s.read(s.ctx, r, body, false); n > 0 {
				attempt = 1
			}
			s.log.Debug("the MCP server's event stream ended; reopening", "err", err)
		} else if !s.listenFailed(err, r, &failing) {
			return
		}
		first := s.listenDelay
		if r.hasRetry {
			first = max(r.retry, 10*time.Millisecond)
		}
		wait := Backoff(first, attempt, s.listenMax)
		var wake <-chan struct{}
		var ae *authhttp.AuthError
		if errors.As(err, &ae) {
			wake = s.wake
		}
		if !s.wait(s.ctx, wait, wake) {
			return
		}
	}
}

// listenFailed logs a failure to open the stream, and reports whether to
// try again.
func (s *Streamable) listenFailed(err error, r *sseReader, failing *bool) bool {
	var se *StatusError
	switch {
	case s.ctx.Err() != nil || errors.Is(err, ErrSessionGone):
		return false
	case errors.Is(err, errNoStream):
		s.log.Info("the MCP server offers no event stream for its own messages")
		return false
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		s.log.Info("the MCP server refused the event stream (404)")
		return false
	case errors.As(err, &se) && se.Status == http.StatusBadRequest && r.lastID != "":
		r.lastID = "" // the server does not know the id any more: open afresh
	}
	if *failing {
		s.log.Debug("could not open the MCP server's event stream", "err", err)
	} else {
		s.log.Info("could not open the MCP server's event stream; retrying with backoff", "err", err)
		*failing = true
	}
	return true
}
