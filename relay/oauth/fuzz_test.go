package oauth

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	fuzzState  = "fuzz-state-0123456789abcdefghijklmnopqrstu"
	fuzzIssuer = "https://auth.example"
	fuzzSent   = "SENT-SECRET-0123456789"
)

// printable reports whether s is printable ASCII only, as every error
// message of this package must be.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// FuzzCallbackQuery: nothing without exactly one right state gets past the
// reject outcome, a success always carries the one code, and failures are
// printable text.
func FuzzCallbackQuery(f *testing.F) {
	f.Add("code=c&state=" + fuzzState + "&iss=" + url.QueryEscape(fuzzIssuer))
	f.Add("error=access_denied&error_description=%3Cscript%3E&state=" + fuzzState + "&iss=" + url.QueryEscape(fuzzIssuer))
	f.Add("code=c&state=" + fuzzState + "&state=" + fuzzState)
	f.Add("code=c&error=x&state=" + fuzzState)
	f.Add("code=c;state=" + fuzzState)
	f.Add("state=" + fuzzState)
	f.Fuzz(func(t *testing.T, raw string) {
		cb := parseCallback(raw, secretOf(fuzzState), fuzzIssuer, true)
		if cb.outcome == cbReject {
			if cb.err == nil || !cb.code.IsZero() {
				t.Fatal("a reject without reason, or with a code")
			}
			return
		}
		q, err := url.ParseQuery(raw)
		if err != nil || len(q["state"]) != 1 || q.Get("state") != fuzzState {
			t.Fatalf("outcome %d without exactly one right state", cb.outcome)
		}
		for _, vs := range q {
			if len(vs) != 1 {
				t.Fatal("accepted a repeated parameter")
			}
		}
		switch cb.outcome {
		case cbSuccess:
			if cb.err != nil || cb.code.IsZero() || cb.code.Reveal() != q.Get("code") || q.Has("error") || q.Get("iss") != fuzzIssuer {
				t.Fatal("bad success")
			}
		case cbFail:
			if cb.err == nil || !cb.code.IsZero() || !printable(cb.err.Error()) || len(cb.err.Error()) > 400 {
				t.Fatalf("bad failure: %q", cb.err)
			}
		default:
			t.Fatalf("unknown outcome %d", cb.outcome)
		}
	})
}

// FuzzTokenResponse: a success is a Bearer token with a sane expiry; an
// error never echoes a secret we sent and is printable text.
func FuzzTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"a b"}`), 200)
	f.Add([]byte(`{"error":"invalid_grant","error_description":"token `+fuzzSent+` revoked"}`), 400)
	f.Add([]byte(`{"access_token":"a","token_type":"mac"}`), 200)
	f.Add([]byte(`{"access_token":"a","token_type":"bearer","expires_in":"60"}`), 200)
	f.Add([]byte(`<html>`), 502)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		tok, err := decodeToken(status, body, now, []string{"s"}, secretOf(fuzzSent))
		if err != nil {
			if tok != nil || strings.Contains(err.Error(), fuzzSent) || !printable(err.Error()) || len(err.Error()) > 400 {
				t.Fatalf("bad error: %q", err)
			}
			return
		}
		if status != 200 || tok.AccessToken.IsZero() || !strings.EqualFold(tok.TokenType, "bearer") {
			t.Fatal("accepted a response without a Bearer access token")
		}
		if !tok.Expiry.IsZero() && (tok.Expiry.Before(now) || tok.Expiry.After(now.Add(maxExpiresIn*time.Second))) {
			t.Fatalf("expiry %v out of range", tok.Expiry)
		}
	})
}
