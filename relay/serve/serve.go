// Package serve is the relay's MCP stdio server: it answers initialize and
// server/discover at once, lists the backend's tools (cached briefly), and
// forwards tools/call with a token from the broker, refreshing or logging
// in as needed. It speaks both protocol eras on one stdio stream: the 2025
// era (initialize, then requests) and the 2026-07-28 era (server/discover,
// and every request carrying its revision and the client's capabilities in
// _meta).
//
// Start-up never waits for the network or a login: the first network call
// is the first tools/list, and the first login happens on the first call of
// a tool that needs it. With Config.Wire, the handshake does not wait for
// the policy or the vault either. A bad configuration does not stop the
// server; every tool call answers with the reason instead.
//
// Security properties: stdout carries protocol messages only (the caller
// passes the real stdout and points os.Stdout elsewhere); tokens never
// appear in results, logs or MCP log messages; the backend's answers are
// passed on as tool results, and a broken backend gives isError results,
// never a crash.
//
// The JSON-RPC layer and the result types are written here rather than
// taken from mcp-go: its server package's init (JSON Schema meta-schemas)
// cost the relay's cold start 12-15 ms, and its mcp package's dependencies
// (another JSON Schema library, html/template) most of the package
// initialisation left; internal/mcp holds the protocol names. The answers
// are byte for byte those mcp-go v1.2.1 gave, but for content blocks other
// than text, which are passed on as the backend sent them.
//
// Non-goals: resources, prompts, tasks, completions, and requests from the
// server to the client (sampling, elicitation, roots).
package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/forward"
)

// Config wires a Server.
type Config struct {
	Backend   *forward.Client // nil when ConfigErr is set
	Broker    *broker.Broker  // nil when ConfigErr is set
	ConfigErr error           // answered to every tool call when set
	Version   string
	Logger    *slog.Logger
	ListTTL   time.Duration // tool list cache; default 30 s
	// Resolved and Hint, if set, let the first call of a tool that needs
	// a sign-in go to the backend without a token when the authorization
	// server is not known yet, so that its 401 challenge can name the
	// protected resource metadata (RFC 9728 §5).
	Resolved func() bool
	Hint     func(resourceMetadata string)
	Now      func() time.Time
	// Wire, if set, completes the configuration: it sets Backend, Broker,
	// ConfigErr, Resolved and Hint. The server calls it once, before the
	// first tools/list or tools/call, so that answering the handshake
	// never waits for it (reading the policy, opening the vault).
	Wire func(*Config)
}

// Server is the relay's MCP server.
type Server struct {
	cfg Config

	// wire runs cfg.Wire; the fields it sets are read only after it.
	wire sync.Once

	// reg serialises changes to the registered tool set (install and
	// placeholder), so a slow registration never overwrites a newer one.
	reg sync.Mutex

	mu      sync.Mutex
	tools   map[string]entry
	names   string // sorted names of the registered tools
	fetched time.Time
	sess    *session // the connection Serve is running, for list_changed
}

// entry is one registered tool: a backend tool, or a placeholder that
// explains why the backend's tools are not available.
type entry struct {
	def         tool
	fwd         forward.Tool
	placeholder bool
}

// New builds the server. It makes no network call.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ListTTL <= 0 {
		cfg.ListTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, tools: map[string]entry{}}
	if cfg.Wire == nil {
		s.configured()
	}
	return s
}

// wired completes the configuration, once; every use of the fields Wire
// sets comes after it.
func (s *Server) wired() {
	s.wire.Do(func() {
		if s.cfg.Wire != nil {
			s.cfg.Wire(&s.cfg)
			s.configured()
		}
	})
}

// configured registers the status tool when the configuration is bad:
// nothing can be listed, so the reason is shown as a tool, where the
// person sees it. Like the tools known at start, it comes without a
// list_changed notification.
func (s *Server) configured() {
	if s.cfg.ConfigErr != nil {
		s.register(statusTool)
	}
}

func (s *Server) info() mcp.Implementation {
	return mcp.Implementation{Name: "keyrelay", Version: s.cfg.Version}
}

func (s *Server) attach(ss *session) {
	s.mu.Lock()
	s.sess = ss
	s.mu.Unlock()
}

// listChanged tells the client that the tool list changed, if a client is
// connected and initialized.
func (s *Server) listChanged() {
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	if ss != nil {
		ss.notify(context.Background(), mcp.MethodNotificationToolsListChanged, nil)
	}
}

