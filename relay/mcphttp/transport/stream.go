package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// await reads a POST's event stream until the response, passing the
// server's notifications and requests on in order. A stream that ends or
// breaks before the response, after an event id, is resumed with a GET
// carrying Last-Event-ID (the 2025-11-25 resumability), after the
// server's retry time or resumeDelay, doubling while attempts deliver
// nothing.
func (s *Streamable) await(ctx context.Context, body io.ReadCloser) (*front.Message, error) {
	r := newSSEReader(body, front.MaxMessage)
	failures := 0
	for {
		resp, n, err := s.read(ctx, r, body, true)
		switch {
		case resp != nil:
			return resp, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case r.lastID == "" || s.IsModern(): // 2026-07-28 streams are not resumable
			return nil, fmt.Errorf("the MCP server's event stream ended before the response: %w", noEOF(err))
		}
		if n > 0 {
			failures = 0
		}
		s.log.Debug("the MCP server's event stream ended before the response; resuming", "err", err)
		for body = nil; body == nil; {
			if failures++; failures > maxResumes {
				return nil, fmt.Errorf("the MCP server's event stream ended before the response and could not be resumed: %w", noEOF(err))
			}
			if !s.wait(ctx, Backoff(s.resumeWait(r), failures, s.listenMax), nil) {
				return nil, ctx.Err()
			}
			if body, err = s.open(ctx, r.lastID); err != nil && !retryable(err) {
				return nil, fmt.Errorf("could not resume the MCP server's event stream: %w", err)
			}
		}
		r.reset(body)
	}
}

func (s *Streamable) resumeWait(r *sseReader) time.Duration {
	if r.hasRetry {
		return max(r.retry, 10*time.Millisecond)
	}
	return s.resumeDelay
}

// Backoff doubles d for each attempt after the first, up to most.
func Backoff(d time.Duration, attempt int, most time.Duration) time.Duration {
	for i := 1; i < attempt && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// retryable reports whether opening a stream may work later.
func retryable(err error) bool {
	var se *StatusError
	if errors.Is(err, errNoStream) || errors.Is(err, ErrSessionGone) || errors.Is(err, context.Canceled) {
		return false
	}
	return !errors.As(err, &se) || se.Status >= 500 || se.Status == http.StatusTooManyRequests
}

func noEOF(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// read dispatches the events of one stream until it ends, or, if reply,
// until a response, which it returns. n counts the events read.
func (s *Streamable) read(ctx context.Context, r *sseReader, body io.ReadCloser, reply bool) (*front.Message, int, error) {
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer func() { stop(); body.Close() }()
	for n := 0; ; n++ {
		ev, err := r.next()
		if err != nil {
			return nil, n, err
		}
		if m := s.dispatch(ctx, ev.data); m != nil {
			if reply {
				return m, n + 1, nil
			}
			s.log.Debug("skipped a response on the MCP server's event stream")
		}
	}
}

// dispatch handles one message from the server, read on a stream of ctx,
// and returns it if it is a response.
func (s *Streamable) dispatch(ctx context.Context, data []byte) *front.Message {
	var m front.Message
	if json.Unmarshal(data, &m) != nil {
		s.log.Debug("skipped an event that is not a JSON-RPC message", "bytes", len(data))
		return nil
	}
	m.JSONRPC = mcp.JSONRPCVersion
	switch {
	case m.IsRequest():
		s.answer(ctx, &m)
	case m.IsNotification():
		s.notified(&m)
	case m.IsResponse():
		return &m
	}
	return nil
}

// notified passes a notification on; a notifications/cancelled for a
// server request being answered ends its wait instead.
func (s *Streamable) notified(m *front.Message) {
	if m.Method == mcp.MethodNotificationCancelled {
		var c struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		_ = json.Unmarshal(m.Params, &c)
		s.mu.Lock()
		cancel := s.asks[front.IDKey(c.RequestID)]
		s.mu.Unlock()
		if cancel != nil {
			cancel()
			return
		}
	}
	s.h.Note(m)
}

// MaxServerRequests bounds the server's requests being answered at once in
// one session (P2): a server that sends requests faster than the client
// answers them, or that never reads the answers, cannot grow the relay.
// Past it, a request is dropped, unanswered, and logged once.
const MaxServerRequests = 64

// maxAnswerPOSTs bounds the answers being POSTed at once.
const maxAnswerPOSTs = 8

// answer runs a server request in the background and POSTs the response,
// unless the server cancelled it or the session ended. It keeps the values
// of the stream's context (a call's sign-in UI), not its end: the answer
// may outlive the stream.
func (s *Streamable) answer(stream context.Context, m *front.Message) {
	k := front.IDKey(m.ID)
	s.mu.Lock()
	if _, dup := s.asks[k]; dup || len(s.asks) >= MaxServerRequests {
		first := !s.flooded
		s.flooded = true
		s.mu.Unlock()
		if first {
			s.log.Warn("the MCP server sends more requests than keyrelay answers at once; dropping the excess", "limit", MaxServerRequests)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(stream))
	stop := context.AfterFunc(s.ctx, cancel)
	s.asks[k] = cancel
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.asks, k)
			s.mu.Unlock()
			stop()
			cancel()
		}()
		resp, err := s.h.Ask(ctx, m)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			resp = front.Fail(m.ID, mcp.CodeInternalError, front.Scrub(err.Error()))
		}
		select {
		case s.posting <- struct{}{}:
			defer func() { <-s.posting }()
		case <-ctx.Done():
			return
		}
		if err := s.Send(ctx, resp); err != nil {
			s.log.Debug("could not answer the MCP server's request", "method", front.Scrub(m.Method), "err", err)
		}
	}()
}

// open opens a GET event stream, resuming after lastID if it is set.
func (s *Streamable) open(ctx context.Context, lastID string) (io.ReadCloser, error) {
	req, err := s.request(ctx, http.MethodGet, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusMethodNotAllowed:
		drain(resp)
		return nil, errNoStream
	case resp.StatusCode != http.StatusOK:
		drain(resp)
		return nil, &StatusError{Status: resp.StatusCode}
	case mediaType(resp) != "text/event-stream":
		resp.Body.Close()
		return nil, fmt.Errorf("the MCP server's event stream has content type %q", front.Scrub(resp.Header.Get("Content-Type")))
	}
	return resp.Body, nil
}
