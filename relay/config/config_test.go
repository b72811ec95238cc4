package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
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

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
		rest []string
	}{
		{nil, "serve", nil},
		{[]string{"--backend-url", "x"}, "serve", []string{"--backend-url", "x"}},
		{[]string{"-h"}, "help", []string{}},
		{[]string{"--help", "login"}, "help", []string{"login"}},
		{[]string{"-help"}, "help", []string{}},
		{[]string{"--version"}, "version", []string{}},
		{[]string{"-version"}, "version", []string{}},
		{[]string{"--backend-url", "x", "--help"}, "serve", []string{"--backend-url", "x", "--help"}},
		{[]string{""}, "serve", []string{""}},
		{[]string{"status", "--json"}, "status", []string{"--json"}},
		{[]string{"help", "login"}, "help", []string{"login"}},
	} {
		name, rest := Command(tc.args)
		if name != tc.name || !slices.Equal(rest, tc.rest) {
			t.Errorf("Command(%q) = %q %q, want %q %q", tc.args, name, rest, tc.name, tc.rest)
		}
	}
}

func TestParseCommand(t *testing.T) {
	cfg, sw, err := ParseCommand("login", []string{"--backend-url", "https://api.example", "-force", "--device=true", "--client-id=c"}, env(nil))
	testkit.NoErr(t, err)
	if !sw.Force || !sw.Device || sw.JSON || cfg.BackendURL != "https://api.example" || cfg.ClientID != "c" {
		t.Fatalf("switches %+v cfg=%+v", sw, cfg)
	}
	_, sw, err = ParseCommand("status", []string{"--json"}, env(nil))
	if err != nil || !sw.JSON {
		t.Fatalf("status --json: %+v %v", sw, err)
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cmd string
		args      []string
		want      string
	}{
		{"unknown flag", "status", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"own flag of another command", "logout", []string{"--json"}, "flag provided but not defined: -json"},
		{"bad own value", "status", []string{"--json=maybe"}, `invalid boolean value "maybe" for -json`},
		{"extra argument", "status", []string{"--json", "extra"}, `unexpected argument "extra"`},
		{"bad setting", "status", []string{"--login-timeout=1ms"}, "RELAY_LOGIN_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseCommand(tc.cmd, tc.args, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestParseCommandHelp: -h, -help and --help anywhere ask for the help,
// which the caller prints; the own flags parsed before a bad shared one
// are still returned (status --json prints its report even then).
func TestParseCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"--json", "--help"}} {
		if _, _, err := ParseCommand("status", args, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: got %v, want flag.ErrHelp", args, err)
		}
	}
	if _, sw, err := ParseCommand("status", []string{"--json", "--nope"}, env(nil)); err == nil || !sw.JSON {
		t.Fatalf("status --json --nope: %+v %v", sw, err)
	}
}

