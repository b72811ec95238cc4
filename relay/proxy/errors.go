package proxy

import (
	"encoding/json"
	"errors"
	"net/url"

	"github.com/keyrelay/keyrelay/relay/forward"
	"github.com/keyrelay/keyrelay/relay/login"
)

// errText is what a person sees for a failed request. It never holds a
// token or a header value: neither is ever put into an error.
func errText(err error) string {
	var le *login.Error
	var ae *AuthError
	var ue *url.Error
	switch {
	case errors.As(err, &le):
		return le.Error()
	case errors.As(err, &ae) && ae.Status == 401:
		return "the MCP server refused the token even after a refresh; run `relay login` or try again"
	case errors.As(err, &ae):
		return "the MCP server refused access (" + forward.Sanitize(ae.Challenge.Error, 40) + "); your account may lack the permission"
	case errors.Is(err, ErrOtherURL):
		return err.Error()
	case errors.As(err, &ue):
		return "keyrelay: " + sanitize(ue.Err.Error())
	}
	return "keyrelay could not reach the MCP server: " + sanitize(err.Error())
}

// sanitize caps text from the server or the network for logs and results.
func sanitize(s string) string { return forward.Sanitize(s, 300) }

// configAnswer answers every request when the configuration is bad: the
// tool list shows one tool that explains, calls and the rest say why.
func (p *Proxy) configAnswer(m *message) {
	text := "keyrelay is not configured: " + p.cfg.ConfigErr.Error() + ". Set it in the env of this MCP server's configuration."
	if m.Method == "tools/list" {
		b, _ := json.Marshal(map[string]any{"tools": []any{map[string]any{"name": "keyrelay_status",
			"description": "keyrelay cannot reach the MCP server; call this to see why", "inputSchema": map[string]string{"type": "object"}}}})
		_ = p.out.send(resultMsg(m.ID, p.decorate(b)))
		return
	}
	p.fail(m, text)
}
