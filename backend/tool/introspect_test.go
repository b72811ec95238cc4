package tool

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

const opaqueToken = "opaque-9c1e77a4b2d04f3e"

// introspectingFixture serves the tools with an Introspector asking a
// loopback endpoint that answers with answer.
func introspectingFixture(t *testing.T, answer http.HandlerFunc) *fixture {
	t.Helper()
	as := httptest.NewServer(answer)
	t.Cleanup(as.Close)
	in, err := bearer.NewIntrospector(bearer.IntrospectionConfig{Issuer: iss, Audience: aud, Endpoint: as.URL,
		ClientID: "backend", ClientSecret: "introspection-secret"})
	testkit.NoErr(t, err)
	return newFixtureWith(t, in)
}

// introspectingFixtureDPoP is introspectingFixture with DPoP accepted.
func introspectingFixtureDPoP(t *testing.T, answer http.HandlerFunc) *fixture {
	t.Helper()
	as := httptest.NewServer(answer)
	t.Cleanup(as.Close)
	in, err := bearer.NewIntrospector(bearer.IntrospectionConfig{Issuer: iss, Audience: aud, Endpoint: as.URL,
		ClientID: "backend", ClientSecret: "introspection-secret"})
	testkit.NoErr(t, err)
	return newFixtureDPoP(t, in, &bearer.DPoP{Verifier: dpop.NewVerifier(dpop.VerifierConfig{})})
}

func activeAnswer(scope string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": iss, "aud": aud, "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "client_id": "relay", "scope": scope, "jti": "j1"})
	}
}

func TestIntrospectedTokenWithInsufficientScopeIs403(t *testing.T) {
	f := introspectingFixture(t, activeAnswer("notes:read"))
	wantChallenge(t, f.call(t, "write", `{}`, "Bearer "+opaqueToken), 403, "insufficient_scope")
}

func TestIntrospectedTokenWhoamiIsTheSameUserAsJWT(t *testing.T) {
	f := introspectingFixture(t, activeAnswer("notes:read"))
	r := f.call(t, "whoami", `{}`, "Bearer "+opaqueToken)
	jf := newFixture(t)
	j := jf.call(t, "whoami", `{}`, "Bearer "+token(t, nil))
	if r.status != 200 || j.status != 200 {
		t.Fatalf("whoami: %d %s / %d %s", r.status, r.raw, j.status, j.raw)
	}
	// Expiry differs by when each token was minted; compare the rest.
	strip := func(s string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(s), &m)
		var u map[string]any
		_ = json.Unmarshal([]byte(m["content"].([]any)[0].(map[string]any)["text"].(string)), &u)
		delete(u, "expiry")
		delete(u, "Expiry")
		b, _ := json.Marshal(u)
		return string(b)
	}
	if a, b := strip(r.raw), strip(j.raw); a != b || !strings.Contains(a, `"alice"`) {
		t.Fatalf("users differ:\nintrospection %s\njwt           %s", a, b)
	}
}

func TestIntrospectionEndpointDownIs503WithRetryAfter(t *testing.T) {
	f := introspectingFixture(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	r := f.call(t, "whoami", `{}`, "Bearer "+opaqueToken)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if strings.Contains(r.raw, opaqueToken) || strings.Contains(f.logs.String(), opaqueToken) {
		t.Fatal("the token is in the response or the log")
	}
}