// statusTool is listed when the relay cannot list the backend's tools.
const statusTool = "keyrelay_status"

// placeholder registers name as a tool that explains why it cannot be
// called: a bad configuration, or a backend that could not list its tools.
// It is replaced by the backend's list once one is fetched.
func (s *Server) placeholder(name string) {
	if s.register(name) {
		s.listChanged()
	}
}

// register adds the placeholder name, and reports whether it did.
func (s *Server) register(name string) bool {
	if name == "" || len(name) > 128 || s.placeholders() >= maxPlaceholders {
		return false // a client calling made-up names cannot grow the list without bound
	}
	s.reg.Lock()
	defer s.reg.Unlock()
	if s.known(name) {
		return false // registered meanwhile by a successful list
	}
	def := tool{Name: name, Description: "keyrelay cannot reach or use the backend; call this to see why", InputSchema: json.RawMessage(`{"type":"object"}`)}
	s.mu.Lock()
	s.tools[name] = entry{def: def, fwd: forward.Tool{Name: name}, placeholder: true}
	s.names = "" // the next successful list re-registers everything
	s.mu.Unlock()
	return true
}

// maxPlaceholders bounds the placeholder tools a client can cause.
const maxPlaceholders = 64

func (s *Server) placeholders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.tools {
		if t.placeholder {
			n++
		}
	}
	return n
}

// placeholderCall answers a call of a placeholder tool.
func (s *Server) placeholderCall(ctx context.Context) *callToolResult {
	if s.cfg.ConfigErr != nil {
		return toolError(configMessage(s.cfg.ConfigErr))
	}
	if _, err := s.cfg.Backend.ListTools(ctx, secret.Value{}); err != nil {
		return toolError("keyrelay cannot list the backend's tools: " + message(err))
	}
	return toolError("the backend is reachable again; list the tools anew")
}

func (s *Server) known(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tools[name]
	return ok
}

func (s *Server) entry(name string) (entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tools[name]
	return t, ok
}

// list returns the registered tools' definitions, sorted by name.
func (s *Server) list() []tool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]tool, 0, len(s.tools))
	for _, t := range s.tools {
		out = append(out, t.def)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// refreshTools fetches the backend's list when the cache is stale (or
// force), and re-registers the tools. Failures keep the last list and are
// logged.
func (s *Server) refreshTools(ctx context.Context, force bool) {
	if s.cfg.ConfigErr != nil {
		return
	}
	s.mu.Lock()
	fresh := !s.fetched.IsZero() && s.cfg.Now().Sub(s.fetched) < s.cfg.ListTTL
	s.mu.Unlock()
	if fresh && !force {
		return
	}
	list, err := s.cfg.Backend.ListTools(ctx, secret.Value{})
	if err != nil {
		s.cfg.Logger.Warn("could not list the backend's tools", "err", err)
		s.notify(ctx, mcp.LoggingLevelWarning, "keyrelay could not list the backend's tools: "+err.Error())
		return
	}
	s.install(list)
}

// install replaces the registered tools with list, and tells the client
// when their names changed.
func (s *Server) install(list []forward.Tool) {
	s.reg.Lock()
	defer s.reg.Unlock()
	byName := make(map[string]entry, len(list))
	names := make([]string, 0, len(list))
	for _, t := range list {
		def := tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}
		if err := mcp.ValidateHeaders(t.InputSchema); err != nil {
			s.cfg.Logger.Warn("skipping a tool the backend listed with a bad schema", "tool", forward.Sanitize(t.Name, 64), "err", err)
			continue
		}
		if _, dup := byName[t.Name]; !dup {
			names = append(names, t.Name)
		}
		byName[t.Name] = entry{def: def, fwd: t}
	}
	sort.Strings(names)
	joined := strings.Join(names, "\x00")
	s.mu.Lock()
	changed := joined != s.names
	s.tools, s.names, s.fetched = byName, joined, s.cfg.Now()
	s.mu.Unlock()
	if changed {
		s.listChanged()
	}
}

// notify sends an MCP log message about the request ctx belongs to; it is
// best effort.
func (s *Server) notify(ctx context.Context, level mcp.LoggingLevel, msg string) {
	s.mu.Lock()
	ss := s.sess
	s.mu.Unlock()
	if ss != nil {
		ss.notify(ctx, mcp.MethodNotificationMessage, map[string]any{"level": level, "logger": "keyrelay", "data": msg})
	}
}
