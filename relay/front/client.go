package front

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

var _ Client = (*session)(nil)

// Send passes a server's message to the client, once it has initialized.
func (s *session) Send(m *Message) {
	if s.isInitialized() {
		s.send(m)
	}
}

func (s *session) isInitialized() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initialized
}

// Notify sends a notification of the relay's own; see Client.
func (s *session) Notify(ctx context.Context, method string, params map[string]any) {
	s.mu.Lock()
	ok, level := s.initialized, s.level
	s.mu.Unlock()
	if !ok {
		return
	}
	if method == mcp.MethodNotificationMessage {
		if e := EraFrom(ctx); e.Modern {
			level = e.LogLevel
		}
		var msgLevel mcp.LoggingLevel
		switch l := params["level"].(type) {
		case mcp.LoggingLevel:
			msgLevel = l
		case string:
			msgLevel = mcp.LoggingLevel(l)
		}
		if level == "" || !msgLevel.ShouldSendTo(level) {
			return
		}
	}
	s.send(Notification(method, params))
}

// State returns what the client said about itself.
func (s *session) State() ClientState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// Ask sends the client a request and waits for its answer.
func (s *session) Ask(ctx context.Context, method string, params json.RawMessage) (*Message, error) {
	id, answer, ok := s.asks.open()
	if !ok {
		return nil, ErrTooManyAsks
	}
	defer s.asks.close(id)
	if err := s.out.send(Request(id, method, params)); err != nil {
		return nil, err
	}
	select {
	case m := <-answer:
		return m, nil
	case <-ctx.Done():
		s.send(Notification(mcp.MethodNotificationCancelled, map[string]any{"requestId": id, "reason": "the server stopped waiting"}))
		return nil, ctx.Err()
	}
}

// MaxAsks bounds the relay's requests to the client waiting for an answer:
// a server asking faster than the person answers cannot grow the relay.
const MaxAsks = 64

// ErrTooManyAsks refuses a request to the client past MaxAsks.
var ErrTooManyAsks = errors.New("front: too many requests to the client at once")

// asks are the relay's requests to the client waiting for its answer,
// under ids of the relay's own ("keyrelay-N"), so that they never collide
// with the ids of any server behind it.
type asks struct {
	mu   sync.Mutex
	next int64
	wait map[string]chan *Message
}

func (a *asks) open() (json.RawMessage, chan *Message, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.wait) >= MaxAsks {
		return nil, nil, false
	}
	a.next++
	id := Object("keyrelay-" + strconv.FormatInt(a.next, 10))
	ch := make(chan *Message, 1)
	if a.wait == nil {
		a.wait = map[string]chan *Message{}
	}
	a.wait[IDKey(id)] = ch
	return id, ch, true
}

func (a *asks) close(id json.RawMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.wait, IDKey(id))
}

// answer delivers the client's response; unknown ids are dropped.
func (a *asks) answer(m *Message) {
	a.mu.Lock()
	ch := a.wait[IDKey(m.ID)]
	delete(a.wait, IDKey(m.ID))
	a.mu.Unlock()
	if ch != nil {
		ch <- m
	}
}
