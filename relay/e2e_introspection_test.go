package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// TestE2E_OpaqueTokensIntrospectedAndRevokedAtOnce: the backend binary
// with its built-in server issuing opaque access tokens
// (AUTH_TOKEN_FORMAT=opaque) and checking them by introspection
// (BACKEND_INTROSPECTION=1, as the resource-server client "backend"); the
// relay signs in and calls whoami; relay logout revokes the sign-in, and
// the old access token is refused at the very next call.
func TestE2E_OpaqueTokensIntrospectedAndRevokedAtOnce(t *testing.T) {
	const rsSecret = "backend-introspection-secret-e2e"
	clientsFile := testkit.WriteTemp(t, "clients.json", `[{"client_id": "backend", "client_secret": "`+rsSecret+`", "introspect": true}]`, 0o600)
	url, env := startDefaultSetup(t, "AUTH_MACHINE_CLIENTS_FILE="+clientsFile, "AUTH_TOKEN_FORMAT=opaque", "BACKEND_INTROSPECTION=1", "BACKEND_CLIENT_ID=backend",
		"BACKEND_CLIENT_SECRET_FILE="+testkit.WriteTemp(t, "backend-secret", rsSecret+"\n", 0o600), "BACKEND_INTROSPECTION_CACHE=0")

	s := env.Serve(t, "", nil)
	who := whoamiOf(t, s.MustCall(t, "whoami", nil))
	_ = s.Close()
	if who.Issuer != url || !strings.HasPrefix(who.ClientID, "dyn-") {
		t.Fatalf("whoami after sign-in: %+v", who)
	}

	// The stored token is opaque, and the tool API takes it.
	rec := storedAt(t, env.RelayEnv, url)
	at := rec.AccessToken.Reveal()
	if at == "" || strings.Contains(at, ".") {
		t.Fatal("the stored access token is not an opaque token")
	}
	// It is bound to the vault's DPoP key (cnf.jkt in the introspection
	// answer): as a bearer token it is refused, with a proof it is taken.
	if resp, body := testkit.PostTool(t, url, "whoami", `{}`, at); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "bound to a DPoP key") {
		t.Fatalf("whoami with the stored token as a bearer token: %d %s", resp.StatusCode, body)
	}
	key := storedKey(t, rec)
	proof := func() string {
		p, err := key.Proof("POST", url+"/mcp/tools/whoami", dpop.ProofOptions{AccessToken: at})
		testkit.NoErr(t, err)
		return p
	}
	if resp, body := testkit.PostToolAuth(t, url, "whoami", `{}`, "DPoP "+at, proof()); resp.StatusCode != http.StatusOK {
		t.Fatalf("whoami with the stored token and a proof: %d %s", resp.StatusCode, body)
	}

	env.Says(t, 0, "logout", "revoked at the server")
	resp, body := testkit.PostToolAuth(t, url, "whoami", `{}`, "DPoP "+at, proof())
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "token not active") {
		t.Fatalf("the old access token after logout: %d %s; want 401, token not active", resp.StatusCode, body)
	}
	if strings.Contains(body, at) {
		t.Fatal("the token is in the refusal")
	}
}

// storedAt is the vault record of the client the relay registered at url
// (kept under no ClientID) for url.
func storedAt(t *testing.T, env *testkit.RelayEnv, url string) vault.Record {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: env.Dir, KeySpec: "file:" + env.KeyFile})
	testkit.NoErr(t, err)
	rec, err := v.Get(context.Background(), vault.Account{Issuer: url, Resource: url})
	testkit.NoErr(t, err)
	return rec
}

// storedKey is the DPoP key of a vault record, as malware with the vault's
// key would read it.
func storedKey(t *testing.T, rec vault.Record) *dpop.Key {
	t.Helper()
	if rec.TokenType != "DPoP" || rec.DPoPKey.IsZero() {
		t.Fatalf("the stored tokens are %q, with a key: %v; want DPoP-bound ones", rec.TokenType, !rec.DPoPKey.IsZero())
	}
	der, err := base64.StdEncoding.DecodeString(rec.DPoPKey.Reveal())
	testkit.NoErr(t, err)
	k, err := dpop.ParseKey(rec.DPoPAlg, der)
	testkit.NoErr(t, err)
	return k
}
