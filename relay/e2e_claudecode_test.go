package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
)

// This file runs the real Claude Code against the relay in front of a real
// Streamable HTTP MCP server (newMCPChain): issue 8's "done when", that
// `relay serve --mcp-url URL` can stand in for `npx mcp-remote URL` in
// Claude Code's configuration. Claude Code is not installed by the tests:
// KEYRELAY_CLAUDE_CODE names its executable, and without it they skip.
// scripts/claude-code-check.sh installs a pinned version into a temporary
// directory and runs them.
//
// Claude Code runs with a private HOME and config dir, no traffic but to
// a fake Anthropic Messages API on loopback (fakeAPI), which plays a model
// that calls the MCP tools it is told to. The vault key is in this test's
// own Secret Service (testkit.StartSecretService), and the fake browser signs in.
//
// The relay bugs these tests first found with Claude Code 2.1.332 (fixed)
// are checked by checkKnownBugs and TestClaudeCode_StartupMethods.

const serverName = "remote" // the MCP server's name in Claude Code's configuration

// claudeBinary returns Claude Code's executable from KEYRELAY_CLAUDE_CODE, or
// skips; under CI it fails instead (.ci/run installs Claude Code).
func claudeBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KEYRELAY_CLAUDE_CODE")
	if bin == "" {
		testkit.SkipOrFail(t, "KEYRELAY_CLAUDE_CODE is not set: run scripts/claude-code-check.sh to install Claude Code and run these tests")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("KEYRELAY_CLAUDE_CODE: %v", err)
	}
	return bin
}

// fakeAPI is a fake Anthropic Messages API playing a model that follows a
// plan: it calls each planned tool in turn (loading it with ToolSearch
// first when Claude Code defers it), then answers with a text quoting
// every result. A request without tools (a title, a summary) gets a short
// text. It records every request and every tool result.
type fakeAPI struct {
	url  string
	plan []planStep
	mu   sync.Mutex
	log  []string          // one line per request
	got  map[string]string // tool_use id: the text of its tool_result
}

// planStep is one planned tool call.
type planStep struct {
	tool  string // as Claude Code names it: mcp__<server>__<tool>, or a built-in
	input string // JSON
}

type apiRequest struct {
	Model     string       `json:"model"`
	Stream    bool         `json:"stream"`
	MaxTokens int          `json:"max_tokens"`
	Messages  []apiMessage `json:"messages"`
	Tools     []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

type apiMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type apiBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func newFakeAPI(t *testing.T, plan ...planStep) *fakeAPI {
	a := &fakeAPI{plan: plan, got: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *fakeAPI) note(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = append(a.log, fmt.Sprintf(format, args...))
}

func (a *fakeAPI) lines() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.log, "\n")
}

// setPlan replaces the plan for the next requests.
func (a *fakeAPI) setPlan(plan ...planStep) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.plan = plan
}

// result returns the text Claude Code sent back for step i of the plan.
func (a *fakeAPI) result(i int) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.got[fmt.Sprintf("toolu_kr_%d", i)]
	return s, ok
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 32<<20))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		a.note("%s %s (%d bytes)", r.Method, r.URL.RequestURI(), len(body))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"input_tokens":42}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		var req apiRequest
		if err := json.Unmarshal(body, &req); err != nil {
			a.note("%s %s: bad JSON: %v", r.Method, r.URL.RequestURI(), err)
			http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad JSON"}}`, http.StatusBadRequest)
			return
		}
		a.messages(w, r, req, len(body))
	default:
		a.note("%s %s (%d bytes): 404", r.Method, r.URL.RequestURI(), len(body))
		http.NotFound(w, r)
	}
}

