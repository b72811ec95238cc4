package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/forward"
)

// handler forwards calls of one tool.
func (s *Server) handler(name string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if s.cfg.ConfigErr != nil {
			return mcp.NewToolResultError(configMessage(s.cfg.ConfigErr)), nil
		}
		args, err := json.Marshal(req.GetRawArguments())
		if err != nil || (len(args) > 0 && args[0] != '{' && string(args) != "null") {
			return mcp.NewToolResultError("arguments must be a JSON object"), nil
		}
		ui := &callUI{s: s, token: progressToken(req)}
		defer ui.stop()
		res, err := s.call(ctx, name, args, ui)
		if err != nil {
			s.cfg.Logger.Warn("tool call failed", "tool", name, "err", err)
			return mcp.NewToolResultError(message(err)), nil
		}
		return toMCP(res)
	}
}

// call forwards one call, getting a token first when the tool needs one,
// and retries once after a 401 (new token) or a 403 insufficient_scope
// (step-up login).
func (s *Server) call(ctx context.Context, name string, args json.RawMessage, ui *callUI) (*forward.Result, error) {
	t, _ := s.tool(name)
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

func toMCP(r *forward.Result) (*mcp.CallToolResult, error) {
	out := &mcp.CallToolResult{IsError: r.IsError, Content: make([]mcp.Content, 0, len(r.Content))}
	for _, raw := range r.Content {
		c, err := mcp.UnmarshalContent(raw)
		if err != nil {
			return mcp.NewToolResultError("the backend sent a content block keyrelay cannot read"), nil
		}
		out.Content = append(out.Content, c)
	}
	if len(r.StructuredContent) > 0 && r.StructuredContent[0] == '{' {
		out.StructuredContent = r.StructuredContent
	}
	return out, nil
}

func progressToken(req mcp.CallToolRequest) mcp.ProgressToken {
	if req.Params.Meta == nil {
		return nil
	}
	return req.Params.Meta.ProgressToken
}

// callUI tells the MCP client about a login during one call: an MCP log
// message with the URL, and progress notifications while waiting when the
// client gave a progress token.
type callUI struct {
	s     *Server
	token mcp.ProgressToken
	once  sync.Once
	done  chan struct{}
}

func (u *callUI) LoginURL(ctx context.Context, url string) {
	u.show(ctx, "Sign-in needed. If no browser opened, open this URL: "+url, "sign-in needed; if no browser opened, open "+url)
}

// DeviceCode shows a device-grant sign-in: the URI to open on any device
// and the code to enter.
func (u *callUI) DeviceCode(ctx context.Context, uri, code string) {
	msg := "Sign-in needed: open " + uri + " on any device and enter the code " + code
	u.show(ctx, msg, msg)
}

// show sends msg as an MCP log message and first as the progress message.
func (u *callUI) show(ctx context.Context, msg, first string) {
	// Alert: the person must act now. It also passes mcp-go's default
	// threshold (error) for clients that never set a log level.
	u.s.notify(ctx, mcp.LoggingLevelAlert, msg)
	if u.token == nil {
		return
	}
	u.once.Do(func() {
		u.done = make(chan struct{})
		go u.progress(ctx, u.done, first)
	})
}

// progress sends a progress notification every 2 s until the call ends.
// The first carries the sign-in URL: in the 2026-07-28 era it is the only
// channel that reaches the person without the client asking for logs.
func (u *callUI) progress(ctx context.Context, done chan struct{}, first string) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		msg := fmt.Sprintf("waiting for sign-in in the browser (%ds)", 2*(n-1))
		if n == 1 {
			msg = first
		}
		_ = u.s.mcp.SendNotificationToClient(ctx, "notifications/progress",
			map[string]any{"progressToken": u.token, "progress": n, "message": msg})
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (u *callUI) stop() {
	if u.done != nil {
		close(u.done)
	}
}
