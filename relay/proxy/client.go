package proxy

import (
	"encoding/json"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// clientState is what the client said about itself: its era, identity and
// capabilities, reused to initialize the server's session (again after a
// 404).
type clientState struct {
	mu       sync.Mutex
	modern   bool            // it spoke 2026-07-28 (server/discover, _meta)
	version  string          // the protocol version it asked for
	info     json.RawMessage // clientInfo
	caps     json.RawMessage // capabilities
	level    string          // the log level last set upstream for it
	asked    string          // the log level a 2025-era client set (logging/setLevel)
	fallback bool            // start-up was answered without the server's capabilities
}

// initialized records a 2025-era initialize.
func (c *clientState) initialized(params json.RawMessage) {
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      json.RawMessage `json:"clientInfo"`
	}
	_ = json.Unmarshal(params, &p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.modern, c.version, c.caps, c.info = false, p.ProtocolVersion, p.Capabilities, p.ClientInfo
}

// observe records the 2026-07-28 per-request _meta, if params carry it.
func (c *clientState) observe(params json.RawMessage) {
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil || p.Meta[mcp.MetaKeyProtocolVersion] == nil {
		return
	}
	var v string
	_ = json.Unmarshal(p.Meta[mcp.MetaKeyProtocolVersion], &v)
	if !mcp.IsModernProtocol(v) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.modern, c.version = true, v
	if raw := p.Meta[mcp.MetaKeyClientCapabilities]; raw != nil {
		c.caps = raw
	}
	if raw := p.Meta[mcp.MetaKeyClientInfo]; raw != nil {
		c.info = raw
	}
}

func (c *clientState) isModern() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.modern
}

// initParams are the parameters of the proxy's initialize upstream: the
// client's identity and capabilities, at the client's 2025 revision or the
// newest one.
func (c *clientState) initParams(version string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.version
	if !mcp.IsValidProtocolVersion(v) || mcp.IsModernProtocol(v) {
		v = mcp.LatestLegacyVersion
	}
	var info any = mcp.Implementation{Name: "keyrelay", Version: version}
	if len(c.info) > 0 {
		info = c.info
	}
	var caps any = map[string]any{}
	if len(c.caps) > 0 {
		caps = c.caps
	}
	return map[string]any{"protocolVersion": v, "capabilities": caps, "clientInfo": info}
}

// setFallback records whether start-up was answered without the server's
// capabilities; takeFallback reports it once.
func (c *clientState) setFallback(b bool) {
	c.mu.Lock()
	c.fallback = b
	c.mu.Unlock()
}

func (c *clientState) takeFallback() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fallback
	c.fallback = false
	return f
}

// levelChange returns level if it differs from the one last set upstream,
// and records it.
func (c *clientState) levelChange(level string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if level == "" || level == c.level {
		return ""
	}
	c.level = level
	return level
}

// setAskedLevel records a 2025-era client's logging/setLevel, for the
// per-request _meta of a 2026-07-28 server.
func (c *clientState) setAskedLevel(level string) {
	c.mu.Lock()
	c.asked = level
	c.mu.Unlock()
}

// meta is what a 2026-07-28 server needs in a 2025-era client's requests.
func (c *clientState) meta() requestMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return requestMeta{caps: c.caps, info: c.info, level: c.asked}
}
