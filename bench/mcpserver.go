package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// runMCPServer is the `bench mcpserver` child: an MCP Streamable HTTP
// server with the backend's echo and whoami tools, behind JWT validation
// with golang-jwt and the issuer's JWKS, using the same parser options as
// package bearer (which the import rules keep bench from importing). It is
// what mcp-remote is put in front of. It prints its URL on stdout when
// ready.
func runMCPServer(args []string) error {
	fs := flag.NewFlagSet("mcpserver", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "expected token issuer (JWKS discovered from it)")
	audience := fs.String("audience", "", "expected token audience")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	v, err := newValidator(ctx, *issuer, *audience)
	if err != nil {
		return err
	}
	s := server.NewMCPServer("bench-streamable", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewToolWithRawSchema("echo", "Return the message unchanged.",
		json.RawMessage(`{"type":"object","properties":{"message":{"type":"string","maxLength":10000}},"required":["message"],"additionalProperties":false}`)),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("message", "")), nil
		})
	s.AddTool(mcp.NewToolWithRawSchema("whoami", "Show who you are logged in as.", json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)),
		func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			t, ok := ctx.Value(tokenKey{}).(*claims)
			if !ok {
				return mcp.NewToolResultError("authentication required"), nil
			}
			b, _ := json.Marshal(map[string]any{"subject": t.Subject, "scopes": strings.Fields(t.Scope), "client_id": t.ClientID,
				"issuer": t.Issuer, "expires": t.ExpiresAt.UTC().Format(time.RFC3339)})
			return mcp.NewToolResultText(string(b)), nil
		})
	h := server.NewStreamableHTTPServer(s, server.WithHTTPContextFunc(func(ctx context.Context, r *http.Request) context.Context {
		if t, ok := r.Context().Value(tokenKey{}).(*claims); ok {
			return context.WithValue(ctx, tokenKey{}, t)
		}
		return ctx
	}))
	mux := http.NewServeMux()
	mux.Handle("/mcp", authenticate(v, h))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "http://%s/mcp\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

type tokenKey struct{}

// claims is what the whoami tool shows.
type claims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// validator checks access tokens like package bearer's key-set mode.
type validator struct {
	parser *jwt.Parser
	keys   jwt.Keyfunc
}

// newValidator finds the issuer's JWKS from its RFC 8414 metadata.
func newValidator(ctx context.Context, issuer, audience string) (*validator, error) {
	resp, err := http.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var md struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.JWKSURI == "" {
		return nil, fmt.Errorf("issuer metadata without jwks_uri: %v", err)
	}
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{md.JWKSURI})
	if err != nil {
		return nil, err
	}
	return &validator{keys: kf.Keyfunc, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}),
		jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second), jwt.WithStrictDecoding(),
	)}, nil
}

// authenticate validates a bearer token when one is sent (401 when it is
// bad) and passes the caller on in the request context.
func authenticate(v *validator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if ok && len(raw) <= 8<<10 {
			var c claims
			if _, err := v.parser.ParseWithClaims(raw, &c, v.keys); err == nil {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, &c)))
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
	})
}