func TestTrimFlag(t *testing.T) {
	for in, want := range map[string]string{"--json": "json", "-json=true": "json", "force": "force", "--a=b=c": "a", "-": "", "--=x": ""} {
		if got := trimFlag(in); got != want {
			t.Errorf("trimFlag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubEnv(t *testing.T) {
	t.Setenv("RELAY_CLIENT_SECRET", "fake-client-secret")
	t.Setenv("RELAY_HEADERS", "X-Api-Key: fake-key")
	t.Setenv("RELAY_CLIENT_ID", "relay-test")
	getenv := ScrubEnv()
	for _, k := range []string{"RELAY_CLIENT_SECRET", "RELAY_HEADERS"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s still in the environment: %q", k, v)
		}
	}
	if getenv("RELAY_CLIENT_SECRET") != "fake-client-secret" || getenv("RELAY_HEADERS") != "X-Api-Key: fake-key" || getenv("RELAY_CLIENT_ID") != "relay-test" {
		t.Fatal("getenv lost a value")
	}
	if os.Getenv("RELAY_CLIENT_ID") != "relay-test" {
		t.Fatal("a variable that is not secret was removed")
	}
}

// TestRedactURL (F4): a configured URL is printed with its scheme, host
// and path only; userinfo, query and fragment become ***.
func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://api.example.com/mcp", "https://api.example.com/mcp"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
		{"http://user:PassW0rdX@example.com/?api_key=K3yVal", "http://***@example.com/?***"},
		{"https://mcp.example.com/mcp?api_key=K3yVal", "https://mcp.example.com/mcp?***"},
		{"https://tok@host/p#frag", "https://***@host/p#***"},
		{"https://login.example.com/#K3yVal", "https://login.example.com/#***"},
		{"https://host:8443/mcp?email=a@b.example", "https://host:8443/mcp?***"},
		{"https://user:pa/ss@host/mcp", "https://***@host/mcp"},           // unescaped '/' in the password
		{"https://user:1234/ab@host/mcp?k=v", "https://***@host/mcp?***"}, // looks like host:port/path
		{"https://user:p?ss@host/mcp", "https://***"},                     // unescaped '?': cannot tell
		{"https://user:p#ss@host/mcp", "https://***"},
		{"https://host/@scope/pkg", "https://***@scope/pkg"}, // hides too much, never too little
		{"user:pass@host/path", "***@host/path"},             // no scheme
		{"api://1234-abcd", "api://1234-abcd"},
		{"urn:example:resource?secret", "urn:example:resource?***"},
		{"not a url", "not a url"},
		{"", ""},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzRedactURL: whatever the user, host and path, neither a password nor
// a query value is ever printed. The user may not hold '/', '?' or '#'
// (then the URL names another host: nothing can tell the parts apart).
func FuzzRedactURL(f *testing.F) {
	f.Add("user", "", "example.com", "/", "api_key=")
	f.Add("u", "/x@y?z#w", "host:443", "/mcp@x", "a=b@c#d")
	f.Add("", "1234", "[::1]:8080", "", "")
	f.Add("a@b", "?", "h@st", "/p?", "@")
	f.Fuzz(func(t *testing.T, user, pass, host, path, query string) {
		const pw, qv = "Pw7x", "Qk9z"
		if strings.ContainsAny(user, "/?#") || strings.Contains(user+host+path, pw) || strings.Contains(user+host+path, qv) {
			t.Skip()
		}
		for _, raw := range []string{
			"https://" + user + ":" + pw + pass + "@" + host + path + "?" + qv + query,
			"https://" + user + ":" + pw + pass + "@" + host + path,
			"https://" + host + path + "?" + qv + query,
			"https://" + host + path + "#" + qv + query,
			user + ":" + pw + pass + "@" + host + path,
		} {
			if got := RedactURL(raw); strings.Contains(got, pw) || strings.Contains(got, qv) {
				t.Fatalf("RedactURL(%q) = %q shows a secret", raw, got)
			}
		}
	})
}

// settingFlags are the names of the settings' flags, as Parse defines them.
func settingFlags() []string {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	define(fs, &Config{}, &raw{}, func(string) string { return "" })
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func TestHelp(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	out := b.String()
	for _, c := range commands {
		testkit.Contains(t, "help lacks command", out, "\n  "+c.name+" ")
	}
	for _, v := range Vars {
		if !strings.Contains(out, v.Name+"\n") && !strings.Contains(out, v.Name+" (environment only)\n") {
			t.Errorf("help lacks setting %s", v.Name)
		}
	}
	// Every flag is listed with its variable: a new flag whose usage does
	// not end with "(VAR)", or whose VAR is not in Vars, fails here.
	for _, f := range settingFlags() {
		testkit.Contains(t, "help lacks flag --", out, "\n  --"+f+", RELAY_")
	}
}

func TestHelpCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd       string
		want, not []string
	}{
		{"serve", []string{"usage: relay [serve] [flags]\n", "  --mcp-url, RELAY_MCP_URL\n", "  --backend-url, RELAY_BACKEND_URL\n", "RELAY_CLIENT_SECRET (environment only)"}, []string{"--force", "--json"}},
		{"login", []string{"usage: relay login [--force] [--device] [flags]\n", "flags:\n  --device\n", "  --force\n", "--vault-key, RELAY_VAULT_KEY"}, []string{"--json"}},
		{"status", []string{"usage: relay status [--json] [flags]\n", "flags:\n  --json\n", "Exits 0 when signed in and usable, 1 when not"}, []string{"--force"}},
		{"logout", []string{"usage: relay logout [flags]\n", "exits 4 if anything remains"}, []string{"flags:"}},
		{"version", []string{"usage: relay version\n", "--version"}, []string{"settings:", "RELAY_"}},
		{"help", []string{"usage: relay help [command]\n"}, []string{"settings:"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			var b bytes.Buffer
			testkit.NoErr(t, Help(&b, []string{tc.cmd}))
			testkit.Contains(t, "help "+tc.cmd, b.String(), tc.want...)
			for _, n := range tc.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("has %q:\n%s", n, b.String())
				}
			}
		})
	}
}

func TestHelpErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"login", "logout"}, "help takes one command, not 2"},
	} {
		var b bytes.Buffer
		if err := Help(&b, tc.args); err == nil || err.Error() != tc.want || b.Len() != 0 {
			t.Errorf("Help(%q) = %v, wrote %q; want %q and nothing written", tc.args, err, b.String(), tc.want)
		}
	}
}

// TestHelpLinesFit: the help wraps its texts; no line is over 80 columns
// but a URL or a long word.
func TestHelpLinesFit(t *testing.T) {
	var b bytes.Buffer
	testkit.NoErr(t, Help(&b, nil))
	for _, c := range commands {
		testkit.NoErr(t, Help(&b, []string{c.name}))
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if len(l) > 80 && strings.Count(strings.TrimSpace(l), " ") > 0 {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	env := map[string]string{"KEY": "fake-key-123", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name, env string
		flags     []string
		want      string // "Name=value;..." or the error's substring
		wantErr   bool
	}{
		{"one line", "X-Api-Key: abc", nil, "X-Api-Key=abc", false},
		{"lines and flags", "X-A: 1\n\nx-b:2", []string{"X-C: three words"}, "X-A=1;X-B=2;X-C=three words", false},
		{"expansion", "X-Api-Key: Token ${KEY}!", nil, "X-Api-Key=Token fake-key-123!", false},
		{"lone dollar stays", "X-P: a$b", nil, "X-P=a$b", false},
		{"unset variable", "X-Api-Key: ${NOPE}", nil, "NOPE is not set", true},
		{"empty variable", "X-Api-Key: ${EMPTY}", nil, "EMPTY is not set", true},
		{"unclosed", "X-Api-Key: ${KEY", nil, "unclosed", true},
		{"bad variable name", "X-Api-Key: ${1X}", nil, "bad variable name", true},
		{"no colon", "X-Api-Key abc", nil, "want Name: value", true},
		{"bad name", "X Api: abc", nil, "want Name: value", true},
		{"authorization refused", "authorization: Bearer x", nil, "Authorization is set by keyrelay", true},
		{"session refused", "", []string{"Mcp-Session-Id: x"}, "Mcp-Session-Id is set by keyrelay", true},
		{"2026-07-28 method header refused", "mcp-method: tools/call", nil, "Mcp-Method is set by keyrelay", true},
		{"2026-07-28 param header refused", "Mcp-Param-Region: eu", nil, "Mcp-Param-Region is set by keyrelay", true},
		{"hop-by-hop refused", "Connection: close", nil, "Connection is set", true},
		{"cookie refused", "Cookie: a=b", nil, "Cookie is set", true},
		{"host refused", "Host: evil", nil, "Host is set", true},
		{"control character", "X-A: a\x01b", nil, "control character at byte 1", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs, err := ParseHeaders(c.env, c.flags, getenv)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want %q", err, c.want)
				}
				if strings.Contains(err.Error(), "fake-key-123") || strings.Contains(err.Error(), "Bearer x") {
					t.Fatal("a header value leaked into the error")
				}
				return
			}
			testkit.NoErr(t, err)
			var got []string
			for _, h := range hs {
				got = append(got, h.Name+"="+h.Value.Reveal())
				if s := fmt.Sprint(h); strings.Contains(s, h.Value.Reveal()) {
					t.Fatalf("a header prints its value: %s", s)
				}
			}
			if strings.Join(got, ";") != c.want {
				t.Fatalf("got %q, want %q", strings.Join(got, ";"), c.want)
			}
		})
	}
}

