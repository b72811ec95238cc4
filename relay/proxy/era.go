package proxy

import (
	"encoding/json"
	"errors"
	"slices"
)

// The protocol eras. A 2025-era peer (revisions up to 2025-11-25) starts
// with initialize and holds a session (Mcp-Session-Id); a 2026-07-28 peer
// learns the other side with server/discover and carries its protocol
// version, identity, capabilities and log level in every request's _meta,
// with no session, no GET stream and no server-to-client requests.
const (
	versionModern = "2026-07-28"

	metaProtocolVersion    = metaPrefix + "protocolVersion"
	metaClientCapabilities = metaPrefix + "clientCapabilities"
	metaClientInfo         = metaPrefix + "clientInfo"
	metaLogLevel           = metaPrefix + "logLevel"
	metaSubscriptionID     = metaPrefix + "subscriptionId"
)

// isModernVersion reports whether v is 2026-07-28 or later (versions are
// dates, so they compare as strings).
func isModernVersion(v string) bool { return len(v) == len(versionModern) && v >= versionModern }

// discoverProbe is the proxy's server/discover: it tells a 2026-07-28
// server from a 2025-era one.
var discoverProbe = json.RawMessage(`{"_meta":{"` + metaProtocolVersion + `":"` + versionModern + `","` +
	metaClientCapabilities + `":{}}}`)

// serverEras is what the probe found out: the eras the server speaks.
type serverEras struct {
	modern, legacy bool
	discover       json.RawMessage // the server/discover result, when modern
}

// errNoCommonEra: the server speaks neither era the proxy knows.
var errNoCommonEra = errors.New("proxy: the MCP server supports no protocol version keyrelay speaks")

// erasFrom reads a server/discover response. A server that refuses the
// probe (a JSON-RPC error, or no usable result) is 2025-era only.
func erasFrom(resp *message) serverEras {
	var r struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if resp == nil || resp.Error != nil || json.Unmarshal(resp.Result, &r) != nil || r.SupportedVersions == nil {
		return serverEras{legacy: true}
	}
	e := serverEras{discover: resp.Result}
	e.modern = slices.Contains(r.SupportedVersions, versionModern)
	e.legacy = slices.ContainsFunc(r.SupportedVersions, isLegacyVersion)
	return e
}

// chooseModern decides the era the proxy speaks to the server: the
// client's own when the server has it (the least mapping), else the one
// the server has.
func chooseModern(clientModern bool, e serverEras) (bool, error) {
	switch {
	case e.modern && (clientModern || !e.legacy):
		return true, nil
	case e.legacy:
		return false, nil
	}
	return false, errNoCommonEra
}

// modernRequest reports whether params carry a 2026-07-28 protocol version
// in _meta: the request comes from a 2026-07-28 client.
func modernRequest(params json.RawMessage) bool {
	var p struct {
		Meta struct {
			Version string `json:"io.modelcontextprotocol/protocolVersion"`
		} `json:"_meta"`
	}
	return json.Unmarshal(params, &p) == nil && isModernVersion(p.Meta.Version)
}

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
			return nil, errors.New("proxy: request params are not an object")
		}
	}
	meta := map[string]json.RawMessage{}
	if raw := fields["_meta"]; raw != nil {
		if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
			return nil, errors.New("proxy: request _meta is not an object")
		}
	}
	changed := false
	set := func(k string, v json.RawMessage) {
		if meta[k] == nil && len(v) > 0 {
			meta[k], changed = v, true
		}
	}
	var v string
	_ = json.Unmarshal(meta[metaProtocolVersion], &v)
	if v != versionModern {
		meta[metaProtocolVersion], changed = json.RawMessage(`"`+versionModern+`"`), true
	}
	set(metaClientCapabilities, orJSON(rm.caps, `{}`))
	set(metaClientInfo, rm.info)
	if rm.level != "" {
		b, _ := json.Marshal(rm.level)
		set(metaLogLevel, b)
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

// isLegacyVersion reports whether v is a 2025-era revision.
func isLegacyVersion(v string) bool {
	return len(v) == len(versionModern) && v < versionModern && v >= "2024-11-05"
}

// withParam returns params (an object) with key set to v.
func withParam(params json.RawMessage, key string, v any) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &fields); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	fields[key] = b
	return json.Marshal(fields)
}
