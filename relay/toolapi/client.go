package toolapi

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
	"github.com/keyrelay/keyrelay/relay/authhttp"
	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// DefaultMaxBody caps a backend response.
const DefaultMaxBody = 4 << 20

// Client talks to one backend's tool API: GET /mcp/tools and
// POST /mcp/tools/{name}. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
	maxBody int64
}

// NewClient returns a Client for baseURL over rt (the auth layer), each
// exchange bounded by timeout; a sign-in inside rt is not. Redirects are
// never followed, so the token cannot be sent elsewhere.
func NewClient(baseURL string, timeout time.Duration, rt http.RoundTripper) *Client {
	return &Client{base: strings.TrimSuffix(baseURL, "/"), timeout: timeout, maxBody: DefaultMaxBody,
		http: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// BaseTransport is the transport under the auth layer: it bounds the wait
// for the backend's response headers.
func BaseTransport(timeout time.Duration) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	return t
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
// are kept raw for the MCP layer to check and pass on.
type Result struct {
	Content           []json.RawMessage `json:"content"`
	StructuredContent json.RawMessage   `json:"structuredContent,omitempty"`
	IsError           bool              `json:"isError"`
}

// ListTools fetches the tool list, without a token: it is public.
func (c *Client) ListTools(ctx context.Context) ([]Tool, error) {
	var out struct {
		Tools []Tool `json:"tools"`
	}
	if err := c.do(authhttp.WithMode(ctx, authhttp.None), http.MethodGet, "/mcp/tools", nil, &out); err != nil {
		return nil, err
	}
	for _, t := range out.Tools {
		if t.Name == "" || len(t.InputSchema) == 0 || t.InputSchema[0] != '{' {
			return nil, &BackendError{Reason: "the backend listed a tool without a name or input schema"}
		}
	}
	return out.Tools, nil
}

// CallTool calls name with args (a JSON object or nil). A tool that needs
// a sign-in goes with a token; one that does not goes first without, and
// signs in only if the backend answers 401.
func (c *Client) CallTool(ctx context.Context, name string, args json.RawMessage, needsAuth bool) (*Result, error) {
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	body, err := json.Marshal(map[string]json.RawMessage{"arguments": args})
	if err != nil {
		return nil, &BackendError{Reason: "arguments are not valid JSON"}
	}
	mode := authhttp.Anonymous
	if needsAuth {
		mode = authhttp.SignIn
	}
	var res Result
	if err := c.do(authhttp.WithMode(ctx, mode), http.MethodPost, "/mcp/tools/"+url.PathEscape(name), body, &res); err != nil {
		return nil, err
	}
	if res.Content == nil {
		return nil, &BackendError{Reason: "the backend answered without content"}
	}
	return &res, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return &BackendError{Reason: "bad backend URL"}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var t front.Texter
		if errors.As(err, &t) {
			return err // the auth layer's: a refused token, a sign-in
		}
		return transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := c.read(resp)
	if err != nil {
		return err
	}
	return decode(resp, raw, out)
}

// read reads the body within the timeout: a backend that sends its headers
// and then stalls does not hold the call forever.
func (c *Client) read(resp *http.Response) ([]byte, error) {
	stop := time.AfterFunc(c.timeout, func() { resp.Body.Close() })
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	late := !stop.Stop()
	switch {
	case late:
		return nil, &BackendError{Reason: "the backend did not answer in time", cause: err}
	case err != nil && isTimeout(err):
		return nil, &BackendError{Reason: "the backend did not answer in time", cause: err}
	case err != nil:
		return nil, &BackendError{Reason: "reading the backend's response failed", cause: err}
	case int64(len(raw)) > c.maxBody:
		return nil, &BackendError{Reason: fmt.Sprintf("the backend's response is over %d bytes", c.maxBody)}
	}
	return raw, nil
}

func decode(resp *http.Response, raw []byte, out any) error {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		ch, _ := oauth.ParseChallenge(resp.Header.Values("WWW-Authenticate"))
		return &authhttp.AuthError{Status: resp.StatusCode, Challenge: ch, Peer: "backend"}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return &BackendError{Status: resp.StatusCode, Reason: describe(raw, resp.StatusCode, sentToken(resp))}
	case resp.StatusCode != http.StatusOK:
		return &BackendError{Status: resp.StatusCode, Reason: fmt.Sprintf("the backend answered %d", resp.StatusCode)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &BackendError{Status: resp.StatusCode, Reason: "the backend's response is not valid JSON"}
	}
	return nil
}

// sentToken is the token the request that got resp carried (the auth
// layer's copy of the request), so that an error that echoes it can be
// scrubbed.
func sentToken(resp *http.Response) secret.Value {
	if resp.Request == nil {
		return secret.Value{}
	}
	auth := resp.Request.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return secret.New(auth[7:])
	}
	return secret.Value{}
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
	msg := secret.Scrub(e.Description, 300, token)
	if msg == "" {
		msg = secret.Scrub(e.Error, 60, token)
	}
	if msg == "" {
		return fmt.Sprintf("the backend answered %d", status)
	}
	return fmt.Sprintf("the backend refused the call (%d): %s", status, msg)
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