func TestCheckServerURL(t *testing.T) {
	cases := []struct {
		env             map[string]string
		args            []string
		wantErr, server string
	}{
		{map[string]string{"RELAY_MCP_URL": "https://Example.com/mcp/"}, nil, "", "https://example.com/mcp"},
		{nil, []string{"--mcp-url", "http://127.0.0.1:9/mcp"}, "", "http://127.0.0.1:9/mcp"},
		{map[string]string{"RELAY_MCP_URL": "http://example.com/mcp"}, nil, "https", ""},
		{map[string]string{"RELAY_MCP_URL": "https://a/mcp", "RELAY_BACKEND_URL": "https://b"}, nil, "not both", ""},
		{map[string]string{"RELAY_BACKEND_URL": "https://b", "RELAY_HEADERS": "X-A: 1"}, nil, "needs RELAY_MCP_URL", ""},
		{map[string]string{"RELAY_MCP_URL": "https://a/mcp", "RELAY_HEADERS": "Cookie: 1"}, nil, "Cookie", ""},
	}
	for _, c := range cases {
		cfg, _, err := Parse("serve", c.args, func(k string) string { return c.env[k] }, nil)
		testkit.NoErr(t, err)
		err = cfg.Check()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: err %v, want %q", c.env, err, c.wantErr)
			}
			continue
		}
		if err != nil || cfg.Server() != c.server || cfg.Resource != c.server {
			t.Errorf("%v: %v, server %q, resource %q", c.env, err, cfg.Server(), cfg.Resource)
		}
	}
}

func TestParseHeaderFile(t *testing.T) {
	getenv := func(k string) string { return map[string]string{"KEY": "fake-key-123"}[k] }
	good := testkit.WriteTemp(t, "good", "# credentials for the example server\r\nX-Api-Key: ${KEY}\r\n\r\n  # indented comment\nX-Team: blue\n", 0o600)
	hs, err := ParseHeaderFile(good, getenv)
	testkit.NoErr(t, err)
	var got []string
	for _, h := range hs {
		got = append(got, h.Name+"="+h.Value.Reveal())
	}
	if strings.Join(got, ";") != "X-Api-Key=fake-key-123;X-Team=blue" {
		t.Fatalf("headers: %v", got)
	}
	// Windows keeps no group or other mode bits, and keyrelay reads no
	// ACLs (platform): a 0644 file is an ordinary one there.
	if _, err := ParseHeaderFile(testkit.WriteTemp(t, "loose", "X-Api-Key: s3cret-in-loose-file\n", 0o644), getenv); err == nil && runtime.GOOS != "windows" {
		t.Fatal("a file others can read was accepted")
	}
	link := filepath.Join(t.TempDir(), "link")
	testkit.NoErr(t, os.Symlink(good, link))
	if _, err := ParseHeaderFile(link, getenv); err == nil {
		t.Fatal("a symlink was accepted")
	}
	_, err = ParseHeaderFile(testkit.WriteTemp(t, "bad", "X-A: 1\nAuthorization: Bearer s3cret-token-value\n", 0o600), getenv)
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a refused header: %v", err)
	}
	big := testkit.WriteTemp(t, "big", strings.Repeat("X-A: 1\n", maxHeaderFile/7+1), 0o600)
	if _, err := ParseHeaderFile(big, getenv); err == nil {
		t.Fatal("an oversized file was accepted")
	}
}

// FuzzParseHeaders: RELAY_HEADERS and --header never panic the parser; what
// it accepts is a valid header name the relay does not own, and a value with
// no line break or control character (no header injection); an error never
// holds a value that came from the environment (values are secrets).
func FuzzParseHeaders(f *testing.F) {
	f.Add("X-Api-Key: ${KEY}", "X-B: two", "s3cret-value")
	f.Add("X-A: 1\n\nx-b:2", "", "v")
	f.Add("Authorization: Bearer ${KEY}", "", "tok-123456")
	f.Add("X-A: ${KEY", "mcp-param-x: 1", "abc")
	f.Add("X-A: a${KEY}b${KEY}", "X-C: ${1X}", "line\r\nX-Evil: 1")
	f.Fuzz(func(t *testing.T, env, flag, value string) {
		secretValue := "sv-" + value
		getenv := func(string) string { return secretValue }
		hs, err := ParseHeaders(env, []string{flag}, getenv)
		if err != nil {
			if strings.Contains(err.Error(), secretValue) && !strings.Contains(env+flag, secretValue) {
				t.Fatalf("the error holds an environment value: %v", err)
			}
			return
		}
		for _, h := range hs {
			if !isToken(h.Name) || refusedHeaders[h.Name] || strings.HasPrefix(h.Name, "Mcp-") {
				t.Fatalf("accepted header name %q", h.Name)
			}
			v := h.Value.Reveal()
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					t.Fatalf("header %s: value holds byte %#x", h.Name, c)
				}
			}
		}
	})
}
