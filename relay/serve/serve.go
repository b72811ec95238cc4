// Package serve is the relay's MCP stdio server: it answers initialize and
// server/discover at once, lists the backend's tools (cached briefly), and
// forwards tools/call with a token from the broker, refreshing or logging
// in as needed.
//
// Start-up never waits for the network or a login: the first network call
// is the first tools/list, and the first login happens on the first call of
// a tool that needs it. A bad configuration does not stop the server; every
// tool call answers with the reason instead.
//
// Security properties: stdout carries protocol messages only (the caller
// passes the real stdout and points os.Stdout elsewhere); tokens never
// appear in results, logs or MCP log messages; the backend's answers are
// passed on as tool results, and a broken backend gives isError results,
// never a crash.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

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
}

// Server is the relay's MCP server.
type Server struct {
	cfg Config
	mcp *server.MCPServer

	// reg serialises changes to the registered tool set (install and
	// placeholder), so a slow registration never overwrites a newer one.
	reg sync.Mutex

	mu      sync.Mutex
	tools   map[string]forward.Tool
	names   string // sorted names of the registered tools
	fetched time.Time
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
	s := &Server{cfg: cfg, tools: map[string]forward.Tool{}}
	hooks := &server.Hooks{}
	hooks.AddBeforeListTools(func(ctx context.Context, _ any, _ *mcp.ListToolsRequest) { s.refreshTools(ctx, false) })
	hooks.AddBeforeCallTool(func(ctx context.Context, _ any, req *mcp.CallToolRequest) {
		if !s.known(req.Params.Name) {
			s.refreshTools(ctx, true)
		}
		if !s.known(req.Params.Name) {
			s.placeholder(req.Params.Name)
		}
	})
	s.mcp = server.NewMCPServer("keyrelay", cfg.Version,
		server.WithPaginationLimit(1000),
		server.WithToolCapabilities(true),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithHooks(hooks),
		server.WithInstructions("keyrelay forwards these tools to an OAuth-protected backend. "+
			"When a tool needs a sign-in, a browser opens; if it cannot, the tool result contains the URL to open."),
	)
	if cfg.ConfigErr != nil {
		// Nothing can be listed; show the reason as a tool, so the person
		// sees it in the client.
		s.placeholder(statusTool)
	}
	return s
}

// statusTool is listed when the relay cannot list the backend's tools.
const statusTool = "keyrelay_status"

// placeholder registers name with a handler that explains why the tool
// cannot be called: a bad configuration, or a backend that could not list
// its tools. It is replaced by the backend's list once one is fetched.
func (s *Server) placeholder(name string) {
	if len(name) > 128 {
		return
	}
	s.reg.Lock()
	defer s.reg.Unlock()
	if s.known(name) {
		return // registered meanwhile by a successful list
	}
	s.mu.Lock()
	s.tools[name] = forward.Tool{Name: name}
	s.names = "" // the next successful list re-registers everything
	s.mu.Unlock()
	s.mcp.AddTool(mcp.NewToolWithRawSchema(name, "keyrelay cannot reach or use the backend; call this to see why", json.RawMessage(`{"type":"object"}`)),
		func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if s.cfg.ConfigErr != nil {
				return mcp.NewToolResultError(configMessage(s.cfg.ConfigErr)), nil
			}
			_, err := s.cfg.Backend.ListTools(ctx, secret.Value{})
			if err == nil {
				return mcp.NewToolResultError("the backend is reachable again; list the tools anew"), nil
			}
			return mcp.NewToolResultError("keyrelay cannot list the backend's tools: " + message(err)), nil
		})
}

// Serve runs the stdio protocol on in and out until in ends or ctx ends.
func (s *Server) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	std := server.NewStdioServer(s.mcp)
	std.SetErrorLogger(log.New(slogWriter{s.cfg.Logger}, "", 0))
	err := std.Listen(ctx, &lineLimit{r: in, max: MaxMessage}, out)
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (s *Server) known(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tools[name]
	return ok
}

func (s *Server) tool(name string) (forward.Tool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tools[name]
	return t, ok
}

// refreshTools fetches the backend's list when the cache is stale (or
// force), and re-registers the tools if their names changed. Failures keep
// the last list and are logged.
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

func (s *Server) install(list []forward.Tool) {
	s.reg.Lock()
	defer s.reg.Unlock()
	byName := make(map[string]forward.Tool, len(list))
	names := make([]string, 0, len(list))
	st := make([]server.ServerTool, 0, len(list))
	for _, t := range list {
		mt := mcp.NewToolWithRawSchema(t.Name, t.Description, t.InputSchema)
		if err := mcp.ValidateParamHeaderAnnotations(&mt); err != nil {
			s.cfg.Logger.Warn("skipping a tool the backend listed with a bad schema", "tool", forward.Sanitize(t.Name, 64), "err", err)
			continue
		}
		byName[t.Name] = t
		names = append(names, t.Name)
		st = append(st, server.ServerTool{Tool: mt, Handler: s.handler(t.Name)})
	}
	sort.Strings(names)
	joined := strings.Join(names, "\x00")
	s.mu.Lock()
	changed := joined != s.names
	s.mu.Unlock()
	if changed {
		s.mcp.SetTools(st...)
	}
	s.mu.Lock()
	s.tools, s.names, s.fetched = byName, joined, s.cfg.Now()
	s.mu.Unlock()
}

// notify sends an MCP log message; it is best effort.
func (s *Server) notify(ctx context.Context, level mcp.LoggingLevel, msg string) {
	_ = s.mcp.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(level, "keyrelay", msg))
}

// slogWriter adapts mcp-go's *log.Logger output to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("mcp transport", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
