package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/keyrelay/keyrelay/backend/bearer"
)

// MaxBody is the largest tool-call body accepted.
const MaxBody = 1 << 20

// Validator checks a bearer token. *bearer.Validator implements it.
// Validate must be safe for concurrent use and must return an error
// wrapping bearer.ErrInvalidToken for a bad token.
type Validator interface {
	Validate(ctx context.Context, raw string) (*bearer.Token, error)
}

var _ Validator = (*bearer.Validator)(nil)

// Config configures a Server.
type Config struct {
	// PublicURL is the backend's canonical URL: the resource in the
	// protected resource metadata and the audience tokens must carry.
	PublicURL string
	// AuthServers are the issuers listed in the protected resource metadata.
	AuthServers []string
	// ScopesSupported is listed in the metadata. Default: the union of the
	// registered tools' scopes.
	ScopesSupported []string
	// Validator checks tokens. Nil means no token is ever accepted, so only
	// public tools work.
	Validator Validator
	// DPoP, if set, accepts DPoP-bound tokens with their proofs (RFC 9449)
	// and, with Require, nothing else. Nil: bearer tokens only, and a
	// token bound to a key (cnf.jkt) is refused.
	DPoP *bearer.DPoP
	// Logger gets one line per call, with the request id and the subject.
	Logger *slog.Logger
}

// Server serves registered tools. Register all tools before serving.
type Server struct {
	cfg   Config
	mu    sync.RWMutex
	tools map[string]*entry
	order []string
}

type entry struct {
	Tool
	schema *schema
}

// NewServer returns a Server with no tools.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Server{cfg: cfg, tools: map[string]*entry{}}
}

var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ErrRegister is wrapped by every Register failure.
var ErrRegister = errors.New("tool: cannot register")

// Register adds t. It fails on a bad or duplicate name, a missing handler,
// or an input schema that is not a supported "type":"object" schema.
func (s *Server) Register(t Tool) error {
	if !toolName.MatchString(t.Name) {
		return fmt.Errorf("%w: bad name %q", ErrRegister, t.Name)
	}
	if t.Handler == nil {
		return fmt.Errorf("%w %s: no handler", ErrRegister, t.Name)
	}
	sc, err := compileSchema(t.InputSchema)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrRegister, t.Name, err)
	}
	if len(sc.types) != 1 || sc.types[0] != "object" {
		return fmt.Errorf("%w %s: input schema must have \"type\":\"object\"", ErrRegister, t.Name)
	}
	if len(t.Scopes) > 0 {
		t.RequiresAuth = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.tools[t.Name]; dup {
		return fmt.Errorf("%w %s: already registered", ErrRegister, t.Name)
	}
	s.tools[t.Name] = &entry{Tool: t, schema: sc}
	s.order = append(s.order, t.Name)
	return nil
}

func (s *Server) lookup(name string) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tools[name]
}

// Handler returns the HTTP handler for the tool API and the protected
// resource metadata.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mcp/tools", s.list)
	mux.HandleFunc("POST /mcp/tools/{name}", s.call)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.resourceMetadata)
	return WithRequestID(mux)
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	out := make([]listing, 0, len(s.order))
	for _, n := range s.order {
		t := s.tools[n]
		scopes := t.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		out = append(out, listing{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema,
			Meta: listingMeta{RequiresAuth: t.RequiresAuth, Scopes: scopes}})
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"tools": out})
}

// ResourceMetadataURL is the RFC 9728 metadata URL named in challenges.
func (s *Server) ResourceMetadataURL() string {
	return s.cfg.PublicURL + "/.well-known/oauth-protected-resource"
}

func (s *Server) resourceMetadata(w http.ResponseWriter, _ *http.Request) {
	scopes := s.cfg.ScopesSupported
	if scopes == nil {
		scopes = s.allScopes()
	}
	md := map[string]any{
		"resource":                 s.cfg.PublicURL,
		"authorization_servers":    nonNil(s.cfg.AuthServers),
		"scopes_supported":         scopes,
		"bearer_methods_supported": []string{"header"},
	}
	if d := s.cfg.DPoP; d != nil && d.Verifier != nil {
		// RFC 9728 §2: the proof algorithms this resource accepts, and
		// whether it takes DPoP-bound tokens only.
		md["dpop_signing_alg_values_supported"] = d.Verifier.Algs()
		md["dpop_bound_access_tokens_required"] = d.Require
	}
	writeJSON(w, http.StatusOK, md)
}

func (s *Server) allScopes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{}
	out := []string{}
	for _, t := range s.tools {
		for _, sc := range t.Scopes {
			if !seen[sc] {
				seen[sc] = true
				out = append(out, sc)
			}
		}
	}
	sort.Strings(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
