package front

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// defaultCaps are the front's own capabilities, when no upstream describes
// itself (a bad configuration): tools, for keyrelay_status, and logging.
var defaultCaps = json.RawMessage(`{"logging":{},"tools":{"listChanged":true}}`)

// initialize records a 2025-era client's initialize and starts its
// session, with the default log level.
func (s *session) initialize(params json.RawMessage) {
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      json.RawMessage `json:"clientInfo"`
	}
	_ = json.Unmarshal(params, &p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client = ClientState{Version: p.ProtocolVersion, Caps: p.Capabilities, Info: p.ClientInfo, LogLevel: s.client.LogLevel}
	s.initialized, s.level = true, mcp.LoggingLevelError
}

// observe records what a 2026-07-28 request's _meta says of the client;
// such a request also starts the session.
func (s *session) observe(params json.RawMessage, era Era) {
	var rm requestMeta
	_ = json.Unmarshal(params, &rm)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client.Modern, s.client.Version = true, era.Version
	if raw := rm.Meta[mcp.MetaKeyClientCapabilities]; raw != nil {
		s.client.Caps = raw
	}
	if raw := rm.Meta[mcp.MetaKeyClientInfo]; raw != nil {
		s.client.Info = raw
	}
	if !s.initialized {
		s.initialized, s.level = true, mcp.LoggingLevelError
	}
}

// setLevel checks and records a 2025-era logging/setLevel; the upstream
// then gets it too.
func (s *session) setLevel(m *Message) *Message {
	var p struct {
		Level mcp.LoggingLevel `json:"level"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil && !isNull(m.Params) {
		return Fail(m.ID, mcp.CodeInvalidParams, "Invalid params: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.initialized:
		return Fail(m.ID, mcp.CodeInternalError, "session not properly initialized")
	case !p.Level.Valid():
		return Fail(m.ID, mcp.CodeInvalidParams, fmt.Sprintf("invalid logging level '%s'", Scrub(string(p.Level))))
	}
	s.level, s.client.LogLevel = p.Level, p.Level
	return nil
}

// describe answers initialize or server/discover: at once from
// Config.Describe, else from the upstream, which may take a moment.
func (s *session) describe(m *Message, era Era) {
	if s.cfg.Describe != nil {
		s.send(s.handshake(m, era, s.cfg.Describe()))
		return
	}
	s.spawn(m.ID, era, func(ctx context.Context) *Message {
		d := Description{Capabilities: defaultCaps, Instructions: instructions}
		if up, err := s.connect(); err == nil {
			d = up.Describe(ctx)
		}
		return s.handshake(m, era, d)
	})
}

// handshake is the answer to initialize or server/discover from d.
func (s *session) handshake(m *Message, era Era, d Description) *Message {
	if len(d.ServerInfo) == 0 {
		d.ServerInfo = Object(mcp.Implementation{Name: "keyrelay", Version: s.cfg.Version})
	}
	if len(d.Capabilities) == 0 {
		d.Capabilities = json.RawMessage(`{}`)
	}
	s.mu.Lock()
	s.desc = &d
	s.mu.Unlock()
	if !era.Modern {
		if len(d.Initialize) > 0 {
			return Result(m.ID, d.Initialize)
		}
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(m.Params, &p)
		return Result(m.ID, Object(initializeResult{ProtocolVersion: mcp.NegotiateLegacyVersion(p.ProtocolVersion),
			Capabilities: d.Capabilities, ServerInfo: d.ServerInfo, Instructions: d.Instructions}))
	}
	r := discoverResult{SupportedVersions: mcp.ValidProtocolVersions, Capabilities: d.Capabilities, Instructions: d.Instructions,
		ResultType: mcp.ResultTypeComplete, TTLMs: 0, CacheScope: "private"}
	r.Meta.ServerInfo = d.ServerInfo
	return Result(m.ID, Object(r))
}

type initializeResult struct {
	ProtocolVersion string          `json:"protocolVersion"`
	Capabilities    json.RawMessage `json:"capabilities"`
	ServerInfo      json.RawMessage `json:"serverInfo"`
	Instructions    string          `json:"instructions,omitempty"`
}

type discoverResult struct {
	Meta struct {
		ServerInfo json.RawMessage `json:"io.modelcontextprotocol/serverInfo"`
	} `json:"_meta"`
	ResultType        string          `json:"resultType"`
	TTLMs             int64           `json:"ttlMs"`
	CacheScope        string          `json:"cacheScope"`
	SupportedVersions []string        `json:"supportedVersions"`
	Capabilities      json.RawMessage `json:"capabilities"`
	Instructions      string          `json:"instructions,omitempty"`
}

// serverInfo is the serverInfo of the last handshake, or keyrelay's.
func (s *session) serverInfo() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.desc != nil {
		return s.desc.ServerInfo
	}
	return Object(mcp.Implementation{Name: "keyrelay", Version: s.cfg.Version})
}
