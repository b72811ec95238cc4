package authhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// boundTokens is fakeTokens whose tokens are bound to signer's key.
type boundTokens struct {
	fakeTokens
	signer *dpop.Signer
}

func (b *boundTokens) DPoPFor(_ context.Context, tok secret.Value) *dpop.Signer {
	if b.signer != nil && strings.HasPrefix(tok.Reveal(), "tok-") {
		return b.signer
	}
	return nil
}

// dpopServer checks each request's proof as the backend does, with server
// nonces (RFC 9449 §9), and records what it answered.
type dpopServer struct {
	mu      sync.Mutex
	answers []int
	auths   []string
}

func TestDPoPResourceRequests(t *testing.T) {
	key, err := dpop.NewKey(dpop.ES256)
	testkit.NoErr(t, err)
	nonces := dpop.NewNonces(0, nil)
	d := &bearer.DPoP{Verifier: dpop.NewVerifier(dpop.VerifierConfig{Nonces: nonces})}
	s := &dpopServer{}
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tok, scheme, err := bearer.Credentials(r)
		if err == nil {
			err = d.Check(r, scheme, tok, &bearer.Token{JKT: key.Thumbprint()}, srvURL)
		}
		status := http.StatusOK
		if err != nil {
			d.ChallengeFor(err, scheme, "").Write(w)
			status = http.StatusUnauthorized
		} else if string(body) != `{"jsonrpc":"2.0","id":1,"method":"x"}` {
			t.Errorf("body %q", body) // the nonce retry sends the body again
		}
		s.mu.Lock()
		s.answers, s.auths = append(s.answers, status), append(s.auths, strings.SplitN(r.Header.Get("Authorization"), " ", 2)[0])
		s.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	f := &boundTokens{signer: dpop.NewSigner(key)}
	tr := &Transport{Base: http.DefaultTransport, Tokens: f, Peer: "backend"}

	// The first request has no nonce yet: 401 use_dpop_nonce, then the
	// retry with it passes; the next request has it at once.
	for i := range 2 {
		resp, err := do(t, tr, context.Background(), http.MethodPost, srv.URL+"/mcp/tools/whoami")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	if f.unauth != 0 || f.n != 1 {
		t.Fatalf("a nonce challenge cost a new token (%d tokens, %d after a 401): it is not a refusal of the token", f.n, f.unauth)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := s.answers; len(got) != 3 || got[0] != 401 || got[1] != 200 || got[2] != 200 {
		t.Fatalf("answers %v, want 401 (nonce), 200, 200", got)
	}
	for _, a := range s.auths {
		if a != "DPoP" {
			t.Fatalf("schemes %v, want DPoP each time", s.auths)
		}
	}
}

// TestDPoPNonceRetriedOnce: a server that asks for a new nonce every time
// gets two requests, not a loop.
func TestDPoPNonceRetriedOnce(t *testing.T) {
	key, _ := dpop.NewKey(dpop.ES256)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("DPoP-Nonce", "nonce-"+strings.Repeat("x", n))
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", error="use_dpop_nonce"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	f := &boundTokens{signer: dpop.NewSigner(key)}
	f.cached = secret.New("tok-1")
	tr := &Transport{Base: http.DefaultTransport, Tokens: f, Peer: "backend"}
	_, err := do(t, tr, WithMode(context.Background(), Cached), http.MethodPost, srv.URL+"/mcp")
	if err == nil || n != 2 {
		t.Fatalf("err %v after %d requests, want an error after 2", err, n)
	}
}

// TestDPoPRefusedByABearerOnlyServer: a resource that knows only Bearer
// refuses a DPoP-bound token; the error says so and names RELAY_DPOP=off.
func TestDPoPRefusedByABearerOnlyServer(t *testing.T) {
	key, _ := dpop.NewKey(dpop.ES256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	f := &boundTokens{signer: dpop.NewSigner(key)}
	tr := &Transport{Base: http.DefaultTransport, Tokens: f, Peer: "MCP server"}
	_, err := do(t, tr, context.Background(), http.MethodPost, srv.URL+"/mcp")
	var ae *AuthError
	if !errors.As(err, &ae) || !ae.NoDPoP || !strings.Contains(ae.UserText(), "does not take DPoP-bound tokens") || !strings.Contains(ae.UserText(), "RELAY_DPOP=off") {
		t.Fatalf("err %v", err)
	}
	// A bearer token refused the same way is no DPoP matter.
	f.signer = nil
	_, err = do(t, tr, context.Background(), http.MethodPost, srv.URL+"/mcp")
	if !errors.As(err, &ae) || ae.NoDPoP {
		t.Fatalf("a bearer token: %v", err)
	}
}
