package oauth

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestC19_NoSecretInDebugLog runs a full login, a refresh, a failed
// refresh and a revocation with a debug logger (JSON and text handlers,
// without the ReplaceAttr safety net) and checks that no token, code,
// verifier or state was logged, nor printed through the results.
func TestC19_NoSecretInDebugLog(t *testing.T) {
	var jsonLog, textLog bytes.Buffer
	f := newFakeAS(t)
	c := f.client()
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	c.Logger = slog.New(multiHandler{slog.NewJSONHandler(&jsonLog, opts), slog.NewTextHandler(&textLog, opts)})

	l := startLogin(t, c)
	state, verifier := authParams(t, l).Get("state"), l.pkce.verifier.Reveal()
	ch := waitAsync(l, context.Background())
	hit(t, l, "GET", "/callback", "code=x&state=wrong")
	completes(t, l, ch)
	tok, err := c.Refresh(context.Background(), secretOf(fakeRefresh))
	testkit.NoErr(t, err)
	f.setToken(func(form url.Values) (int, string) {
		return 400, `{"error":"invalid_grant","error_description":"` + form.Get("refresh_token") + `"}`
	})
	_, refreshErr := c.Refresh(context.Background(), secretOf(fakeRotated))
	testkit.NoErr(t, c.Revoke(context.Background(), tok.RefreshToken, "refresh_token"))

	printed := fmt.Sprintf("%v %+v %#v %v %s", tok, tok, tok, refreshErr, l.URL())
	all := jsonLog.String() + textLog.String() + printed
	for _, ev := range []string{"oauth: login started", "oauth: token request", "oauth: token response", "oauth: callback request refused", "oauth: revocation"} {
		if !strings.Contains(jsonLog.String(), ev) {
			t.Errorf("debug log lacks %q", ev)
		}
	}
	secrets := map[string]string{
		"code": fakeCode, "access token": fakeAccess, "refresh token": fakeRefresh,
		"rotated refresh token": fakeRotated, "verifier": verifier,
	}
	for name, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the %s appears in the log or printed values", name)
		}
	}
	if strings.Contains(jsonLog.String()+textLog.String(), state) {
		t.Error("the state appears in the log")
	}
}

// multiHandler sends each record to several handlers.
type multiHandler []slog.Handler

func (m multiHandler) Enabled(ctx context.Context, l slog.Level) bool { return m[0].Enabled(ctx, l) }

func (m multiHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range m {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}

func (m multiHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(multiHandler, len(m))
	for i, h := range m {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (m multiHandler) WithGroup(g string) slog.Handler {
	out := make(multiHandler, len(m))
	for i, h := range m {
		out[i] = h.WithGroup(g)
	}
	return out
}
