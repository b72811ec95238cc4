package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func dpopClient(f *fakeAS, mode string) *Client {
	c := f.client()
	c.Metadata.DPoPSigningAlgValuesSupported = []string{"ES256"}
	c.DPoPMode, c.DPoP = mode, dpop.NewSigner(nil)
	return c
}

// verifyProof checks a recorded token request's proof as a server would.
func verifyProof(t *testing.T, f *fakeAS, r recorded) *dpop.Result {
	t.Helper()
	v := dpop.NewVerifier(dpop.VerifierConfig{})
	res, err := v.Verify(dpop.Request{Proofs: r.Header.Values("DPoP"), Method: "POST", URL: f.srv.URL + "/token"})
	testkit.NoErr(t, err, "the proof")
	return res
}

// TestDPoPTokenRequestProof: a refresh carries a proof of the client's
// key, and a DPoP answer is returned with the key.
func TestDPoPTokenRequestProof(t *testing.T) {
	f := newFakeAS(t)
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"DPoP","expires_in":600}`
	})
	c := dpopClient(f, DPoPAuto)
	tok, err := c.Refresh(context.Background(), secret.New(fakeRefresh))
	testkit.NoErr(t, err)
	if tok.DPoPKey == nil || tok.DPoPKey != c.DPoP.Key() {
		t.Fatal("the tokens do not carry the key")
	}
	if res := verifyProof(t, f, f.requests("/token")[0]); res.Thumbprint != tok.DPoPKey.Thumbprint() {
		t.Fatal("the proof's key is not the client's")
	}
}

// TestDPoPTokenTypeMismatch: an answer whose token_type is not what was
// asked is refused, both ways.
func TestDPoPTokenTypeMismatch(t *testing.T) {
	f := newFakeAS(t)
	c := dpopClient(f, DPoPAuto)
	_, err := c.Refresh(context.Background(), secret.New(fakeRefresh)) // answers "bearer"
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "is not DPoP, which was asked for") {
		t.Fatalf("a bearer answer to a proof: %v", err)
	}
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"DPoP","expires_in":600}`
	})
	c.DPoPMode = DPoPOff
	if _, err := c.Refresh(context.Background(), secret.New(fakeRefresh)); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("a DPoP answer without a proof: %v", err)
	}
	if h := f.requests("/token")[1].Header.Get("DPoP"); h != "" {
		t.Fatal("a proof with DPoP off")
	}
}

func TestDPoPModes(t *testing.T) {
	f := newFakeAS(t)
	c := f.client() // metadata without dpop_signing_alg_values_supported
	c.DPoP = dpop.NewSigner(nil)
	c.DPoPMode = DPoPOn
	if _, err := c.Refresh(context.Background(), secret.New(fakeRefresh)); !errors.Is(err, ErrDPoPUnsupported) {
		t.Fatalf("on, no DPoP at the server: %v", err)
	}
	if n := len(f.requests("/token")); n != 0 {
		t.Fatalf("%d token requests sent", n)
	}
	c.DPoPMode = DPoPAuto
	tok, err := c.Refresh(context.Background(), secret.New(fakeRefresh))
	if err != nil || tok.DPoPKey != nil || c.DPoP.Key() != nil {
		t.Fatalf("auto, no DPoP at the server: %v, key made: %v", err, c.DPoP.Key() != nil)
	}
	c.Metadata.DPoPSigningAlgValuesSupported = []string{"PS512"}
	c.DPoPMode = DPoPOn
	if _, err := c.Refresh(context.Background(), secret.New(fakeRefresh)); !errors.Is(err, ErrDPoPUnsupported) {
		t.Fatalf("on, no common algorithm: %v", err)
	}
}

// TestDPoPNonceRetry: a use_dpop_nonce answer with a DPoP-Nonce is
// retried once with the nonce; a second one is not.
func TestDPoPNonceRetry(t *testing.T) {
	f := newFakeAS(t)
	n := 0
	f.override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("DPoP-Nonce", "nonce-"+string(rune('0'+n)))
		w.Header().Set("Content-Type", "application/json")
		if n == 1 || r.URL.Query().Get("always") != "" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"use_dpop_nonce","error_description":"use the nonce"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"` + fakeAccess + `","token_type":"DPoP","expires_in":600}`))
	}))
	c := dpopClient(f, DPoPAuto)
	if _, err := c.Refresh(context.Background(), secret.New(fakeRefresh)); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests("/token")
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	p, _, _ := strings.Cut(strings.Split(reqs[1].Header.Get("DPoP"), ".")[1], ".")
	if claims := string(mustB64(t, p)); !strings.Contains(claims, `"nonce":"nonce-1"`) {
		t.Fatalf("the retry's proof: %s", claims)
	}
	c.Metadata.TokenEndpoint += "?always=1"
	if _, err := c.Refresh(context.Background(), secret.New(fakeRefresh)); err == nil {
		t.Fatal("a second use_dpop_nonce passed")
	}
	if got := len(f.requests("/token")); got != 4 {
		t.Fatalf("%d requests: the nonce retry is not once", got)
	}

}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	testkit.NoErr(t, err)
	return b
}