// messages answers one Messages request with the plan's next move.
func (a *fakeAPI) messages(w http.ResponseWriter, r *http.Request, req apiRequest, n int) {
	results := toolResults(req.Messages)
	a.mu.Lock()
	for id, text := range results {
		a.got[id] = text
	}
	a.mu.Unlock()
	offered := map[string]bool{}
	for _, tl := range req.Tools {
		offered[tl.Name] = true
	}
	blocks, stop := a.next(req, offered, results)
	var names []string
	for name := range offered {
		if strings.HasPrefix(name, "mcp__") || name == "ToolSearch" || strings.Contains(name, "Mcp") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	a.note("%s %s model=%s stream=%v max_tokens=%d messages=%d tools=%d %v results=%d -> %s",
		r.Method, r.URL.RequestURI(), req.Model, req.Stream, req.MaxTokens, len(req.Messages), len(req.Tools),
		names, len(results), describeBlocks(blocks))
	if req.Stream {
		streamMessage(w, req.Model, blocks, stop)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "msg_keyrelay", "type": "message", "role": "assistant", "model": req.Model, "content": blocks,
		"stop_reason": stop, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 10, "output_tokens": 5},
	})
}

// next is the model's move: the next planned call not yet answered, a
// ToolSearch for it when it is not offered, or the final text.
func (a *fakeAPI) next(req apiRequest, offered map[string]bool, results map[string]string) ([]map[string]any, string) {
	if len(req.Tools) == 0 {
		return []map[string]any{{"type": "text", "text": "ok"}}, "end_turn"
	}
	a.mu.Lock()
	plan := a.plan
	a.mu.Unlock()
	var final []string
	for i, st := range plan {
		id := fmt.Sprintf("toolu_kr_%d", i)
		if text, ok := results[id]; ok {
			final = append(final, st.tool+" said: "+text)
			continue
		}
		search := fmt.Sprintf("toolu_kr_search_%d", i)
		if _, searched := results[search]; !offered[st.tool] && offered["ToolSearch"] && !searched {
			in, _ := json.Marshal(map[string]string{"query": "select:" + st.tool})
			return []map[string]any{toolUse(search, "ToolSearch", string(in))}, "tool_use"
		}
		return []map[string]any{toolUse(id, st.tool, st.input)}, "tool_use"
	}
	if len(plan) == 0 { // echo what the user sent
		final = append(final, "you said: "+userText(req.Messages))
	}
	return []map[string]any{{"type": "text", "text": strings.Join(final, "\n")}}, "end_turn"
}

// userText is the text of the user's messages, without system reminders.
func userText(msgs []apiMessage) string {
	var out []string
	for _, b := range userBlocks(msgs) {
		if b.Type == "text" && !strings.HasPrefix(b.Text, "<system-reminder>") {
			out = append(out, b.Text)
		}
	}
	return strings.Join(out, " | ")
}

// userBlocks are the content blocks of the user's messages; a content
// that is a string is one text block.
func userBlocks(msgs []apiMessage) []apiBlock {
	var out []apiBlock
	for _, m := range msgs {
		var blocks []apiBlock
		if m.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			blocks = []apiBlock{{Type: "text", Text: s}}
		} else {
			_ = json.Unmarshal(m.Content, &blocks)
		}
		out = append(out, blocks...)
	}
	return out
}

func toolUse(id, name, input string) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": name, "input": json.RawMessage(input)}
}

// describeBlocks summarizes an answer for the log.
func describeBlocks(blocks []map[string]any) string {
	var out []string
	for _, b := range blocks {
		if b["type"] == "tool_use" {
			out = append(out, fmt.Sprintf("tool_use %s %s", b["name"], b["input"]))
		} else {
			out = append(out, fmt.Sprintf("text %q", b["text"]))
		}
	}
	return strings.Join(out, "; ")
}

// toolResults returns the text of every tool_result in msgs, by
// tool_use id.
func toolResults(msgs []apiMessage) map[string]string {
	out := map[string]string{}
	for _, b := range userBlocks(msgs) {
		if b.Type != "tool_result" {
			continue
		}
		var text string
		if json.Unmarshal(b.Content, &text) != nil {
			var inner []apiBlock
			_ = json.Unmarshal(b.Content, &inner)
			var sb strings.Builder
			for _, c := range inner {
				sb.WriteString(c.Text)
			}
			text = sb.String()
		}
		if b.IsError {
			text = "ERROR " + text
		}
		out[b.ToolUseID] = text
	}
	return out
}

