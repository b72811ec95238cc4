// Package mcp holds the few Model Context Protocol names and rules the
// relay's stdio servers share: protocol revisions and their negotiation,
// the _meta keys of the 2026-07-28 revision, JSON-RPC error codes, method
// names, log levels, and the check of x-mcp-header annotations in a tool's
// input schema.
//
// It exists so that the relay does not link mcp-go's mcp package, whose
// dependencies (a JSON Schema library that compiles regular expressions in
// its package init, html/template and others) cost the relay's cold start
// more than the rest of its package initialisation together. The names and
// behaviour follow mcp-go v1.2.1, so that the relay's answers stay the
// same.
//
// Security properties: none of its own; ValidateHeaders enforces the
// spec's rule that a server must refuse a tool whose x-mcp-header
// annotations are malformed.
//
// Non-goals: protocol types beyond these (each server keeps its own, with
// only the fields it writes), clients, transports.
package mcp

import "slices"

// Protocol revisions the relay knows, newest first in ValidProtocolVersions.
const (
	ProtocolVersion20260728 = "2026-07-28" // server/discover, no initialize
	ProtocolVersion20251125 = "2025-11-25"
	ProtocolVersion20250618 = "2025-06-18"
	ProtocolVersion20250326 = "2025-03-26"
	ProtocolVersion20241105 = "2024-11-05"

	// LatestLegacyVersion is the newest revision with the initialize
	// handshake.
	LatestLegacyVersion = ProtocolVersion20251125
)

// ValidProtocolVersions are the revisions the relay supports, newest first.
var ValidProtocolVersions = []string{
	ProtocolVersion20260728,
	ProtocolVersion20251125,
	ProtocolVersion20250618,
	ProtocolVersion20250326,
	ProtocolVersion20241105,
}

// JSONRPCVersion is the jsonrpc member of every message.
const JSONRPCVersion = "2.0"

// IsModernProtocol reports whether version is 2026-07-28 or later: a date
// of that form (dates compare as strings), so that other text is not
// taken for a later revision.
func IsModernProtocol(version string) bool {
	return len(version) == len(ProtocolVersion20260728) && version >= ProtocolVersion20260728
}

// IsValidProtocolVersion reports whether version is one of
// ValidProtocolVersions.
func IsValidProtocolVersion(version string) bool {
	return slices.Contains(ValidProtocolVersions, version)
}

// NegotiateLegacyVersion is the revision an initialize answer names: the
// client's when it is a known revision before 2026-07-28 (2025-03-26 when
// it names none), else LatestLegacyVersion.
func NegotiateLegacyVersion(clientVersion string) string {
	if clientVersion == "" {
		clientVersion = ProtocolVersion20250326
	}
	if IsValidProtocolVersion(clientVersion) && !IsModernProtocol(clientVersion) {
		return clientVersion
	}
	return LatestLegacyVersion
}

// Keys of _meta in the 2026-07-28 revision.
const (
	MetaKeyProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	MetaKeyClientInfo         = "io.modelcontextprotocol/clientInfo"
	MetaKeyClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	MetaKeyServerInfo         = "io.modelcontextprotocol/serverInfo"
	MetaKeyLogLevel           = "io.modelcontextprotocol/logLevel"
	MetaKeySubscriptionID     = "io.modelcontextprotocol/subscriptionId"

	// MetaKeyPrefix starts every key above.
	MetaKeyPrefix = "io.modelcontextprotocol/"
)

// JSON-RPC and MCP error codes.
const (
	CodeParseError                 = -32700
	CodeInvalidRequest             = -32600
	CodeMethodNotFound             = -32601
	CodeInvalidParams              = -32602
	CodeInternalError              = -32603
	CodeUnsupportedProtocolVersion = -32022
)

// Request methods.
const (
	MethodInitialize             = "initialize"
	MethodPing                   = "ping"
	MethodServerDiscover         = "server/discover" // 2026-07-28
	MethodSetLevel               = "logging/setLevel"
	MethodToolsList              = "tools/list"
	MethodToolsCall              = "tools/call"
	MethodSubscriptionsListen    = "subscriptions/listen" // 2026-07-28
	MethodResourcesList          = "resources/list"
	MethodResourcesTemplatesList = "resources/templates/list"
	MethodResourcesRead          = "resources/read"
	MethodResourcesSubscribe     = "resources/subscribe"
	MethodResourcesUnsubscribe   = "resources/unsubscribe"
	MethodPromptsList            = "prompts/list"
	MethodPromptsGet             = "prompts/get"
	MethodTasksGet               = "tasks/get"
	MethodTasksList              = "tasks/list"
	MethodTasksResult            = "tasks/result"
	MethodTasksCancel            = "tasks/cancel"
	MethodCompletionComplete     = "completion/complete"
	MethodSamplingCreateMessage  = "sampling/createMessage"
	MethodElicitationCreate      = "elicitation/create"
	MethodRootsList              = "roots/list"
)

// Notification methods.
const (
	NotificationPrefix                          = "notifications/"
	MethodNotificationInitialized               = "notifications/initialized"
	MethodNotificationCancelled                 = "notifications/cancelled"
	MethodNotificationMessage                   = "notifications/message"
	MethodNotificationProgress                  = "notifications/progress"
	MethodNotificationToolsListChanged          = "notifications/tools/list_changed"
	MethodNotificationPromptsListChanged        = "notifications/prompts/list_changed"
	MethodNotificationResourcesListChanged      = "notifications/resources/list_changed"
	MethodNotificationResourcesUpdated          = "notifications/resources/updated"
	MethodNotificationSubscriptionsAcknowledged = "notifications/subscriptions/acknowledged"
)

// ResultTypeComplete and ResultTypeInputRequired are the 2026-07-28
// resultType values the relay reads or writes.
const (
	ResultTypeComplete      = "complete"
	ResultTypeInputRequired = "input_required"
)

// Implementation names a client or a server (serverInfo, clientInfo).
type Implementation struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}
