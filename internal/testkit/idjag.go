package testkit

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IDJAGIssuer is an identity provider's token exchange endpoint for
// cross-app access (SEP-990), as the tests play it: it checks the
// request, verifies the ID token with Verify, and answers with an ID-JAG
// for MCPClient (ES256 with Key, typ oauth-id-jag+jwt, valid 5 minutes).
// It records the ID tokens it was given and the ID-JAGs it issued. Safe
// for concurrent use once its fields are set.
type IDJAGIssuer struct {
	T         testing.TB
	Issuer    string            // iss of the ID-JAGs
	Client    string            // the relay's client at the identity provider
	MCPClient string            // client_id of the ID-JAGs
	Key       *ecdsa.PrivateKey // signs the ID-JAGs
	Verify    func(idToken string) (sub string, err error)

	mu       sync.Mutex
	subjects []string
	jags     []string
	refuse   int
}

// Exchange answers a token exchange request, whose form is form.
func (x *IDJAGIssuer) Exchange(w http.ResponseWriter, form url.Values) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" ||
		form.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" ||
		form.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag" ||
		form.Get("client_id") != x.Client || form.Get("audience") == "" || form.Get("resource") == "" {
		fail("invalid_request", "not an ID-JAG token exchange")
		return
	}
	sub, err := x.Verify(form.Get("subject_token"))
	x.mu.Lock()
	defer x.mu.Unlock()
	x.subjects = append(x.subjects, form.Get("subject_token"))
	if x.refuse > 0 {
		x.refuse--
		fail("invalid_grant", "the ID token is no longer accepted")
		return
	}
	if err != nil {
		fail("invalid_grant", err.Error())
		return
	}
	now := time.Now()
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	jag := SignJWT(x.T, jwt.SigningMethodES256, x.Key, "oauth-id-jag+jwt", jwt.MapClaims{"iss": x.Issuer, "sub": sub, "aud": form.Get("audience"),
		"client_id": x.MCPClient, "resource": form.Get("resource"), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti)})
	x.jags = append(x.jags, jag)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": jag, "token_type": "N_A",
		"issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "expires_in": 300})
}

// Refuse makes the next n exchanges answer invalid_grant.
func (x *IDJAGIssuer) Refuse(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.refuse = n
}

// Seen returns the ID tokens exchanged and the ID-JAGs issued, in order.
func (x *IDJAGIssuer) Seen() (subjects, jags []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.subjects), slices.Clone(x.jags)
}

// TrustFile writes the backend's AUTH_TRUSTED_IDPS_FILE: the identity
// provider's issuer with the ID-JAG key inline, or, if jwksURI is set,
// that URI for it. It returns the file's path.
func (x *IDJAGIssuer) TrustFile(jwksURI string) string {
	idp := map[string]any{"issuer": x.Issuer, "jwks": json.RawMessage(JWKS(x.T, x.Key))}
	if jwksURI != "" {
		idp = map[string]any{"issuer": x.Issuer, "jwks_uri": jwksURI}
	}
	b, err := json.Marshal([]any{idp})
	NoErr(x.T, err)
	return WriteTemp(x.T, "idps.json", string(b), 0o600)
}
