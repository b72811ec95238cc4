package mcphttp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// conn is one connection to the server: the Streamable HTTP client
// (streamable.go) over the auth layer, in the era chosen for it (era.go),
// or over the legacy HTTP+SSE transport (legacysse.go).
type conn struct {
	tr           *transport.Streamable
	sse          *transport.LegacySSE // under tr, for a server of the legacy HTTP+SSE transport
	since        time.Time
	modern       bool            // 2026-07-28: no session, per-request _meta
	result       json.RawMessage // the server's initialize result (2025 era)
	caps         json.RawMessage
	serverInfo   json.RawMessage
	instructions string
	has          struct{ tools, resources, prompts bool }
	up           upListen // the proxy's subscriptions/listen (2026-07-28, for a 2025-era client)
}

// dial connects: server/discover tells the eras the server speaks, and
// the proxy chooses one (chooseModern). In the 2025 era it starts a
// session (initialize with the client's identity and capabilities,
// notifications/initialized) and opens the GET stream for the server's
// own messages; in the 2026-07-28 era there is nothing more to set up,
// except the notifications a 2025-era client expects (listenup.go). The
// legacy HTTP+SSE transport is used when set, or, in auto, when the
// server refuses the first POST with 404 or 405 (transport.go).
func (p *Upstream) dial(ctx context.Context) (*conn, error) {
	mode, err := transport.Choice(p.cfg.Transport)
	switch {
	case err != nil:
		return nil, err
	case mode == transport.SSE || p.conns.isLegacySSE():
		return p.dialSSE(ctx)
	}
	tr := p.newStreamable(p.http)
	c, err := p.handshake(ctx, tr)
	if err != nil {
		tr.Close()
		if !refusesPOST(err) {
			return nil, err
		}
		if mode == transport.StreamableHTTP {
			return nil, fmt.Errorf("%w; it may speak only the legacy HTTP+SSE transport: set RELAY_MCP_TRANSPORT=sse or auto", err)
		}
		p.log.Info("the MCP server refused the Streamable HTTP POST; trying the legacy HTTP+SSE transport", "err", err)
		if c, err = p.dialSSE(ctx); err != nil {
			return nil, fmt.Errorf("the MCP server speaks neither Streamable HTTP (its POST was refused) nor the legacy HTTP+SSE transport: %w", err)
		}
		p.conns.setLegacySSE()
		return c, nil
	}
	c.since = time.Now()
	if c.modern {
		if !p.client.State().Modern {
			p.listenUp(c)
		}
	} else {
		p.awaitListen(ctx, tr.Listen())
	}
	return c, nil
}

// listenWait bounds how long a new 2025-era session waits for its GET
// stream before the proxy forwards anything: the server's answer to the
// GET takes milliseconds; a server that holds it back costs this, once.
var listenWait = time.Second // a var for tests

// awaitListen waits until the server has answered the session's GET
// stream (opened), at most listenWait. A server that sends its own
// request (an elicitation, a sampling) on that stream as soon as a tool is
// called drops it while no stream is open; a client that calls a tool
// right after initialize would otherwise race the stream, and lose on a
// busy machine (the conformance suite's elicitation-sep1034-client-defaults).
func (p *Upstream) awaitListen(ctx context.Context, opened <-chan struct{}) {
	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-opened:
	case <-t.C:
		p.log.Debug("the MCP server has not answered the event stream's GET yet; going on", "waited", listenWait)
	case <-ctx.Done():
	}
}

// newStreamable makes the client of one session over hc. The session's
// streams live as long as the proxy, not the request that dials.
func (p *Upstream) newStreamable(hc *http.Client) *transport.Streamable {
	var tr *transport.Streamable
	tr = transport.NewStreamable(p.ctx, p.cfg.URL, hc, p.log.With("component", "mcp-transport"), transport.Handlers{
		Note: func(m *front.Message) { p.serverNotification(tr.IsModern(), m) },
		Ask:  p.serverRequest,
		Headers: func(h http.Header, m *front.Message) {
			standardHeaders(h, m)
			p.params.set(h, m)
		},
	})
	return tr
}

// dialSSE connects over the legacy HTTP+SSE transport: the stream and its
// endpoint, then a 2025-era session on it (that transport has no
// server/discover), with the Streamable HTTP client's GET stream for the
// server's messages that belong to no request.
func (p *Upstream) dialSSE(ctx context.Context) (*conn, error) {
	var lt *transport.LegacySSE
	lt = transport.NewLegacySSE(p.ctx, p.guard.Target, p.http, p.log.With("component", "mcp-sse"), p.guard.AllowEndpoint, func() { p.lost(lt) })
	if err := lt.Connect(ctx); err != nil {
		lt.Close()
		return nil, err
	}
	tr := p.newStreamable(&http.Client{Transport: lt, CheckRedirect: noRedirect})
	c, err := p.initSession(ctx, tr)
	if err != nil {
		tr.Close()
		lt.Close()
		return nil, err
	}
	c.sse, c.since = lt, time.Now()
	tr.Listen()
	return c, nil
}

