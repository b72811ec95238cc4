package front

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// Config wires a Front.
type Config struct {
	Version string
	Logger  *slog.Logger
	// Describe, if set, answers initialize and server/discover without
	// wiring: the backend's tool API has fixed capabilities, and the
	// handshake then never waits for the vault or the policy.
	Describe func() Description
	// Wire builds the upstream, once, before the first request that needs
	// it. ctx ends with the session; c is the client. An error (a bad
	// configuration, a refusing policy, a vault that cannot open) does not
	// end the session: every request then answers with it, and tools/list
	// shows the keyrelay_status tool.
	Wire func(ctx context.Context, c Client) (Upstream, error)
}

// Front is the relay's MCP stdio server for one client.
type Front struct {
	cfg Config
}

// New builds the front. It makes no network call and opens nothing.
func New(cfg Config) *Front {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Front{cfg: cfg}
}

// Serve runs the protocol on in and out until in ends or ctx ends.
// Messages are read and checked in order on one goroutine, which answers
// the protocol's own requests at once; requests for the upstream run on
// goroutines of their own. When in ends, the requests still running are
// cancelled, and Serve returns once they have ended. When ctx ends first,
// Serve returns without waiting for in: the goroutine reading it ends
// when in does, or with the process.
func (f *Front) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &session{cfg: f.cfg, log: f.cfg.Logger, ctx: ctx, out: &writer{w: out, log: f.cfg.Logger},
		level: mcp.LoggingLevelError, inflight: map[string]*inflight{}, wired: make(chan struct{})}
	read := make(chan error, 1)
	go func() { read <- s.read(in) }()
	var err error
	select {
	case err = <-read:
	case <-ctx.Done():
	}
	cancel()
	s.stop()
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// session is the state of the one stdio connection.
type session struct {
	cfg Config
	log *slog.Logger
	ctx context.Context // ends with the connection
	out *writer

	wire    sync.Once
	up      Upstream
	wireErr error
	wired   chan struct{} // closed once wire has run

	asks asks

	mu          sync.Mutex
	initialized bool             // initialize, or any 2026-07-28 request, was seen
	level       mcp.LoggingLevel // logging/setLevel's, default error
	client      ClientState
	desc        *Description // the last one answered, for serverInfo
	inflight    map[string]*inflight
	stopped     bool
	wg          sync.WaitGroup // request goroutines
}

// inflight is one request running for the upstream.
type inflight struct {
	cancel    context.CancelFunc
	cancelled bool // by the client: nothing is answered
}

// read handles lines until in ends.
func (s *session) read(in io.Reader) error {
	r := newLineReader(in, MaxMessage)
	for {
		line, err := r.next()
		switch {
		case errors.Is(err, ErrMessageTooLarge):
			s.log.Warn("dropped a message over the size limit", "limit_mib", MaxMessage>>20)
			s.send(Fail(nil, mcp.CodeInvalidRequest, err.Error()))
			continue
		case err != nil:
			return err
		case s.ctx.Err() != nil:
			return nil
		}
		s.receive(line)
	}
}

// stop cancels and waits for the requests in flight, closes the upstream
// and ends writing.
func (s *session) stop() {
	s.mu.Lock()
	s.stopped = true
	for _, f := range s.inflight {
		f.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if up := s.upstream(); up != nil {
		up.Close()
	}
	s.out.close()
}

// upstream returns the upstream if it is wired, without wiring it.
func (s *session) upstream() Upstream {
	select {
	case <-s.wired:
		return s.up
	default:
		return nil
	}
}

// connect wires the upstream, once.
func (s *session) connect() (Upstream, error) {
	s.wire.Do(func() {
		defer close(s.wired)
		if s.cfg.Wire == nil {
			s.wireErr = errors.New("no upstream is configured")
			return
		}
		s.up, s.wireErr = s.cfg.Wire(s.ctx, s)
		if s.wireErr == nil && s.up == nil {
			s.wireErr = errors.New("no upstream is configured")
		}
	})
	return s.up, s.wireErr
}

// send writes one message; errors are the writer's (sticky, logged).
func (s *session) send(m *Message) { _ = s.out.send(m) }

// receive checks one line and hands the message on. line is valid only
// during the call.
func (s *session) receive(line []byte) {
	if len(bytesTrimSpace(line)) == 0 {
		return // a blank line is no message
	}
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		s.send(unreadable(line))
		return
	}
	switch {
	case m.JSONRPC != mcp.JSONRPCVersion:
		s.send(Fail(m.ID, mcp.CodeInvalidRequest, "Invalid JSON-RPC version"))
	case m.IsRequest():
		s.request(&m)
	case m.IsNotification():
		s.notification(&m)
	case m.HasID() && m.IsResponse():
		s.asks.answer(&m)
	case m.HasID():
		s.send(Fail(m.ID, mcp.CodeInvalidRequest, "Invalid Request: a request needs a method"))
	default:
		// No method and no id: an error response of the client's to a
		// message it could not read. Nothing to answer.
		s.log.Debug("the client sent a message with neither method nor id")
	}
}

// unreadable answers a line that is not a JSON-RPC message: -32700 when
// it is not JSON, -32600 when it is JSON of another shape (a batch, which
// MCP has not had since 2025-06-18, or a member of the wrong type).
func unreadable(line []byte) *Message {
	switch {
	case !json.Valid(line):
		return Fail(nil, mcp.CodeParseError, "Parse error")
	case bytesTrimSpace(line)[0] == '[':
		return Fail(nil, mcp.CodeInvalidRequest, "Invalid Request: batches are not supported")
	}
	return Fail(nil, mcp.CodeInvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message")
}

func bytesTrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