// streamMessage writes a message as the Messages API's event stream.
func streamMessage(w http.ResponseWriter, model string, blocks []map[string]any, stop string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	ev := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_keyrelay", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 10, "output_tokens": 1}}})
	for i, b := range blocks {
		switch b["type"] {
		case "text":
			ev("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "text_delta", "text": b["text"]}})
		case "tool_use":
			start := map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}
			ev("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": start})
			ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": i,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": string(b["input"].(json.RawMessage))}})
		}
		ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": 5}})
	ev("message_stop", map[string]any{"type": "message_stop"})
}

// claudeRig is one Claude Code setup: the MCP chain, the relay's settings with
// the vault key in this test's own Secret Service, the fake API, and a
// private HOME with Claude Code's config dir, project dir and logs in it.
type claudeRig struct {
	t       *testing.T
	bin     string // Claude Code
	relay   string
	ss      *testkit.SecretService // holds the vault key
	mc      *mcpChain
	ep      *endpoint
	e       *relayEnv
	api     *fakeAPI
	home    string
	project string   // the working directory
	config  string   // CLAUDE_CONFIG_DIR
	vars    []string // Claude Code's environment; it passes it on to the relay
	debug   []string // Claude Code's debug logs
}

func newClaudeRig(t *testing.T, plan ...planStep) *claudeRig {
	t.Helper()
	bin := claudeBinary(t)
	ss := testkit.StartSecretService(t)
	mc, ep, e := mcpEnv(t, "")
	delete(e.Vars, "RELAY_VAULT_KEY")            // the default: the OS keychain
	if err := os.Remove(e.KeyFile); err != nil { // newRelayEnv's file key, unused
		t.Fatal(err)
	}
	e.Vars["DBUS_SESSION_BUS_ADDRESS"] = ss.Addr
	relay := testkit.Relay(t)
	home := e.Vars["HOME"]
	r := &claudeRig{t: t, bin: bin, relay: relay, ss: ss, mc: mc, ep: ep, e: e, api: newFakeAPI(t, plan...), home: home,
		project: filepath.Join(home, "project"), config: filepath.Join(home, ".claude")}
	for _, d := range []string{r.project, r.config, filepath.Join(home, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r.vars = append(e.Environ(),
		"CLAUDE_CONFIG_DIR="+r.config, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1", "DISABLE_ERROR_REPORTING=1", "ANTHROPIC_BASE_URL="+r.api.url, "ANTHROPIC_API_KEY=dummy",
		"TMPDIR="+filepath.Join(home, "tmp"), "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_STATE_HOME="+filepath.Join(home, ".local", "state"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"), "TERM=dumb", "NO_COLOR=1")
	return r
}

// relayArgs is the relay's command line in Claude Code's configuration:
// `npx mcp-remote URL` swapped for `relay serve --mcp-url URL`.
func (r *claudeRig) relayArgs() []string { return []string{"serve", "--mcp-url", r.ep.url} }

// mcpConfig writes a --mcp-config file with the relay as serverName.
func (r *claudeRig) mcpConfig() string {
	b, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{serverName: map[string]any{"command": r.relay, "args": r.relayArgs()}}})
	p := filepath.Join(r.home, "mcp-"+serverName+".json")
	writeFile(r.t, p, b)
	return p
}

// claude runs Claude Code in the project dir to completion. A print run
// (-p) writes a debug log under HOME, which holds the relay's stderr.
func (r *claudeRig) claude(args ...string) (string, string) {
	r.t.Helper()
	if len(args) > 0 && args[0] == "-p" {
		log := filepath.Join(r.home, fmt.Sprintf("claude-debug-%d.log", len(r.debug)+1))
		r.debug = append(r.debug, log)
		args = append(args, "--debug-file", log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = r.project, r.vars, strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r.t.Logf("$ claude %s  (%v, %v)\n%s%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err, out.String(), errb.String())
	if err != nil {
		r.fatalf("claude %s: %v", args[0], err)
	}
	return out.String(), errb.String()
}

// fatalf fails with what the fake API, the MCP server and Claude Code's
// last debug log saw.
func (r *claudeRig) fatalf(format string, args ...any) {
	r.t.Helper()
	var dbg []byte
	if len(r.debug) > 0 {
		dbg, _ = os.ReadFile(r.debug[len(r.debug)-1])
		if len(dbg) > 20000 {
			dbg = dbg[len(dbg)-20000:]
		}
	}
	r.ep.mu.Lock()
	rpcs := append([]string(nil), r.ep.rpcs...)
	r.ep.mu.Unlock()
	r.t.Fatalf(format+"\nfake API:\n%s\nMCP server received: %v\nbrowser opens: %d\nClaude Code debug log (tail):\n%s",
		append(args, r.api.lines(), rpcs, r.e.opens(), dbg)...)
}

// debugLog returns Claude Code's debug logs so far.
func (r *claudeRig) debugLog() string {
	var b strings.Builder
	for _, p := range r.debug {
		d, _ := os.ReadFile(p)
		b.Write(d)
	}
	return b.String()
}

// TestClaudeCode_MCPAddListGet: `claude mcp add NAME -- relay serve
// --mcp-url URL` (the swap for `npx mcp-remote URL`) is stored as given,
// and `claude mcp list` and `claude mcp get` start the relay, finish
// start-up and report it connected; so does a project's .mcp.json.
func TestClaudeCode_MCPAddListGet(t *testing.T) {
	r := newClaudeRig(t)
	r.claude(append([]string{"mcp", "add", serverName, "--", r.relay}, r.relayArgs()...)...)
	r.checkStored(serverName)
	out, _ := r.claude("mcp", "list")
	if line := lineWith(out, serverName+":"); !strings.Contains(line, "Connected") || !strings.Contains(line, r.ep.url) {
		r.fatalf("claude mcp list: %q", line)
	}
	out, _ = r.claude("mcp", "get", serverName)
	if !strings.Contains(out, "Status: ✔ Connected") || !strings.Contains(out, "Args: serve --mcp-url "+r.ep.url) {
		r.fatalf("claude mcp get: %s", out)
	}
	// A team's .mcp.json, approved in the user's settings (Claude Code
	// ignores approvals in the project's own settings without the trust
	// dialog, which -p and `mcp` skip).
	b, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"team": map[string]any{"command": r.relay, "args": r.relayArgs()}}})
	writeFile(t, filepath.Join(r.project, ".mcp.json"), b)
	writeFile(t, filepath.Join(r.config, "settings.json"), []byte(`{"enabledMcpjsonServers":["team"]}`))
	out, _ = r.claude("mcp", "get", "team")
	if !strings.Contains(out, "Status: ✔ Connected") || !strings.Contains(out, "Project config") {
		r.fatalf("claude mcp get team (.mcp.json): %s", out)
	}
	// A health check lists the server's tools: the first one signs in.
	t.Logf("browser opens: %d, code exchanges: %d; the MCP server received %v", r.e.opens(), r.mc.Codes.Load(), r.ep.rpcs)
	if r.e.opens() > 1 || r.mc.Codes.Load() > 1 {
		r.fatalf("%d browser opens, %d code exchanges for three health checks; want at most one sign-in", r.e.opens(), r.mc.Codes.Load())
	}
}

// checkStored checks that `claude mcp add` stored the relay's command line
// as given, with no environment.
func (r *claudeRig) checkStored(name string) {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.config, ".claude.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	var cfg struct {
		Projects map[string]struct {
			MCPServers map[string]struct {
				Type    string            `json:"type"`
				Command string            `json:"command"`
				Args    []string          `json:"args"`
				Env     map[string]string `json:"env"`
			} `json:"mcpServers"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		r.t.Fatal(err)
	}
	for _, p := range cfg.Projects {
		if s, ok := p.MCPServers[name]; ok {
			if s.Command != r.relay || strings.Join(s.Args, " ") != strings.Join(r.relayArgs(), " ") || len(s.Env) != 0 {
				r.t.Fatalf("stored server: %+v", s)
			}
			return
		}
	}
	r.t.Fatalf("claude mcp add stored no server %q:\n%s", name, b)
}

// TestClaudeCode_ToolCallSignsInThroughRelay is the full loop: `claude -p`
// with the relay in --mcp-config, the model (the fake API) calls the MCP
// tool whoami, loading it with ToolSearch as Claude Code defers MCP tools,
// then reads an MCP resource. The relay signs in through the browser (the
// fake browser) on the server's first 401; the tool call reaches the MCP
// server with a valid Bearer token; Claude Code prints the results. An
// MCP prompt works as a slash command. A second Claude Code reuses the
// stored token without a browser. The tokens are in the age vault, its key
// in the keychain, and no token, code, verifier or the vault key is in any
// file under the private HOME (Claude Code's config, transcripts and debug
// logs with the relay's debug stderr in them) or in Claude Code's output.
func TestClaudeCode_ToolCallSignsInThroughRelay(t *testing.T) {
	whoami := "mcp__" + serverName + "__whoami"
	r := newClaudeRig(t, planStep{whoami, `{}`}, planStep{"ReadMcpResourceTool", `{"server":"` + serverName + `","uri":"test://notes"}`})
	cfg := r.mcpConfig()
	base := []string{"--mcp-config", cfg, "--strict-mcp-config", "--allowedTools", whoami}
	out, errs := r.claude(append([]string{"-p", "Who am I on the remote server, and what are its notes?"}, base...)...)
	if !strings.Contains(out, "subject=alice") || !strings.Contains(out, "the notes") {
		r.fatalf("Claude Code's output lacks the tool's or the resource's result:\n%s", out)
	}
	if res, _ := r.api.result(0); !strings.Contains(res, "subject=alice scopes=") {
		r.fatalf("the tool result Claude Code sent the model: %q", res)
	}
	if r.ep.count("tools/call whoami") != 1 || r.ep.count("resources/read") != 1 {
		r.fatalf("the MCP server got %d whoami calls and %d resource reads, want 1 and 1", r.ep.count("tools/call whoami"), r.ep.count("resources/read"))
	}
	if r.e.opens() != 1 || r.mc.Codes.Load() != 1 {
		r.fatalf("%d browser opens, %d code exchanges; want one sign-in", r.e.opens(), r.mc.Codes.Load())
	}
	r.checkTokens()
	// An MCP prompt, as Claude Code's slash command.
	r.api.setPlan()
	out2, _ := r.claude(append([]string{"-p", "/mcp__" + serverName + "__greet bob"}, base...)...)
	if !strings.Contains(out2, "hello bob") {
		r.fatalf("the prompt greet did not reach the model:\n%s", out2)
	}
	// A new Claude Code, a new relay: the token comes from the vault.
	r.api.setPlan(planStep{whoami, `{}`})
	out3, _ := r.claude(append([]string{"-p", "Who am I now?"}, base...)...)
	if !strings.Contains(out3, "subject=alice") || r.e.opens() != 1 || r.mc.Codes.Load() != 1 {
		r.fatalf("with a stored token: %d opens, %d code exchanges, output:\n%s", r.e.opens(), r.mc.Codes.Load(), out3)
	}
	r.checkNoLeaks(out + errs + out2 + out3)
	r.checkKnownBugs()
}

// checkTokens: every token the MCP server saw is alice's, for its URL; the
// vault's key is in the keychain (one item), and the vault holds the token
// the tool call carried.
func (r *claudeRig) checkTokens() {
	r.t.Helper()
	seen := map[string]bool{}
	for _, tok := range r.ep.seenTokens() {
		if tok.Subject != chain.User || len(tok.Audience) != 1 || tok.Audience[0] != r.ep.url {
			r.fatalf("the MCP server got a token for %s, audience %v", tok.Subject, tok.Audience)
		}
		seen[tok.ID] = true
	}
	vaultID(r.t, r.e.Dir) // key_source keychain
	if items, _ := keychainSecrets(r.t, r.ss); len(items) != 1 {
		r.fatalf("%d keyrelay keychain items, want 1 (the vault key)", len(items))
	}
	v := keychainVault(r.t, r.e.Dir, r.ss)
	accts, err := v.Accounts(context.Background())
	if err != nil || len(accts) != 1 || accts[0].Resource != r.ep.url {
		r.fatalf("vault accounts: %+v %v", accts, err)
	}
	rec, err := v.Get(context.Background(), accts[0])
	if err != nil || rec.RefreshToken.Reveal() == "" {
		r.fatalf("the vault's record: %v (refresh token stored: %v)", err, rec.RefreshToken.Reveal() != "")
	}
	if jti, _ := testkit.PeekJWT(r.t, rec.AccessToken.Reveal(), 1)["jti"].(string); jti == "" || !seen[jti] {
		r.fatalf("the vault's access token (jti %q) is not one the MCP server accepted", jti)
	}
}

// checkNoLeaks looks for every code, verifier and token that crossed the
// authorization server, and the vault key in all its encodings, in every
// file under HOME and in Claude Code's output.
func (r *claudeRig) checkNoLeaks(output string) {
	r.t.Helper()
	items, _ := keychainSecrets(r.t, r.ss)
	d := buildDetector(r.mc.Server, "", vaultKeyForms(r.t, items[0]))
	secrets := r.mc.Secrets()
	if d.kinds["access token"] == 0 || len(d.scan("control", []byte("x "+secrets[len(secrets)-1]+" x"))) == 0 {
		r.t.Fatalf("the detector has no tokens (%d secrets recorded) or misses them", len(secrets))
	}
	files := readTree(r.t, r.home)
	dbg := r.debugLog()
	if !strings.Contains(dbg, "level=DEBUG") || !strings.Contains(dbg, "logged in") {
		r.t.Fatal("Claude Code's debug log does not hold the relay's debug stderr: the scan would miss it")
	}
	findings := append(d.scanTree("file ", files), d.scan("Claude Code's output", []byte(output))...)
	var names []string
	for p := range files {
		names = append(names, strings.TrimPrefix(p, r.home+"/"))
	}
	sort.Strings(names)
	r.t.Logf("scanned %d files under HOME: %s", len(files), strings.Join(names, ", "))
	if len(findings) > 0 {
		r.t.Fatalf("secrets outside the vault and keychain:\n%s", strings.Join(findings, "\n"))
	}
}

// checkKnownBugs fails on what Claude Code's debug log shows of the relay
// bugs these tests first found with Claude Code 2.1.332, now fixed.
func (r *claudeRig) checkKnownBugs() {
	r.t.Helper()
	dbg := r.debugLog()
	if strings.Contains(dbg, "SIGTERM failed, sending SIGKILL") {
		r.fatalf("the relay ignored SIGINT and SIGTERM while its stdin was open; Claude Code killed it (SIGKILL)")
	}
	if strings.Contains(dbg, "omits required fields although the server negotiated 2026-07-28") {
		r.fatalf("results forwarded to a 2026-07-28 client lack fields that era requires (ttlMs, cacheScope)")
	}
	if strings.Contains(dbg, "Dropped inbound request") {
		r.fatalf("the relay passed a 2025-era server request to a 2026-07-28 client, which dropped it")
	}
}

// TestClaudeCode_StartupMethods records what Claude Code sends the relay
// at start-up and what the relay answers, through a wrapper that copies
// the relay's stdin and stdout: for a health check without a token, a
// print run (which signs in), and a health check with the token cached
// (the relay answers with the server's own start-up result).
func TestClaudeCode_StartupMethods(t *testing.T) {
	whoami := "mcp__" + serverName + "__whoami"
	r := newClaudeRig(t, planStep{whoami, `{}`})
	in, out := filepath.Join(r.home, "relay-stdin.jsonl"), filepath.Join(r.home, "relay-stdout.jsonl")
	wrapper := filepath.Join(r.home, "relay-tee.sh")
	writeFile(t, wrapper, []byte("#!/bin/sh\ntee -a '"+in+"' | '"+r.relay+"' \"$@\" | tee -a '"+out+"'\n"))
	if err := os.Chmod(wrapper, 0o700); err != nil {
		t.Fatal(err)
	}
	r.claude(append([]string{"mcp", "add", serverName, "--", wrapper}, r.relayArgs()...)...)
	runs := []struct {
		name string
		args []string
	}{
		{"health check, no token", []string{"mcp", "get", serverName}},
		{"print run", []string{"-p", "Who am I?", "--allowedTools", whoami}},
		{"health check, token cached", []string{"mcp", "get", serverName}},
	}
	for _, run := range runs {
		_ = os.Remove(in)
		_ = os.Remove(out)
		o, _ := r.claude(run.args...)
		sent, got := rpcLines(t, in), rpcLines(t, out)
		if len(sent) == 0 {
			r.fatalf("%s: Claude Code sent the relay nothing", run.name)
		}
		first := sent[0]
		t.Logf("%s: Claude Code sent %s", run.name, methodsOf(sent))
		t.Logf("%s: the relay answered %s with %s", run.name, first.Method, answerTo(got, first.ID))
		if first.Method != "server/discover" && first.Method != "initialize" {
			r.fatalf("%s: the first message was %q", run.name, first.Method)
		}
		if answerTo(got, first.ID) == "" {
			r.fatalf("%s: no answer to %s", run.name, first.Method)
		}
		for _, m := range sent {
			if a := answerTo(got, m.ID); m.Method != "" && len(m.ID) > 0 && strings.Contains(a, `"error"`) {
				r.fatalf("%s: the relay answered %s with an error: %s", run.name, m.Method, a)
			}
		}
		if run.args[0] == "mcp" && !strings.Contains(o, "Connected") {
			r.fatalf("%s: not connected:\n%s", run.name, o)
		}
	}
}

// rpcLines reads a copy of one side of the stdio stream.
func rpcLines(t *testing.T, path string) []testkit.Msg {
	t.Helper()
	b, _ := os.ReadFile(path)
	var out []testkit.Msg
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m testkit.Msg
		if l != "" && json.Unmarshal([]byte(l), &m) == nil {
			m.Raw = l
			out = append(out, m)
		}
	}
	return out
}

func methodsOf(ms []testkit.Msg) string {
	var out []string
	for _, m := range ms {
		if m.Method != "" {
			out = append(out, m.Method)
		} else {
			out = append(out, "(response)")
		}
	}
	return strings.Join(out, ", ")
}

// answerTo returns the response to id, trimmed.
func answerTo(ms []testkit.Msg, id json.RawMessage) string {
	for _, m := range ms {
		if m.Method == "" && string(m.ID) == string(id) {
			if len(m.Raw) > 600 {
				return m.Raw[:600] + "…"
			}
			return m.Raw
		}
	}
	return ""
}

func lineWith(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClaudeCode_ListChanged: a tool call makes the server add a tool
// (tools/list_changed); Claude Code lists again and the model can call
// the new tool in the same session.
func TestClaudeCode_ListChanged(t *testing.T) {
	add, added := "mcp__"+serverName+"__add_tool", "mcp__"+serverName+"__added"
	r := newClaudeRig(t, planStep{add, `{}`}, planStep{added, `{}`})
	cfg := r.mcpConfig()
	out, _ := r.claude("-p", "Add a tool, then call it.", "--mcp-config", cfg, "--strict-mcp-config", "--allowedTools", add+","+added)
	res, _ := r.api.result(1)
	t.Logf("the new tool's result, as Claude Code sent it to the model: %q", res)
	if !strings.Contains(out, "added ok") || r.ep.count("tools/call added") != 1 {
		r.fatalf("the added tool was not called (%d calls at the server):\n%s", r.ep.count("tools/call added"), out)
	}
}

// TestClaudeCode_ServerRequest: the tool ask needs input from the client
// (sampling). Claude Code 2.1.332 speaks 2026-07-28, so the relay gives it
// the server's input_required result (or maps a 2025-era server's sampling
// request onto one); whether Claude Code can then sample is its own
// matter. This checks that the call ends with a result and that Claude
// Code dropped no request from the relay (checkKnownBugs).
func TestClaudeCode_ServerRequest(t *testing.T) {
	ask := "mcp__" + serverName + "__ask"
	r := newClaudeRig(t, planStep{ask, `{}`})
	cfg := r.mcpConfig()
	start := time.Now()
	r.claude("-p", "Ask.", "--mcp-config", cfg, "--strict-mcp-config", "--allowedTools", ask)
	res, ok := r.api.result(0)
	t.Logf("the sampling tool's result after %v, as Claude Code sent it to the model: %q", time.Since(start).Round(time.Second), res)
	if !ok || r.ep.count("tools/call ask") != 1 {
		r.fatalf("the tool ask got no result")
	}
	r.checkKnownBugs()
}
