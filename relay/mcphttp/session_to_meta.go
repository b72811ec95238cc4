package mcphttp

import (
	"encoding/json"
	"errors"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2025-era client's request to a 2026-07-28 server: that era has no
// session, so what the client said once in initialize (its capabilities,
// its identity) and its logging/setLevel go in every request's _meta.

// requestMeta is what a 2026-07-28 server needs in every request's _meta
// and the client did not say itself (a 2025-era client said it once, in
// initialize).
type requestMeta struct {
	caps, info json.RawMessage
	level      string
}

// modernParams makes params fit a 2026-07-28 server: _meta gets the
// protocol version, and the client's capabilities, identity and log level
// where it has none. Params already complete pass unchanged.
func modernParams(params json.RawMessage, rm requestMeta) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &fields); err != nil {
			return nil, errors.New("mcphttp: request params are not an object")
		}
	}
	if fields == nil { // params of null, however spelt
		fields = map[string]json.RawMessage{}
	}
	meta := map[string]json.RawMessage{}
	if raw := fields["_meta"]; raw != nil {
		if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
			return nil, errors.New("mcphttp: request _meta is not an object")
		}
	}
	changed := false
	set := func(k string, v json.RawMessage) {
		if meta[k] == nil && len(v) > 0 {
			meta[k], changed = v, true
		}
	}
	var v string
	_ = json.Unmarshal(meta[mcp.MetaKeyProtocolVersion], &v)
	if v != mcp.ProtocolVersion20260728 {
		meta[mcp.MetaKeyProtocolVersion], changed = json.RawMessage(`"`+mcp.ProtocolVersion20260728+`"`), true
	}
	set(mcp.MetaKeyClientCapabilities, orJSON(rm.caps, `{}`))
	set(mcp.MetaKeyClientInfo, rm.info)
	if rm.level != "" {
		b, _ := json.Marshal(rm.level)
		set(mcp.MetaKeyLogLevel, b)
	}
	if !changed {
		return params, nil
	}
	fields["_meta"], _ = json.Marshal(meta)
	return json.Marshal(fields)
}

func orJSON(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(def)
	}
	return raw
}

// clientMeta is what a 2026-07-28 server needs in a 2025-era client's
// requests: what the client said in initialize, and its log level.
func (p *Upstream) clientMeta() requestMeta {
	st := p.client.State()
	return requestMeta{caps: st.Caps, info: st.Info, level: string(st.LogLevel)}
}

// initParams are the parameters of the relay's initialize at a 2025-era
// server: the client's identity and capabilities, at the client's 2025
// revision or the newest one.
func initParams(st front.ClientState, version string) map[string]any {
	v := st.Version
	if !mcp.IsValidProtocolVersion(v) || mcp.IsModernProtocol(v) {
		v = mcp.LatestLegacyVersion
	}
	var info any = mcp.Implementation{Name: "keyrelay", Version: version}
	if len(st.Info) > 0 {
		info = st.Info
	}
	var caps any = map[string]any{}
	if len(st.Caps) > 0 {
		caps = st.Caps
	}
	return map[string]any{"protocolVersion": v, "capabilities": caps, "clientInfo": info}
}
