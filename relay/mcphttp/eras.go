package mcphttp

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// The protocol eras. A 2025-era peer (revisions up to 2025-11-25) starts
// with initialize and holds a session (Mcp-Session-Id); a 2026-07-28 peer
// learns the other side with server/discover and carries its protocol
// version, identity, capabilities and log level in every request's _meta,
// with no session, no GET stream and no server-to-client requests.
// discoverProbe is the relay's server/discover: it tells a 2026-07-28
// server from a 2025-era one.
var discoverProbe = json.RawMessage(`{"_meta":{"` + mcp.MetaKeyProtocolVersion + `":"` + mcp.ProtocolVersion20260728 + `","` +
	mcp.MetaKeyClientCapabilities + `":{}}}`)

// serverEras is what the probe found out: the eras the server speaks.
type serverEras struct {
	modern, legacy bool
	discover       json.RawMessage // the server/discover result, when modern
}

// errNoCommonEra: the server speaks neither era the relay knows.
var errNoCommonEra = errors.New("mcphttp: the MCP server supports no protocol version keyrelay speaks")

// erasFrom reads a server/discover response. A server that refuses the
// probe (a JSON-RPC error, or no usable result) is 2025-era only.
func erasFrom(resp *front.Message) serverEras {
	var r struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if resp == nil || resp.Error != nil || json.Unmarshal(resp.Result, &r) != nil || r.SupportedVersions == nil {
		return serverEras{legacy: true}
	}
	e := serverEras{discover: resp.Result}
	e.modern = slices.Contains(r.SupportedVersions, mcp.ProtocolVersion20260728)
	e.legacy = slices.ContainsFunc(r.SupportedVersions, isLegacyVersion)
	return e
}

// chooseModern decides the era the relay speaks to the server: the
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

// isLegacyVersion reports whether v is a 2025-era revision.
func isLegacyVersion(v string) bool {
	return len(v) == len(mcp.ProtocolVersion20260728) && !mcp.IsModernProtocol(v) && v >= mcp.ProtocolVersion20241105
}
