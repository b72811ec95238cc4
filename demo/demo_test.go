package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/login"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// TestMain removes the binaries the test built.
func TestMain(m *testing.M) { testkit.Main(m) }

// TestDemoRunsHeadless runs `make demo`'s driver with the scripted
// browser: backend, relay, tools/list, whoami twice, status, logout.
func TestDemoRunsHeadless(t *testing.T) {
	testkit.Backend(t)
	testkit.Relay(t)
	t.Setenv("DEMO_BIN", filepath.Dir(testkit.FakeBrowser(t))) // the kit builds into one directory
	t.Setenv("DEMO_DIR", filepath.Join(t.TempDir(), "demo"))
	t.Setenv("DEMO_HEADLESS", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testkit.NoErr(t, run(ctx))
}

// TestParseSignIn reads the texts the relay itself makes (relay/login's
// Error, the tool result's text) for a sign-in it could not open in a
// browser; any other answer is not one.
func TestParseSignIn(t *testing.T) {
	const iss = "http://127.0.0.1:40879"
	pending := func(e login.Error) string { e.Pending, e.Issuer = true, iss; return e.UserText() }
	for _, c := range []struct {
		name, text string
		want       pendingSignIn
		ok         bool
	}{
		{"device grant", pending(login.Error{URL: iss + "/device", Code: "ZHQV-TWTQ", Err: login.ErrNoBrowser}),
			pendingSignIn{iss + "/device", "ZHQV-TWTQ"}, true},
		{"device grant, page on another host", pending(login.Error{URL: "https://login.example.com/device", Code: "BCDF-GHJK",
			Warning: "The sign-in page is on login.example.com, not on the authorization server: go on only if you expected it", Err: login.ErrNoBrowser}),
			pendingSignIn{"https://login.example.com/device", "BCDF-GHJK"}, true},
		{"browser sign-in, no browser", pending(login.Error{URL: iss + "/authorize?client_id=relay&state=xyz", Err: login.ErrNoBrowser}),
			pendingSignIn{iss + "/authorize?client_id=relay&state=xyz", ""}, true},
		{"timed out", (&login.Error{URL: iss + "/device", Err: oauth.ErrLoginTimeout}).UserText(), pendingSignIn{}, false},
		{"failed", (&login.Error{Err: errors.New("discovery: 404 at http://127.0.0.1:1/.well-known")}).UserText(), pendingSignIn{}, false},
		{"backend text", "no tool named whoami", pendingSignIn{}, false},
		{"empty", "", pendingSignIn{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseSignIn(c.text)
			if got != c.want || ok != c.ok {
				t.Fatalf("parseSignIn(%q) = %+v, %v; want %+v, %v", c.text, got, ok, c.want, c.ok)
			}
		})
	}
}

// TestClaudeConfigPointsAtTheBackendToRun checks the closing lines: they
// name the address of the backend the person is told to start, never the
// demo's own, which has stopped (a random port when 5002 was busy).
func TestClaudeConfigPointsAtTheBackendToRun(t *testing.T) {
	const demoURL = "http://127.0.0.1:40879"
	t.Run("default address free", func(t *testing.T) {
		var b bytes.Buffer
		(&demo{bin: "bin", url: "http://" + backendAddr}).printClaudeConfig(&b)
		out := b.String()
		testkit.Contains(t, "the Claude Code lines", out,
			"bin/backend --auth-server\n", "RELAY_BACKEND_URL=http://127.0.0.1:5002 --env RELAY_AUTH_SERVER_URL=http://127.0.0.1:5002 ",
			`"RELAY_BACKEND_URL": "http://127.0.0.1:5002"`)
		if strings.Contains(out, "--addr") {
			t.Errorf("--addr shown with the default address free:\n%s", out)
		}
	})
	t.Run("default address busy", func(t *testing.T) {
		var b bytes.Buffer
		(&demo{bin: "bin", url: demoURL, busy: true}).printClaudeConfig(&b)
		out := b.String()
		m := regexp.MustCompile(`bin/backend --auth-server --addr (127\.0\.0\.1:\d+)\n`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no backend command with --addr in:\n%s", out)
		}
		url := "http://" + m[1]
		testkit.Contains(t, "the Claude Code lines", out,
			"127.0.0.1:5002, its default address, is busy", "BACKEND_ADDR",
			fmt.Sprintf("RELAY_BACKEND_URL=%s --env RELAY_AUTH_SERVER_URL=%s ", url, url), fmt.Sprintf(`"RELAY_BACKEND_URL": %q`, url))
		if strings.Contains(out, demoURL) || m[1] == backendAddr {
			t.Errorf("the lines point at the demo's stopped backend or the busy address:\n%s", out)
		}
	})
}

func TestDPoPLine(t *testing.T) {
	if on := dpopLine([]string{"ES256", "EdDSA"}); !strings.Contains(on, "DPoP is on (ES256, EdDSA)") || !strings.Contains(on, "jkt") {
		t.Fatalf("on: %q", on)
	}
	if off := dpopLine(nil); !strings.Contains(off, "DPoP is off") {
		t.Fatalf("off: %q", off)
	}
}
