package config

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseDefaultsAndFlagsWin(t *testing.T) {
	c, rest, err := Parse("serve", []string{"--client-id", "cli", "extra"}, env(map[string]string{
		"RELAY_CLIENT_ID": "env", "RELAY_SCOPES": "a  b", "RELAY_CALLBACK_PORT": "8765",
	}), io.Discard)
	testkit.NoErr(t, err)
	if c.ClientID != "cli" || strings.Join(c.Scopes, ",") != "a,b" || c.CallbackPort != 8765 ||
		c.LoginTimeout != 5*time.Minute || c.BackendTimeout != time.Minute || c.AuthTimeout != 30*time.Second || c.LogLevel != "info" || len(rest) != 1 {
		t.Fatalf("parsed %+v rest %v", c, rest)
	}
}

func TestParseRejectsBadValues(t *testing.T) {
	for k, v := range map[string]string{
		"RELAY_CALLBACK_PORT": "70000", "RELAY_LOGIN_TIMEOUT": "forever", "RELAY_BACKEND_TIMEOUT": "2h",
		"RELAY_AUTH_TIMEOUT": "1ms", "RELAY_PING_INTERVAL": "100ms",
	} {
		if _, _, err := Parse("serve", nil, env(map[string]string{k: v}), io.Discard); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

func TestResourceAndParams(t *testing.T) {
	c, _, err := Parse("serve", nil, env(map[string]string{"RELAY_AUTHORIZE_PARAMS": "audience=https://api&access_type=offline"}), io.Discard)
	if err != nil || c.AuthorizeParam.Get("audience") != "https://api" || c.AuthorizeParam.Get("access_type") != "offline" {
		t.Fatalf("params: %v %v", c.AuthorizeParam, err)
	}
	for in, want := range map[string]string{"": "https://api.example.com", "off": "", "api://1234-abcd": "api://1234-abcd"} {
		c := &Config{BackendURL: "https://api.example.com", Resource: in, LogLevel: "info"}
		if err := c.Check(); err != nil || c.Resource != want {
			t.Errorf("RELAY_RESOURCE=%q: got %q %v, want %q", in, c.Resource, err, want)
		}
	}
	c = &Config{BackendURL: "https://api.example.com", LogLevel: "info"}
	if err := c.Check(); err != nil || c.AuthServerURL != "" || c.ClientID != "" {
		t.Fatalf("issuer and client id may be left to discovery and registration: %v", err)
	}
}

func TestCheck(t *testing.T) {
	good := func() *Config {
		return &Config{AuthServerURL: "https://login.example.com", BackendURL: "HTTPS://API.Example.com/mcp/", ClientID: "relay", LogLevel: "info"}
	}
	c := good()
	if err := c.Check(); err != nil || c.BackendURL != "https://api.example.com/mcp" {
		t.Fatalf("check: %v, backend %q", err, c.BackendURL)
	}
	cases := map[string]func(*Config){
		"no backend":        func(c *Config) { c.BackendURL = "" },
		"http backend":      func(c *Config) { c.BackendURL = "http://api.example.com" },
		"query":             func(c *Config) { c.BackendURL = "https://api.example.com/?x=1" },
		"fragment":          func(c *Config) { c.BackendURL = "https://api.example.com/#x" },
		"userinfo":          func(c *Config) { c.BackendURL = "https://u:p@api.example.com" },
		"relative":          func(c *Config) { c.BackendURL = "/mcp" },
		"ftp":               func(c *Config) { c.AuthServerURL = "ftp://login.example.com" },
		"http auth server":  func(c *Config) { c.AuthServerURL = "http://login.example.com" },
		"bad resource":      func(c *Config) { c.Resource = "relative/path" },
		"secret, no id":     func(c *Config) { c.ClientID = ""; c.ClientSecret = secret.New("s3cret-value") },
		"http metadata doc": func(c *Config) { c.ClientMetaURL = "http://example.com/client.json" },
		"bad log level":     func(c *Config) { c.LogLevel = "loud" },
		"ignore, no mcp":    func(c *Config) { c.IgnoreTools = []string{"delete*"} },
		"ping, no mcp":      func(c *Config) { c.PingInterval = time.Minute },
	}
	for name, mut := range cases {
		c := good()
		mut(c)
		if err := c.Check(); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, host := range []string{"http://127.0.0.1:5002", "http://localhost:5002", "http://[::1]:5002", "http://127.1.2.3"} {
		c := good()
		c.BackendURL, c.AuthServerURL = host, host
		if err := c.Check(); err != nil {
			t.Errorf("loopback %s refused: %v", host, err)
		}
	}
}

func TestIgnoreTools(t *testing.T) {
	env := map[string]string{"RELAY_IGNORE_TOOLS": "delete*, *account\n\n exact ,", "RELAY_MCP_URL": "https://mcp.example.com/mcp"}
	c, _, err := Parse("relay", []string{"--ignore-tool", "drop_*", "--ignore-tool", " "}, func(k string) string { return env[k] }, io.Discard)
	testkit.NoErr(t, err)
	if got := strings.Join(c.IgnoreTools, "|"); got != "delete*|*account|exact|drop_*" {
		t.Fatalf("IgnoreTools = %q", got)
	}
}

func TestHeaderFileSetting(t *testing.T) {
	p := testkit.WriteTemp(t, "headers", "X-From-File: 1\n", 0o600)
	env := map[string]string{"RELAY_HEADERS": "X-From-Env: 2", "RELAY_MCP_URL": "https://mcp.example.com/mcp"}
	c, _, err := Parse("relay", []string{"--header-file", p, "--header", "X-From-Flag: 3"}, func(k string) string { return env[k] }, io.Discard)
	testkit.NoErr(t, err)
	var names []string
	for _, h := range c.Headers {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "X-From-Env,X-From-Flag,X-From-File" || c.Check() != nil {
		t.Fatalf("headers %v, check %v", names, c.Check())
	}
	env["RELAY_HEADERS_FILE"] = p + ".missing"
	c, _, err = Parse("relay", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.Check() == nil || !strings.Contains(c.Check().Error(), "RELAY_HEADERS_FILE") {
		t.Fatalf("a missing header file: parse %v, check %v", err, c.Check())
	}
}

func TestMCPTransport(t *testing.T) {
	env := map[string]string{"RELAY_MCP_URL": "https://mcp.example.com/sse", "RELAY_MCP_TRANSPORT": "streamable-http"}
	get := func(k string) string { return env[k] }
	for _, c := range []struct {
		args []string
		want string
	}{{nil, "streamable-http"}, {[]string{"--mcp-transport", "sse"}, "sse"}} {
		cfg, _, err := Parse("relay", c.args, get, io.Discard)
		if err != nil || cfg.MCPTransport != c.want || cfg.Check() != nil {
			t.Fatalf("%v: %+v %v", c.args, cfg, err)
		}
	}
	delete(env, "RELAY_MCP_TRANSPORT")
	if cfg, _, err := Parse("relay", nil, get, io.Discard); err != nil || cfg.MCPTransport != "auto" {
		t.Fatalf("default: %v %v", cfg, err)
	}
	env["RELAY_MCP_TRANSPORT"] = "websocket"
	if cfg, _, _ := Parse("relay", nil, get, io.Discard); cfg.Check() == nil || !strings.Contains(cfg.Check().Error(), "RELAY_MCP_TRANSPORT") {
		t.Fatal("an unknown transport was accepted")
	}
	c := &Config{BackendURL: "https://api.example.com", MCPTransport: "sse", LogLevel: "info"}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "RELAY_MCP_URL") {
		t.Fatalf("sse without RELAY_MCP_URL: %v", err)
	}
}

func TestCallbackHostAndPath(t *testing.T) {
	c, _, err := Parse("relay", nil, env(nil), io.Discard)
	if err != nil || c.CallbackHost != "127.0.0.1" || c.CallbackPath != "/callback" {
		t.Fatalf("defaults: host %q path %q, %v", c.CallbackHost, c.CallbackPath, err)
	}
	e := map[string]string{"RELAY_CALLBACK_HOST": "localhost", "RELAY_CALLBACK_PATH": "/oauth/callback"}
	if c, _, err = Parse("relay", nil, env(e), io.Discard); err != nil || c.CallbackHost != "localhost" || c.CallbackPath != "/oauth/callback" {
		t.Fatalf("environment: host %q path %q, %v", c.CallbackHost, c.CallbackPath, err)
	}
	e["RELAY_CALLBACK_HOST"] = "0.0.0.0" // a flag wins, so the bad variable is not used
	if c, _, err = Parse("relay", []string{"--callback-host", "127.0.0.1", "--callback-path", "/cb"}, env(e), io.Discard); err != nil ||
		c.CallbackHost != "127.0.0.1" || c.CallbackPath != "/cb" {
		t.Fatalf("flags: host %q path %q, %v", c.CallbackHost, c.CallbackPath, err)
	}
	for _, name := range []string{"RELAY_CALLBACK_HOST", "RELAY_CALLBACK_PATH"} {
		if !slices.ContainsFunc(Vars, func(v struct{ Name, Meaning string }) bool { return v.Name == name }) {
			t.Errorf("%s is missing from Vars (relay help)", name)
		}
	}
	bad := map[string][]string{
		"RELAY_CALLBACK_HOST": {"0.0.0.0", "::1", "[::1]", "127.0.0.2", "example.com", "LOCALHOST", "localhost:3334"},
		"RELAY_CALLBACK_PATH": {"callback", "//cb", "/a/../b", "/a/./b", "/..", "/cb?x=1", "/cb#x", "/c%61llback", "/c b", "/cb\n",
			"/" + strings.Repeat("a", 256)},
	}
	for name, values := range bad {
		for _, v := range values {
			_, _, err := Parse("relay", nil, env(map[string]string{name: v}), io.Discard)
			if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s=%q: %v", name, v, err)
			}
			flag := "--" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "RELAY_"), "_", "-"))
			if _, _, err := Parse("relay", []string{flag, v}, env(nil), io.Discard); err == nil {
				t.Errorf("%s %q accepted", flag, v)
			}
		}
	}
}
