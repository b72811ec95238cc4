package front

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/signin"
)

const instructions = "keyrelay forwards these tools with an OAuth sign-in. When a tool needs a sign-in, " +
	"a browser opens; if it cannot, the result contains the URL to open."

// request answers one client request: the protocol's own at once, the
// rest on a goroutine of their own, through the upstream.
func (s *session) request(m *Message) {
	if strings.HasPrefix(m.Method, mcp.NotificationPrefix) {
		s.send(MethodNotFound(m)) // a notification with an id is a request for a method nobody has
		return
	}
	if !isNull(m.Params) && m.Params[0] != '{' {
		s.send(Fail(m.ID, mcp.CodeInvalidParams, "Invalid params: params must be an object"))
		return
	}
	era, bad := eraOf(m)
	if bad != nil {
		s.send(bad)
		return
	}
	if era.Modern {
		s.observe(m.Params, era)
	}
	switch m.Method {
	case mcp.MethodInitialize:
		if era.Modern {
			s.send(Removed(m))
			return
		}
		s.initialize(m.Params)
		s.describe(m, era)
	case mcp.MethodServerDiscover:
		if !era.Modern {
			s.send(requiresModern(m))
			return
		}
		s.describe(m, era)
	case mcp.MethodPing:
		if era.Modern {
			s.send(Removed(m))
			return
		}
		s.send(Result(m.ID, json.RawMessage(`{}`)))
	case mcp.MethodSetLevel:
		if era.Modern {
			s.send(Removed(m))
			return
		}
		if bad := s.setLevel(m); bad != nil {
			s.send(bad)
			return
		}
		s.forward(m, era)
	case mcp.MethodSubscriptionsListen:
		if !era.Modern {
			s.send(requiresModern(m))
			return
		}
		s.forward(m, era)
	default:
		s.forward(m, era)
	}
}

// forward runs m at the upstream on a goroutine of its own, and answers
// with what it returns. A request the client cancelled gets no answer; nor
// does one that the end of the session cancelled and that failed for it.
func (s *session) forward(m *Message, era Era) {
	s.spawn(m.ID, era, func(ctx context.Context) *Message {
		up, err := s.connect()
		if err != nil {
			return s.configAnswer(m, era, err)
		}
		ui := signin.New(s.Notify, era.progress)
		defer ui.Stop()
		resp, err := up.Request(signin.NewContext(ctx, ui), &Call{ID: m.ID, Method: m.Method, Params: m.Params, Era: era})
		switch {
		case err != nil && ctx.Err() != nil:
			s.log.Debug("request ended with its cancellation", "method", Scrub(m.Method))
			return nil
		case err != nil:
			s.log.Warn("request failed", "method", Scrub(m.Method), "err", err)
			return s.failed(m, era, Text(err))
		case resp == nil:
			return nil
		case resp.Error != nil:
			return &Message{JSONRPC: mcp.JSONRPCVersion, ID: m.ID, Error: resp.Error}
		}
		return Result(m.ID, s.decorate(m.Method, resp.Result, era))
	})
}

// failed answers a request that could not be served: a tool call gets an
// isError result, which the person sees; anything else a JSON-RPC error.
func (s *session) failed(m *Message, era Era, text string) *Message {
	if m.Method == mcp.MethodToolsCall {
		return Result(m.ID, s.decorate(m.Method, ToolError(text), era))
	}
	return Fail(m.ID, mcp.CodeInternalError, text)
}

// decorate adds what the client's era requires to a result.
func (s *session) decorate(method string, result json.RawMessage, era Era) json.RawMessage {
	if !era.Modern {
		return result
	}
	return Decorate(method, result, s.serverInfo())
}

// spawn runs fn on its own goroutine with a context that
// notifications/cancelled for id, or the end of the session, cancels, and
// sends what it returns. A panic becomes an internal error.
func (s *session) spawn(id json.RawMessage, era Era, fn func(ctx context.Context) *Message) {
	ctx, cancel := context.WithCancel(withEra(s.ctx, era))
	f := &inflight{cancel: cancel}
	key := IDKey(id)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		cancel()
		return
	}
	s.inflight[key] = f
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		resp := s.recovered(id, ctx, fn)
		s.mu.Lock()
		if s.inflight[key] == f {
			delete(s.inflight, key)
		}
		drop := f.cancelled
		s.mu.Unlock()
		cancel()
		if !drop {
			s.send(resp)
		}
	}()
}

func (s *session) recovered(id json.RawMessage, ctx context.Context, fn func(ctx context.Context) *Message) (m *Message) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in a request handler", "panic", p)
			m = Fail(id, mcp.CodeInternalError, "internal error")
		}
	}()
	return fn(ctx)
}

// notification handles a client notification.
func (s *session) notification(m *Message) {
	switch m.Method {
	case mcp.MethodNotificationInitialized:
		return // the handshake is the front's; upstream sessions are the upstream's
	case mcp.MethodNotificationCancelled:
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.Params, &p) != nil || isNull(p.RequestID) {
			return
		}
		s.mu.Lock()
		f := s.inflight[IDKey(p.RequestID)]
		if f != nil {
			f.cancelled = true
		}
		s.mu.Unlock()
		if f == nil {
			return // not in flight: nothing to cancel, nothing to pass on
		}
		if up := s.upstream(); up != nil {
			up.Notify(s.ctx, m)
		}
		f.cancel()
		return
	}
	if up := s.upstream(); up != nil {
		up.Notify(s.ctx, m)
	}
}
