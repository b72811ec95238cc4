package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/vault"
)

// TestMain removes the binaries the e2e tests built.
func TestMain(m *testing.M) { testkit.Main(m) }

// relayEnv is one relay configuration against a chain: its backend and
// authorization server, the static client "relay", a file vault key, and
// the fake browser, which signs in as the chain's user.
type relayEnv struct {
	*testkit.RelayEnv
	t        *testing.T
	c        *chain.Server
	log      string // fakebrowser's log of opened URLs
	resource string // what the tokens are for: the backend's URL, or the MCP URL
}

func newRelayEnv(t *testing.T, c *chain.Server) *relayEnv {
	t.Helper()
	e := bareEnv(t, map[string]string{"RELAY_BACKEND_URL": c.URL, "RELAY_AUTH_SERVER_URL": c.URL, "RELAY_CLIENT_ID": "relay",
		"FAKEBROWSER_USER": chain.User, "FAKEBROWSER_PASSWORD": chain.Password})
	e.c, e.resource = c, c.URL
	return e
}

// bareEnv is a relay configuration with vars, and the fake browser
// logging the URLs it opens.
func bareEnv(t *testing.T, vars map[string]string) *relayEnv {
	e := &relayEnv{RelayEnv: testkit.NewRelayEnv(t), t: t}
	e.log = filepath.Join(e.Home, "browser.log")
	e.Vars["BROWSER"], e.Vars["FAKEBROWSER_LOG"] = testkit.FakeBrowser(t), e.log
	maps.Copy(e.Vars, vars)
	return e
}

// backendEnv starts a chain and a relay configuration for its backend.
func backendEnv(t *testing.T) (*chain.Server, *relayEnv) {
	t.Helper()
	c := chain.Start(t, chain.Options{})
	return c, newRelayEnv(t, c)
}

// modes are the relay's two modes, each on a chain of its own: in front
// of the example backend's tool API, and in front of an MCP server
// (RELAY_MCP_URL) that has the same whoami and admin_stats tools.
var modes = []struct {
	name string
	env  func(t *testing.T) (*chain.Server, *relayEnv)
}{
	{"backend", backendEnv},
	{"mcp-url", func(t *testing.T) (*chain.Server, *relayEnv) { mc, _, e := mcpEnv(t, ""); return mc.Server, e }},
}

// inModes runs test in each mode, as a subtest named after it.
func inModes(t *testing.T, test func(t *testing.T, c *chain.Server, e *relayEnv)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, e := m.env(t)
			test(t, c, e)
		})
	}
}

// wantOpens stops t unless the browser was opened n times in all; what
// names the step.
func (e *relayEnv) wantOpens(t *testing.T, n int, what string) {
	t.Helper()
	if got := e.opens(); got != n {
		t.Fatalf("%s: %d browser opens in all, want %d", what, got, n)
	}
}

// opens counts browser launches so far.
func (e *relayEnv) opens() int {
	b, _ := os.ReadFile(e.log)
	return strings.Count(string(b), "open\n")
}

// vault opens the relay's vault from the test process.
func (e *relayEnv) vault() *vault.Vault {
	v, err := vault.Open(context.Background(), vault.Options{Dir: e.Dir, KeySpec: "file:" + e.KeyFile})
	testkit.NoErr(e.t, err)
	return v
}

func (e *relayEnv) account() vault.Account {
	return vault.Account{Issuer: e.c.URL, ClientID: "relay", Resource: e.resource}
}

// stored reads the relay's record from the test process, with a deadline:
// a lock left held by a killed process would make it time out. A vault
// that cannot be read (a corrupt or torn file) fails the test; no record
// is nil.
func (e *relayEnv) stored(t *testing.T) *vault.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := e.vault().Get(ctx, e.account())
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		t.Fatalf("the vault lock is still held: %v", err)
	case err != nil:
		t.Fatalf("the vault cannot be read (torn or corrupt): %v", err)
	}
	return &r
}

// expireStored moves the stored token's expiry into the past, as if time
// had passed, so the next relay process must refresh.
func (e *relayEnv) expireStored() { expire(e.t, e.vault(), e.account()) }

