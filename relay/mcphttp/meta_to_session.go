package mcphttp

import (
	"encoding/json"
	"strings"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// A 2026-07-28 client's request to a 2025-era server: the per-request
// _meta has no place there. Its keys are removed, and the log level it
// asks for becomes the session's logging/setLevel (request.go, setLevel).

// legacyParams removes the 2026-07-28 per-request keys from params' _meta
// for a 2025-era server, and returns the log level the request asked for.
// Params that are not an object pass unchanged.
func legacyParams(params json.RawMessage) (json.RawMessage, string) {
	var fields map[string]json.RawMessage
	if len(params) == 0 || json.Unmarshal(params, &fields) != nil || fields["_meta"] == nil {
		return params, ""
	}
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["_meta"], &meta) != nil {
		return params, ""
	}
	var level string
	_ = json.Unmarshal(meta[mcp.MetaKeyLogLevel], &level)
	for k := range meta {
		if strings.HasPrefix(k, mcp.MetaKeyPrefix) {
			delete(meta, k)
		}
	}
	if len(meta) == 0 {
		delete(fields, "_meta")
	} else {
		fields["_meta"], _ = json.Marshal(meta)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return params, level
	}
	return out, level
}
