package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// DefaultMaxBody caps a backend response.
const DefaultMaxBody = 4 << 20

// Client talks to one backend. It is safe for concurrent use.
type Client struct {
	// BaseURL is the backend's URL, without a trailing slash.
	BaseURL string
	// HTTP is the client used; default has a 60 s timeout. Redirects are
	// never followed, so the token cannot be sent elsewhere.
	HTTP *http.Client
	// MaxBody caps a response. Default DefaultMaxBody.
	MaxBody int64
}

// New returns a Client for baseURL with a per-request timeout.
func New(baseURL string, timeout time.Duration) *Client {
	return &Client{
		BaseURL: strings.TrimSuffix(baseURL, "/"),
		HTTP: &http.Client{
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Tool is a tool as the backend lists it.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Meta        ToolMeta        `json:"_meta"`
}

// ToolMeta is what the backend says a tool needs.
type ToolMeta struct {
	RequiresAuth bool     `json:"requiresAuth"`
	Scopes       []string `json:"scopes"`
}

// Result is an MCP CallToolResult as the backend sent it. Content blocks
// are kept raw for the MCP layer to pass on.
type Result struct {
	Content           []json.RawMessage `json:"content"`
	StructuredContent json.RawMessage   `json:"structuredContent,omitempty"`
	IsError           bool              `json:"isError"`
}

// ListTools fetches the tool list. token may be zero.
func (c *Client) ListTools(ctx context.Context, token secret.Value) ([]Tool, error) {
	var out struct {
		Tools []Tool `json:"tools"`
	}
	if err := c.do(ctx, http.MethodGet, "/mcp/tools", nil, token, &out); err != nil {
		return nil, err
	}
	for _, t := range out.Tools {
		if t.Name == "" || len(t.InputSchema) == 0 || t.InputSchema[0] != '{' {
			return nil, &BackendError{Reason: "the backend listed a tool without a name or input schema"}
		}
	}
	return out.Tools, nil
}

// CallTool calls name with args (a JSON object or nil). token may be zero.
func (c *Client) CallTool(ctx context.Context, name string, args json.RawMessage, token secret.Value) (*Result, error) {
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	body, err := json.Marshal(map[string]json.RawMessage{"arguments": args})
	if err != nil {
		return nil, &BackendError{Reason: "arguments are not valid JSON"}
	}
	var res Result
	if err := c.do(ctx, http.MethodPost, "/mcp/tools/"+url.PathEscape(name), body, token, &res); err != nil {
		return nil, err
	}
	if res.Content == nil {
		return nil, &BackendError{Reason: "the backend answered without content"}
	}
	return &res, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, token secret.Value, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return &BackendError{Reason: "bad backend URL"}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := c.read(resp.Body)
	if err != nil {
		return err
	}
	return decode(resp, raw, out, token)
}

func (c *Client) read(r io.Reader) ([]byte, error) {
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		if isTimeout(err) {
			return nil, &BackendError{Reason: "the backend did not answer in time", cause: err}
		}
		return nil, &BackendError{Reason: "reading the backend's response failed", cause: err}
	}
	if int64(len(raw)) > max {
		return nil, &BackendError{Reason: fmt.Sprintf("the backend's response is over %d bytes", max)}
	}
	return raw, nil
}

func decode(resp *http.Response, raw []byte, out any, token secret.Value) error {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ch, _ := ParseChallenge(resp.Header.Values("WWW-Authenticate"))
		return &AuthError{Status: resp.StatusCode, Challenge: ch}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &BackendError{Status: resp.StatusCode, Reason: describe(raw, resp.StatusCode, token)}
	case resp.StatusCode != http.StatusOK:
		return &BackendError{Status: resp.StatusCode, Reason: fmt.Sprintf("the backend answered %d", resp.StatusCode)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &BackendError{Status: resp.StatusCode, Reason: "the backend's response is not valid JSON"}
	}
	return nil
}

// describe extracts a short, printable error_description from a 4xx body,
// with the access token the request carried replaced by REDACTED, should
// the backend echo it.
func describe(raw []byte, status int, token secret.Value) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := Sanitize(scrub(e.Description, token), 300)
	if msg == "" {
		msg = Sanitize(scrub(e.Error, token), 60)
	}
	if msg == "" {
		return fmt.Sprintf("the backend answered %d", status)
	}
	return fmt.Sprintf("the backend refused the call (%d): %s", status, msg)
}

// scrub keeps the printable ASCII of s and replaces token in it. Filtering
// first catches a token split by control characters.
func scrub(s string, token secret.Value) string {
	s = Sanitize(s, len(s))
	if t := token.Reveal(); t != "" {
		s = strings.ReplaceAll(s, t, secret.Redacted)
	}
	return s
}

func transportError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return &BackendError{Reason: "the call was cancelled", cause: err}
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return &BackendError{Reason: "the backend did not answer in time", cause: err}
	}
	return &BackendError{Reason: "the backend is unreachable", cause: err}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Sanitize keeps printable ASCII and spaces of s, capped at max bytes.
func Sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("...")
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
