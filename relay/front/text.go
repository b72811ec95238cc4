package front

import (
	"errors"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Texter is an error with a text for the person: what they see in a tool
// result or a JSON-RPC error. The upstreams' errors implement it
// (authhttp.AuthError, toolapi.BackendError, login.Error, ...), so that
// each text is written once, where the error is made.
type Texter interface {
	UserText() string
}

// Text is what the person sees for err: its UserText, else its message,
// scrubbed. It never holds a token or a header value: neither is ever put
// into an error.
func Text(err error) string {
	var t Texter
	if errors.As(err, &t) {
		return t.UserText()
	}
	return Scrub(err.Error())
}

// Scrub caps text from a server or the network for logs and results:
// printable ASCII, at most 300 bytes.
func Scrub(s string) string { return secret.Scrub(s, 300) }

// configText is the text of every request while the relay is not
// configured.
func configText(err error) string {
	return "keyrelay is not configured: " + Text(err) + ". Set it in the env of this MCP server's configuration."
}

// ToolError is an isError tools/call result with one text block.
func ToolError(text string) []byte {
	return Object(toolResult{Content: []textContent{{Type: "text", Text: text}}, IsError: true})
}

type toolResult struct {
	Content []textContent `json:"content"`
	IsError bool          `json:"isError,omitempty"`
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}
