package mcphttp

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// connState holds the server's session: at most one live, at most one
// being made. A failed attempt is not kept: the next request tries again.
type connState struct {
	mu      sync.Mutex
	cur     *conn
	dialing chan struct{} // closed when the attempt ends
	last    error         // the last attempt's error
	quiet   bool          // the last attempt could not sign in
	closed  bool

	legacySSE bool // auto found that the server speaks only the legacy HTTP+SSE transport
	redialing bool // a reconnection after a dropped SSE stream is under way
	drops     int  // SSE streams in a row that dropped soon after they opened
}

func (s *connState) isLegacySSE() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legacySSE
}

func (s *connState) setLegacySSE() {
	s.mu.Lock()
	s.legacySSE = true
	s.mu.Unlock()
}

func (s *connState) current() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// conn returns the server's session, connecting once for all callers. The
// attempt runs detached from ctx (keeping its sign-in UI), so that a
// client's time-out does not abort a sign-in under way. quiet callers
// never sign in; a failed quiet attempt is retried for a caller that may.
func (p *Upstream) conn(ctx context.Context, quiet bool) (*conn, error) {
	s := &p.conns
	for {
		s.mu.Lock()
		if s.cur != nil || s.closed {
			c := s.cur
			s.mu.Unlock()
			if c == nil {
				return nil, context.Canceled
			}
			return c, nil
		}
		if s.dialing == nil {
			s.dialing = make(chan struct{})
			go p.connect(ctx, quiet, s.dialing)
		}
		ch := s.dialing
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
		c, err, wasQuiet := s.cur, s.last, s.quiet
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		if !wasQuiet || quiet {
			return nil, err
		}
	}
}

// connect makes one attempt and publishes its outcome.
func (p *Upstream) connect(ctx context.Context, quiet bool, done chan struct{}) {
	ctx, cancel := p.detached(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	c, err := p.dial(ctx)
	s := &p.conns
	s.mu.Lock()
	if s.closed && c != nil {
		go c.close()
		c, err = nil, context.Canceled
	}
	s.cur, s.last, s.quiet, s.dialing = c, err, quiet, nil
	s.mu.Unlock()
	close(done)
	if err != nil {
		p.log.Info("could not connect to the MCP server", "err", err, "quiet", quiet)
		return
	}
	p.log.Info("connected to the MCP server", "session", c.sessionHash())
	if p.cfg.PingInterval > 0 && !c.modern {
		go p.keepAlive(c)
	}
	p.announce(c)
}

// drop forgets c after the server ended its session (404), so the next
// request starts a new one.
func (p *Upstream) drop(c *conn) {
	s := &p.conns
	s.mu.Lock()
	if s.cur == c {
		s.cur = nil
	}
	s.mu.Unlock()
	go c.close()
}

// close ends the session at the end of the stdio stream.
func (s *connState) close() {
	s.mu.Lock()
	c := s.cur
	s.cur, s.closed = nil, true
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// Reconnection after a legacy SSE stream dropped (redial): the first
// attempt waits redialDelay, doubling up to redialMax while attempts fail
// or streams drop within redialMax of opening.
var (
	redialDelay = time.Second
	redialMax   = 30 * time.Second
)

// lost forgets the connection whose legacy SSE stream dropped (its
// requests in flight have failed with transport.ErrStreamDropped), and reconnects
// in the background with the cached token only, so that the server's own
// messages flow again; a request meanwhile connects at once, signing in
// if it must.
func (p *Upstream) lost(sse *transport.LegacySSE) {
	s := &p.conns
	s.mu.Lock()
	c := s.cur
	if c == nil || c.sse != sse || s.closed {
		s.mu.Unlock()
		return
	}
	s.cur = nil
	if time.Since(c.since) < redialMax {
		s.drops++
	} else {
		s.drops = 0
	}
	start, drops := !s.redialing, s.drops
	s.redialing = true
	s.mu.Unlock()
	go c.close()
	p.log.Info("the MCP server's SSE stream dropped; reconnecting", "session", c.sessionHash())
	if start {
		go p.redial(drops)
	}
}

// redial reconnects quietly, until a connection is made (by it or by a
// request), the cached token does not do, or the session ends.
func (p *Upstream) redial(drops int) {
	s := &p.conns
	defer func() {
		s.mu.Lock()
		s.redialing = false
		s.mu.Unlock()
	}()
	for attempt := 1 + drops; ; attempt++ {
		if !transport.Sleep(p.ctx, transport.Backoff(redialDelay, attempt, redialMax), nil) || s.current() != nil {
			return
		}
		_, err := p.conn(authhttp.WithMode(p.ctx, authhttp.Probe), true)
		var ae *authhttp.AuthError
		switch {
		case err == nil || p.ctx.Err() != nil:
			return
		case errors.Is(err, authhttp.ErrNoCachedToken) || errors.As(err, &ae):
			p.log.Info("could not reconnect to the MCP server without a sign-in; the next request will")
			return
		}
	}
}
