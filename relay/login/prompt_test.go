package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/signin"
)

type recordingPrompter struct{ got []signin.Prompt }

func (r *recordingPrompter) LoginURL(context.Context, string) { panic("a Prompter gets Prompt") }
func (r *recordingPrompter) Prompt(_ context.Context, p signin.Prompt) {
	r.got = append(r.got, p)
}

// P3: a hostile authorization server names someone else's device sign-in
// page. The prompt, and the tool result's text, name the authorization
// server and the server the sign-in is for, and warn that the page is on
// another host.
func TestP3_DevicePromptNamesTheIssuerAndWarns(t *testing.T) {
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
				"verification_uri": "https://microsoft.com/devicelogin", "expires_in": 600, "interval": 1})
		case "/token":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"authorization_pending"}`))
		}
	}))
	defer srv.Close()
	i := &Interactive{Issuer: srv.URL, Backend: "https://mcp.example/mcp", Device: true, Timeout: time.Second,
		Deliver: func(*oauth.Tokens) {}, Client: oauth.Client{ClientID: "relay", HTTP: srv.Client()}}
	ui := &recordingPrompter{}
	_, err := i.Login(context.Background(), nil, ui)
	var le *Error
	if !errors.As(err, &le) || !le.Pending {
		t.Fatalf("Login: %v, want a pending sign-in", err)
	}
	if len(ui.got) != 1 {
		t.Fatalf("%d prompts", len(ui.got))
	}
	p := ui.got[0]
	if p.Issuer != srv.URL || p.Server != "https://mcp.example/mcp" || p.UserCode != "ABCD-EFGH" || !strings.Contains(p.Warning, "microsoft.com") {
		t.Fatalf("prompt %+v", p)
	}
	for _, text := range []string{p.Text(), le.UserText()} {
		if !strings.Contains(text, srv.URL) || !strings.Contains(text, "microsoft.com, not on the authorization server") {
			t.Errorf("text %q names no issuer or has no warning", text)
		}
	}
	if !strings.Contains(p.Text(), "for https://mcp.example/mcp") {
		t.Errorf("text %q names no server", p.Text())
	}
	// A page on the issuer's own host gets no warning, whatever its path,
	// port or case.
	for _, page := range []string{"https://as.example/device", "https://AS.example:8443/x"} {
		if w := pageWarning(page, "https://as.example"); w != "" {
			t.Errorf("warning for %s: %q", page, w)
		}
	}
}
