package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"

	"github.com/keyrelay/keyrelay/internal/lines"
)

// Serve runs the stdio protocol on in and out until in ends or ctx ends.
// Requests that need the network (tools/list, tools/call) run on their own
// goroutines; the rest are answered on the reading goroutine, in order.
// When in ends, the calls still running are cancelled and Serve returns
// once they have answered. When ctx ends first, Serve returns without
// waiting for in; the goroutine reading it ends when in does.
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ss := &session{srv: s, ctx: ctx, out: out, level: mcp.LoggingLevelError, inflight: map[string]context.CancelFunc{}}
	s.attach(ss)
	defer s.attach(nil)
	read := make(chan error, 1)
	go func() { read <- ss.read(lines.Limit(in, MaxMessage, ErrMessageTooLarge)) }()
	var err error
	select {
	case err = <-read:
	case <-ctx.Done():
	}
	cancel()
	ss.stop()
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// session is the state of one stdio connection.
type session struct {
	srv *Server
	ctx context.Context // ends with the connection

	wmu  sync.Mutex
	out  io.Writer
	werr error // sticky
	done bool  // Serve returned: write nothing more

	mu          sync.Mutex
	initialized bool             // initialize, or any 2026-07-28 request, was seen
	level       mcp.LoggingLevel // set by logging/setLevel (2025 era)
	inflight    map[string]context.CancelFunc
	stopped     bool
	wg          sync.WaitGroup // request goroutines
}

// read handles lines until in ends. A last line without a newline is not a
// complete message and is dropped.
func (ss *session) read(in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line, err = longLine(br, line)
		}
		if err != nil {
			return err
		}
		if ss.ctx.Err() != nil {
			return nil
		}
		ss.receive(line)
	}
}

// longLine reads the rest of a line longer than the reader's buffer.
func longLine(br *bufio.Reader, first []byte) ([]byte, error) {
	line := append([]byte(nil), first...)
	for {
		more, err := br.ReadSlice('\n')
		line = append(line, more...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// stop cancels and waits for the requests in flight, and ends writing.
func (ss *session) stop() {
	ss.mu.Lock()
	ss.stopped = true
	for _, cancel := range ss.inflight {
		cancel()
	}
	ss.mu.Unlock()
	ss.wg.Wait()
	ss.wmu.Lock()
	ss.done = true
	ss.wmu.Unlock()
}

// receive handles one line. line is only valid during the call.
func (ss *session) receive(line []byte) {
	var m rpcMessage
	if err := json.Unmarshal(line, &m); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			ss.send(fail(nil, codeParse, "Parse error"))
		} else {
			ss.send(fail(nil, codeParse, "Failed to parse message"))
		}
		return
	}
	switch {
	case m.JSONRPC != mcp.JSONRPCVersion:
		ss.send(fail(m.ID, codeInvalidRequest, "Invalid JSON-RPC version"))
	case isNull(m.ID):
		ss.notification(&m)
	case !isNull(m.Result):
		// A response to a request of ours: the server sends none.
	default:
		ss.request(&m)
	}
}

// notification handles a client notification: only notifications/cancelled
// does anything.
func (ss *session) notification(m *rpcMessage) {
	if !isNull(m.Params) && m.Params[0] != '{' {
		ss.send(fail(nil, codeParse, "Failed to parse notification"))
		return
	}
	if m.Method != mcp.MethodNotificationCancelled {
		return
	}
	var p params
	if json.Unmarshal(m.Params, &p) != nil || isNull(p.RequestID) {
		return
	}
	ss.mu.Lock()
	cancel := ss.inflight[idKey(p.RequestID)]
	delete(ss.inflight, idKey(p.RequestID))
	ss.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// spawn runs fn on its own goroutine with a context that
// notifications/cancelled for id, or the end of the session, cancels.
func (ss *session) spawn(id json.RawMessage, e era, fn func(ctx context.Context) *response) {
	ctx, cancel := context.WithCancel(withEra(ss.ctx, e))
	key := idKey(id)
	ss.mu.Lock()
	if ss.stopped {
		ss.mu.Unlock()
		cancel()
		return
	}
	ss.inflight[key] = cancel
	ss.wg.Add(1)
	ss.mu.Unlock()
	go func() {
		defer ss.wg.Done()
		defer func() {
			ss.mu.Lock()
			delete(ss.inflight, key)
			ss.mu.Unlock()
			cancel()
		}()
		ss.send(ss.recovered(id, ctx, fn))
	}()
}

// recovered runs fn, turning a panic into an internal error.
func (ss *session) recovered(id json.RawMessage, ctx context.Context, fn func(ctx context.Context) *response) (r *response) {
	defer func() {
		if p := recover(); p != nil {
			ss.srv.cfg.Logger.Error("panic in a request handler", "panic", p)
			r = fail(id, codeInternal, "internal error")
		}
	}()
	return fn(ctx)
}

// send writes one message, whole, on one line. Write errors are sticky
// and logged once.
func (ss *session) send(v any) {
	if v == nil {
		return
	}
	if r, ok := v.(*response); ok && r == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		ss.srv.cfg.Logger.Error("cannot encode a message to the client", "err", err)
		return
	}
	b = append(b, '\n')
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	if ss.werr != nil || ss.done {
		return
	}
	if _, ss.werr = ss.out.Write(b); ss.werr != nil {
		ss.srv.cfg.Logger.Warn("cannot write to the client", "err", ss.werr)
	}
}

// notify sends a notification when the session may get one: after
// initialize (or a 2026-07-28 request). Log messages also pass the level
// filter: the one set by logging/setLevel (default error), or, for a
// 2026-07-28 request, the level in its _meta (none: no log messages).
func (ss *session) notify(ctx context.Context, method string, p map[string]any) {
	ss.mu.Lock()
	ok, level := ss.initialized, ss.level
	ss.mu.Unlock()
	if !ok {
		return
	}
	if method == mcp.MethodNotificationMessage {
		if e, modern := eraFrom(ctx); modern {
			level = e.logLevel
		}
		msgLevel, _ := p["level"].(mcp.LoggingLevel)
		if s, isStr := p["level"].(string); isStr {
			msgLevel = mcp.LoggingLevel(s)
		}
		if level == "" || !msgLevel.ShouldSendTo(level) {
			return
		}
	}
	ss.send(notification{JSONRPC: mcp.JSONRPCVersion, Method: method, Params: p})
}

// initialize marks the session initialized, with the default log level.
func (ss *session) initialize(always bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if always || !ss.initialized {
		ss.initialized, ss.level = true, mcp.LoggingLevelError
	}
}

type eraKey struct{}

func withEra(ctx context.Context, e era) context.Context { return context.WithValue(ctx, eraKey{}, e) }

// eraFrom returns the era of the request ctx belongs to, and whether it is
// the 2026-07-28 era.
func eraFrom(ctx context.Context) (era, bool) {
	e, _ := ctx.Value(eraKey{}).(era)
	return e, e.modern
}