// refusesPOST reports whether err is a 404 or 405 to the first POST, after
// any sign-in: the server does not speak Streamable HTTP at that URL.
func refusesPOST(err error) bool {
	var se *transport.StatusError
	return errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed)
}

func (p *Upstream) handshake(ctx context.Context, tr *transport.Streamable) (*conn, error) {
	eras, err := p.probe(ctx, tr)
	if err != nil {
		return nil, err
	}
	modern, err := chooseModern(p.client.State().Modern, eras)
	if err != nil {
		return nil, err
	}
	if modern {
		tr.SetModern()
		c := &conn{tr: tr, modern: true}
		return c, c.parseDiscover(eras.discover)
	}
	return p.initSession(ctx, tr)
}

// initSession starts a 2025-era session: initialize with the client's
// identity and capabilities, then notifications/initialized.
func (p *Upstream) initSession(ctx context.Context, tr *transport.Streamable) (*conn, error) {
	params, err := json.Marshal(initParams(p.client.State(), p.cfg.Version))
	if err != nil {
		return nil, err
	}
	resp, err := tr.Call(ctx, &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: json.RawMessage(`"keyrelay-initialize"`), Method: mcp.MethodInitialize, Params: params})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("the MCP server refused initialize: %s", front.Scrub(resp.Error.Message))
	}
	c := &conn{tr: tr, result: resp.Result}
	if err := c.parse(); err != nil {
		return nil, err
	}
	if err := tr.Send(ctx, &front.Message{JSONRPC: mcp.JSONRPCVersion, Method: mcp.MethodNotificationInitialized}); err != nil {
		return nil, err
	}
	return c, nil
}

// probe sends server/discover as a 2026-07-28 client would. A server that
// answers it with an HTTP error or a JSON-RPC error is 2025-era only;
// failures to reach it, or to authorize, end the attempt.
func (p *Upstream) probe(ctx context.Context, tr *transport.Streamable) (serverEras, error) {
	m := &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: json.RawMessage(`1`), Method: mcp.MethodServerDiscover, Params: discoverProbe}
	resp, err := tr.Call(transport.WithModern(ctx), m)
	var se *transport.StatusError
	switch {
	case refusesPOST(err) && p.cfg.Transport != transport.StreamableHTTP:
		return serverEras{}, err // auto: the legacy HTTP+SSE transport, maybe (dial)
	case errors.As(err, &se):
		p.log.Debug("the MCP server refused server/discover: a 2025-era server", "status", se.Status)
		return serverEras{legacy: true}, nil
	case err != nil:
		return serverEras{}, err
	}
	e := erasFrom(resp)
	p.log.Debug("the MCP server's protocol eras", "2026-07-28", e.modern, "2025", e.legacy)
	return e, nil
}

// parse reads the initialize result and sets the session's version.
func (c *conn) parse() error {
	var r struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      json.RawMessage `json:"serverInfo"`
		Instructions    string          `json:"instructions"`
	}
	if err := json.Unmarshal(c.result, &r); err != nil || !mcp.IsValidProtocolVersion(r.ProtocolVersion) {
		return fmt.Errorf("the MCP server's initialize result is not usable")
	}
	c.tr.SetVersion(r.ProtocolVersion)
	c.caps, c.serverInfo, c.instructions = r.Capabilities, r.ServerInfo, r.Instructions
	c.setHas()
	return nil
}

// parseDiscover reads a 2026-07-28 server's server/discover result.
func (c *conn) parseDiscover(result json.RawMessage) error {
	var r struct {
		Capabilities json.RawMessage `json:"capabilities"`
		Instructions string          `json:"instructions"`
		Meta         struct {
			ServerInfo json.RawMessage `json:"io.modelcontextprotocol/serverInfo"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return fmt.Errorf("the MCP server's server/discover result is not usable")
	}
	c.caps, c.serverInfo, c.instructions = orJSON(r.Capabilities, `{}`), r.Meta.ServerInfo, r.Instructions
	c.setHas()
	return nil
}

func (c *conn) setHas() {
	var has map[string]json.RawMessage
	_ = json.Unmarshal(c.caps, &has)
	c.has.tools, c.has.resources, c.has.prompts = has["tools"] != nil, has["resources"] != nil, has["prompts"] != nil
}

func (c *conn) close() {
	c.up.stop()
	c.tr.Close()
}

// sessionHash identifies the session in logs without revealing its id.
func (c *conn) sessionHash() string {
	id := c.tr.SessionID().Reveal()
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}
