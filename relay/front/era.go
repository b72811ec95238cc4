package front

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// Era is what a request says about its protocol revision. A request is of
// the 2026-07-28 era when its _meta names that revision or a later one;
// such a request carries the client's capabilities, and may carry the log
// level it wants. Anything else is of the 2025 era (initialize, then a
// session).
type Era struct {
	Modern   bool
	Version  string
	LogLevel mcp.LoggingLevel
	// progress is the request's progress token (any era), nil for none:
	// read with the rest of _meta, in the same pass.
	progress any
}

// requestMeta is the part of a request's params the era is read from.
type requestMeta struct {
	Meta map[string]json.RawMessage `json:"_meta"`
}

func (m requestMeta) str(key string) string {
	var s string
	if raw := m.Meta[key]; raw != nil && json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// eraOf reads m's era. It refuses a 2026-07-28 request without the
// client's capabilities (-32602), or naming a revision the relay does not
// know (-32022).
func eraOf(m *Message) (Era, *Message) {
	var rm requestMeta
	if !isNull(m.Params) {
		_ = json.Unmarshal(m.Params, &rm)
	}
	var progress any
	if raw := rm.Meta["progressToken"]; raw != nil {
		_ = json.Unmarshal(raw, &progress)
	}
	version := rm.str(mcp.MetaKeyProtocolVersion)
	if !mcp.IsModernProtocol(version) {
		return Era{Version: version, progress: progress}, nil
	}
	if caps := rm.Meta[mcp.MetaKeyClientCapabilities]; len(caps) == 0 || caps[0] != '{' {
		return Era{}, Fail(m.ID, mcp.CodeInvalidParams, "missing or invalid _meta field "+mcp.MetaKeyClientCapabilities)
	}
	if !mcp.IsValidProtocolVersion(version) {
		f := Fail(m.ID, mcp.CodeUnsupportedProtocolVersion, fmt.Sprintf("unsupported protocol version: %q (supported: %v)", version, mcp.ValidProtocolVersions))
		f.Error.Data = Object(map[string]any{"supported": mcp.ValidProtocolVersions, "requested": version})
		return Era{}, f
	}
	return Era{Modern: true, Version: version, LogLevel: mcp.LoggingLevel(rm.str(mcp.MetaKeyLogLevel)), progress: progress}, nil
}

type eraKey struct{}

// withEra returns ctx carrying the era of the request it serves.
func withEra(ctx context.Context, e Era) context.Context { return context.WithValue(ctx, eraKey{}, e) }

// EraFrom returns the era of the request ctx serves; the zero Era (2025)
// outside any request.
func EraFrom(ctx context.Context) Era {
	e, _ := ctx.Value(eraKey{}).(Era)
	return e
}

// cacheable are the methods whose 2026-07-28 results carry the caching
// hints ttlMs and cacheScope (SEP-2549), as server/discover's do.
var cacheable = map[string]bool{mcp.MethodToolsList: true, mcp.MethodPromptsList: true, mcp.MethodResourcesList: true,
	mcp.MethodResourcesTemplatesList: true, mcp.MethodResourcesRead: true}

// Decorate adds what the 2026-07-28 era requires of a result of method
// and its maker did not write: resultType "complete", serverInfo in _meta,
// and for the cacheable methods the hints ttlMs 0 (always revalidate:
// list_changed still tells of changes) and cacheScope "private" (the
// result was fetched with one person's token, so no shared cache may
// reuse it). What is there is kept; a result that is not an object passes
// unchanged.
func Decorate(method string, result json.RawMessage, serverInfo json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(result, &fields) != nil || fields == nil {
		return result
	}
	changed := false
	set := func(k, v string) {
		if fields[k] == nil {
			fields[k], changed = json.RawMessage(v), true
		}
	}
	set("resultType", `"`+mcp.ResultTypeComplete+`"`)
	if cacheable[method] && string(fields["resultType"]) == `"`+mcp.ResultTypeComplete+`"` {
		set("ttlMs", `0`)
		set("cacheScope", `"private"`)
	}
	if len(serverInfo) > 0 {
		meta := map[string]json.RawMessage{}
		if raw := fields["_meta"]; raw == nil || json.Unmarshal(raw, &meta) == nil && meta != nil {
			if meta[mcp.MetaKeyServerInfo] == nil {
				meta[mcp.MetaKeyServerInfo], changed = serverInfo, true
				fields["_meta"] = Object(meta)
			}
		}
	}
	if !changed {
		return result
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return result
	}
	return out
}
