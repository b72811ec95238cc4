package login

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// TestPromptRecordLevel: the log record of a sign-in prompt is a warning,
// the one place a person may see the URL in serve (no UI, or the MCP
// client's), and info under relay login's terminal UI, which shows the
// prompt on that same stderr itself (issue 15, point 5: the URL twice).
func TestPromptRecordLevel(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize",
				"token_endpoint": srv.URL + "/token", "device_authorization_endpoint": srv.URL + "/device",
				"code_challenge_methods_supported": []string{"S256"}})
		case "/device":
			_ = json.NewEncoder(w).Encode(map[string]any{"device_code": "dc-fake-0123456789", "user_code": "ABCD-EFGH",
				"verification_uri": srv.URL + "/activate", "expires_in": 600, "interval": 1})
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		ui    broker.UI
		level string
	}{
		{"terminal", signin.Terminal{W: &testkit.Buffer{}}, "INFO"},
		{"mcp-client", signin.New(func(context.Context, string, map[string]any) {}, nil), "WARN"},
		{"none", nil, "WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log testkit.Buffer
			i := &Interactive{Issuer: srv.URL, Device: true, Timeout: time.Second, Deliver: func(*oauth.Tokens) {},
				Client: oauth.Client{ClientID: "relay", HTTP: srv.Client()}, Logger: slog.New(slog.NewTextHandler(&log, nil))}
			if _, err := i.Login(context.Background(), nil, tc.ui); err == nil {
				t.Fatal("Login: want a pending sign-in")
			}
			want := "level=" + tc.level + " msg=\"sign-in needed: open the URL on any device and enter the code\" url=" + srv.URL + "/activate user_code=ABCD-EFGH"
			if !strings.Contains(log.String(), want) {
				t.Fatalf("log:\n%s\nwant a record %s", log.String(), want)
			}
		})
	}
}
