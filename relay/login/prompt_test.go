package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
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
	srv := deviceServer(t, "https://microsoft.com/devicelogin").srv
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
		testkit.Contains(t, "text", text, srv.URL, "microsoft.com, not on the authorization server")
	}
	testkit.Contains(t, "text", p.Text(), "for https://mcp.example/mcp")
	// A page on the issuer's own host gets no warning, whatever its path,
	// port or case.
	for _, page := range []string{"https://as.example/device", "https://AS.example:8443/x"} {
		if w := pageWarning(page, "https://as.example"); w != "" {
			t.Errorf("warning for %s: %q", page, w)
		}
	}
}

// TestPromptRecordLevel: the log record of a sign-in prompt is a warning,
// the one place a person may see the URL in serve (no UI, or the MCP
// client's), and info under relay login's terminal UI, which shows the
// prompt on that same stderr itself (issue 15, point 5: the URL twice).
func TestPromptRecordLevel(t *testing.T) {
	srv := deviceServer(t, "O/activate").srv
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
			testkit.Contains(t, "log", log.String(), want)
		})
	}
}

// TestErrorTextCancelledIsNotATimeout: a sign-in ended by a signal or by
// the client's cancellation says so; only the login timeout says "in
// time".
func TestErrorTextCancelledIsNotATimeout(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  string
	}{
		{context.Canceled, "the sign-in was cancelled before it completed"},
		{context.DeadlineExceeded, "the sign-in did not complete in time"},
	} {
		e := &Error{Err: fmt.Errorf("%w: %w", oauth.ErrLoginTimeout, tc.cause)}
		if got := e.Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("cause %v: %q, want it to start %q", tc.cause, got, tc.want)
		}
	}
}