// expire moves the expiry of acct's record in v into the past.
func expire(t *testing.T, v *vault.Vault, acct vault.Account) {
	t.Helper()
	err := v.Update(context.Background(), acct, func(r *vault.Record) (*vault.Record, error) {
		if r == nil {
			return nil, errors.New("no stored token")
		}
		r.Expiry = time.Now().Add(-time.Minute)
		return r, nil
	})
	testkit.NoErr(t, err)
}

// hasTokens reports whether the data directory holds tokens.age.
func (e *relayEnv) hasTokens() bool {
	_, err := os.Stat(filepath.Join(e.Dir, "tokens.age"))
	return err == nil
}

// session is a relay process driven by mcp-go's stdio client, which
// answers sampling and elicitation requests and records notifications.
type session struct {
	*testkit.Session
	mu            sync.Mutex
	notes         []mcp.JSONRPCNotification
	asked, elicit int
	result        *mcp.InitializeResult
}

// start runs a relay driven by a client of the current protocol era
// (server/discover, 2026-07-28).
func (e *relayEnv) start(extra ...string) *session { return e.startEra(true, extra...) }

// startEra runs a relay driven by a client of the 2026-07-28 era (modern)
// or of the 2025 era (initialize).
func (e *relayEnv) startEra(modern bool, extra ...string) *session {
	e.t.Helper()
	s := &session{}
	s.Session = testkit.Connect(e.t, testkit.Relay(e.t), e.Environ(extra...), []string{"serve"},
		client.WithSamplingHandler(s), client.WithElicitationHandler(s))
	s.Client.OnNotification(func(n mcp.JSONRPCNotification) { s.mu.Lock(); s.notes = append(s.notes, n); s.mu.Unlock() })
	version := "" // the newest: server/discover
	if !modern {
		version = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	}
	s.result = s.Initialize(e.t, version)
	return s
}

func (s *session) CreateMessage(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	s.mu.Lock()
	s.asked++
	s.mu.Unlock()
	return &mcp.CreateMessageResult{SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent("four")}, Model: "test"}, nil
}

func (s *session) Elicit(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	s.mu.Lock()
	s.elicit++
	s.mu.Unlock()
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept,
		Content: map[string]any{"sure": true}}}, nil
}

func (s *session) timesElicited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.elicit
}

func (s *session) timesAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked
}

// waitNote waits for a notification whose method is method and whose
// params contain substr.
func (s *session) waitNote(t *testing.T, method, substr string) {
	t.Helper()
	if !testkit.Eventually(10*time.Second, func() bool { return s.countNotes(method, substr) > 0 }) {
		t.Fatalf("no %s notification with %q\n%s", method, substr, s.Stderr.String())
	}
}

// notesOf returns the params of the notifications whose method is method,
// as JSON, in order.
func (s *session) notesOf(method string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, note := range s.notes {
		if note.Method == method {
			b, _ := json.Marshal(note.Params)
			out = append(out, string(b))
		}
	}
	return out
}

// countNotes counts the notifications whose method is method and whose
// params contain every one of substrs.
func (s *session) countNotes(method string, substrs ...string) int {
	n := 0
next:
	for _, params := range s.notesOf(method) {
		for _, sub := range substrs {
			if !strings.Contains(params, sub) {
				continue next
			}
		}
		n++
	}
	return n
}

// whoami calls whoami, which must succeed for alice, and returns its text.
func (s *session) whoami(t *testing.T) string {
	t.Helper()
	out := s.MustCall(t, "whoami", nil)
	testkit.Contains(t, "whoami", out, chain.User)
	return out
}

// fails calls tool, which must fail with a text that holds each of want,
// and returns the text.
func (s *session) fails(t *testing.T, tool string, want ...string) string {
	t.Helper()
	text, isErr := s.Call(t, tool, nil)
	if !isErr {
		t.Fatalf("%s succeeded: %s", tool, text)
	}
	testkit.Contains(t, tool+" failed, but its text", text, want...)
	return text
}

// whoamiWithin calls whoami until it succeeds, within d; it must then be
// alice's.
func (s *session) whoamiWithin(t *testing.T, d time.Duration) {
	t.Helper()
	var out string
	testkit.Poll(t, d, "whoami to succeed", func() bool {
		text, isErr := s.Call(t, "whoami", nil)
		out = text
		return !isErr
	})
	testkit.Contains(t, "whoami", out, chain.User)
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
