package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestParseClientKeyChoosesTheAlgorithm(t *testing.T) {
	ec := testkit.ECKey(t)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	for name, tc := range map[string]struct{ pem, alg string }{
		"P-256 PKCS8":    {testkit.PEM(t, ec), "ES256"},
		"P-256 SEC1":     {string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "ES256"},
		"RSA 2048":       {testkit.PEM(t, rs), "RS256"},
		"RSA 2048 PKCS1": {string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rs)})), "RS256"},
		"Ed25519":        {testkit.PEM(t, ed), "EdDSA"},
	} {
		k, err := ParseClientKey([]byte(tc.pem))
		if err != nil || k.Alg != tc.alg {
			t.Errorf("%s: %v, %v; want %s", name, k, err, tc.alg)
		}
	}
}

func TestParseClientKeyRefusals(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	for name, tc := range map[string]struct{ pem, want string }{
		"RSA 1024":   {testkit.PEM(t, small), "at least 2048"},
		"P-384":      {testkit.PEM(t, p384), "only P-256"},
		"public key": {string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), "not a private key"},
		"not PEM":    {"hello", "not a PEM"},
		"bad DER":    {string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage-key-bytes")})), "does not parse"},
	} {
		_, err := ParseClientKey([]byte(tc.pem))
		if !errors.Is(err, ErrClientKey) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrClientKey saying %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "garbage") {
			t.Errorf("%s: the error holds key bytes: %v", name, err)
		}
	}
}

// TestClientCredentialsPrivateKeyJWT: the token request is the
// client_credentials grant with an assertion that verifies with the
// public key and has iss = sub = client id, aud = issuer, a short exp and
// a jti unique per request; no secret and no Authorization header.
func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	f := newFakeAS(t)
	f.md.TokenEndpointAuthMethodsSupported = []string{AuthJWT}
	f.md.TokenEndpointAuthSigningAlgValuesSupported = []string{"ES256"}
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"Bearer","expires_in":300}`
	})
	key := testkit.ECKey(t)
	c := f.client()
	c.ClientID, c.ClientKey, c.Now = "ci-bot", secret.New(testkit.PEM(t, key)), time.Now
	for range 2 {
		tok, err := c.ClientCredentials(context.Background())
		if err != nil || tok.AccessToken.Reveal() != fakeAccess || !tok.RefreshToken.IsZero() {
			t.Fatalf("ClientCredentials: %v, %v", tok, err)
		}
	}
	reqs := f.requests("/token")
	seen := map[string]bool{}
	for _, r := range reqs {
		fm := r.Form
		if fm.Get("grant_type") != "client_credentials" || fm.Get("client_id") != "ci-bot" || fm.Get("client_assertion_type") != AssertionType ||
			fm.Get("scope") != "notes:read notes:write" || fm.Get("resource") != resourceURL || fm.Has("client_secret") || r.Header.Get("Authorization") != "" {
			t.Fatalf("token request: %v (Authorization %q)", fm, r.Header.Get("Authorization"))
		}
		var claims jwt.RegisteredClaims
		tk, err := jwt.ParseWithClaims(fm.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("ci-bot"), jwt.WithSubject("ci-bot"), jwt.WithAudience(f.md.Issuer), jwt.WithExpirationRequired())
		if err != nil || !tk.Valid {
			t.Fatalf("assertion: %v", err)
		}
		if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life <= 0 || life > AssertionLifetime {
			t.Errorf("assertion lifetime %v, want at most %v", life, AssertionLifetime)
		}
		if claims.ID == "" || seen[claims.ID] {
			t.Errorf("jti %q is empty or repeated", claims.ID)
		}
		seen[claims.ID] = true
	}
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2", len(reqs))
	}
}

// TestClientCredentialsAlgNotAccepted: a key whose algorithm the server
// does not list is refused before any request, naming both.
func TestClientCredentialsAlgNotAccepted(t *testing.T) {
	f := newFakeAS(t)
	f.md.TokenEndpointAuthSigningAlgValuesSupported = []string{"RS256"}
	key := testkit.ECKey(t)
	c := f.client()
	c.ClientKey = secret.New(testkit.PEM(t, key))
	_, err := c.ClientCredentials(context.Background())
	if !errors.Is(err, ErrClientKey) || !strings.Contains(err.Error(), "ES256") || !strings.Contains(err.Error(), "RS256") {
		t.Fatalf("err = %v", err)
	}
	f.wantRequests(t, "/token", 0, "the server accepts no ES256 assertion")
}

// TestClientCredentialsSecretBasic: with a secret and a server listing
// client_secret_basic, the credentials go in the Authorization header.
func TestClientCredentialsSecretBasic(t *testing.T) {
	f := newFakeAS(t)
	f.md.TokenEndpointAuthMethodsSupported = []string{AuthBasic}
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"Bearer"}`
	})
	c := f.client()
	c.ClientID, c.ClientSecret = "ci-bot", secret.New("s3cret-0123456789")
	if _, err := c.ClientCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.requests("/token")[0]
	req := &http.Request{Header: r.Header}
	id, sec, ok := req.BasicAuth()
	if !ok || id != "ci-bot" || sec != "s3cret-0123456789" || r.Form.Has("client_secret") || r.Form.Get("grant_type") != "client_credentials" {
		t.Fatalf("request: %v, basic %q %v", r.Form, id, ok)
	}
}

// TestClientCredentialsAssertionScrubbed: a server that echoes the
// assertion in its error gets it replaced.
func TestClientCredentialsAssertionScrubbed(t *testing.T) {
	f := newFakeAS(t)
	var sent string
	f.setToken(func(form url.Values) (int, string) {
		sent = form.Get("client_assertion")
		return 401, `{"error":"invalid_client","error_description":"bad assertion ` + sent + `"}`
	})
	key := testkit.ECKey(t)
	c := f.client()
	c.ClientKey = secret.New(testkit.PEM(t, key))
	_, err := c.ClientCredentials(context.Background())
	if err == nil || sent == "" || strings.Contains(err.Error(), sent) || !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("err = %v", err)
	}
}

func TestClientCredentialsNeedsACredential(t *testing.T) {
	f := newFakeAS(t)
	if _, err := f.client().ClientCredentials(context.Background()); !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	f.wantRequests(t, "/token", 0, "no credential")
}
