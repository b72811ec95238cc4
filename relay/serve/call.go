package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/forward"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// callTool answers tools/call. A tool the relay does not know yet makes it
// list the backend's tools again; a tool still unknown is registered as a
// placeholder that explains why it cannot be called (so the client gets an
// isError result, not "tool not found").
func (ss *session) callTool(ctx context.Context, id json.RawMessage, p *params, e era) *response {
	s := ss.srv
	s.wired()
	if !s.known(p.Name) {
		s.refreshTools(ctx, true)
	}
	if !s.known(p.Name) {
		s.placeholder(p.Name)
	}
	t, ok := s.entry(p.Name)
	if !ok {
		return fail(id, codeInvalidParams, fmt.Sprintf("tool '%s' not found: tool not found", p.Name))
	}
	var res *callToolResult
	if t.placeholder {
		res = s.placeholderCall(ctx)
	} else {
		res = s.handle(ctx, p.Name, p.Arguments, signin.New(ss.notify, p.Meta.progressToken()))
	}
	if e.modern {
		res.modern(s.info())
	}
	return result(id, res)
}

// handle forwards a call of one backend tool.
func (s *Server) handle(ctx context.Context, name string, args json.RawMessage, ui *signin.UI) *callToolResult {
	if s.cfg.ConfigErr != nil {
		return toolError(configMessage(s.cfg.ConfigErr))
	}
	if len(args) == 0 {
		args = json.RawMessage("null")
	}
	if args[0] != '{' && string(args) != "null" {
		return toolError("arguments must be a JSON object")
	}
	defer ui.Stop()
	res, err := s.call(ctx, name, args, ui)
	if err != nil {
		s.cfg.Logger.Warn("tool call failed", "tool", name, "err", err)
		return toolError(message(err))
	}
	return toMCP(res)
}

// call forwards one call, getting a token first when the tool needs one,
// and retries once after a 401 (new token) or a 403 insufficient_scope
// (step-up login).
func (s *Server) call(ctx context.Context, name string, args json.RawMessage, ui *signin.UI) (*forward.Result, error) {
	e, _ := s.entry(name)
	t := e.fwd
	var tok secret.Value
	if t.Meta.RequiresAuth && s.cfg.Resolved != nil && !s.cfg.Resolved() {
		res, err := s.cfg.Backend.CallTool(ctx, name, args, tok)
		var ae *forward.AuthError
		if !errors.As(err, &ae) || ae.Status != 401 {
			return res, err // answered, or failed, without a token
		}
		if ae.Challenge.ResourceMetadata != "" && s.cfg.Hint != nil {
			s.cfg.Hint(ae.Challenge.ResourceMetadata)
		}
	}
	if t.Meta.RequiresAuth {
		var err error
		if tok, err = s.cfg.Broker.Token(ctx, ui); err != nil {
			return nil, err
		}
	}
	res, err := s.cfg.Backend.CallTool(ctx, name, args, tok)
	var ae *forward.AuthError
	if !errors.As(err, &ae) {
		return res, err
	}
	switch {
	case ae.Status == 401:
		s.cfg.Logger.Info("backend answered 401; getting a new token", "tool", name)
		tok, err = s.cfg.Broker.Unauthorized(ctx, tok, ui)
	case ae.InsufficientScope():
		s.cfg.Logger.Info("backend needs more scope; signing in again", "tool", name, "scope", ae.Challenge.Scope)
		tok, err = s.cfg.Broker.StepUp(ctx, tok, ae.Challenge.Scope, ui)
	default:
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	res, err = s.cfg.Backend.CallTool(ctx, name, args, tok)
	if errors.As(err, &ae) && ae.InsufficientScope() {
		s.cfg.Broker.NotGranted(ae.Challenge.Scope)
	}
	return res, err
}

func configMessage(err error) string {
	return "keyrelay is not configured: " + err.Error() + ". Set it in the env of this MCP server's configuration."
}

// message is the text a person sees for a failed call.
func message(err error) string {
	var be *forward.BackendError
	var ae *forward.AuthError
	switch {
	case errors.As(err, &be):
		return be.Reason
	case errors.As(err, &ae) && ae.Status == 401:
		return "the backend refused the token even after a refresh; run `relay login` or try again"
	case errors.As(err, &ae):
		return "the backend refused access (" + forward.Sanitize(ae.Challenge.Error, 40) + "); your account may lack the permission"
	}
	return err.Error()
}

// toMCP checks the backend's result and makes the client's of it.
func toMCP(r *forward.Result) *callToolResult {
	out := &callToolResult{IsError: r.IsError, Content: make([]json.RawMessage, 0, len(r.Content))}
	for _, raw := range r.Content {
		c, err := content(raw)
		if err != nil {
			return toolError("the backend sent a content block keyrelay cannot read")
		}
		out.Content = append(out.Content, c)
	}
	if len(r.StructuredContent) > 0 && r.StructuredContent[0] == '{' {
		out.StructuredContent = r.StructuredContent
	}
	return out
}
