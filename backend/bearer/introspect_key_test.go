package bearer

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/clientauth"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestIntrospectionWithClientKey: with ClientKey the backend sends a
// private_key_jwt assertion (RFC 7523) in the form, and no Basic
// credentials: signed by its key, iss = sub = the client id, aud = the
// issuer, a short life, and a fresh jti on every request.
func TestIntrospectionWithClientKey(t *testing.T) {
	key := testkit.ECKey(t)
	var mu sync.Mutex
	var jtis []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, basic := r.BasicAuth()
		if basic || r.PostFormValue("client_id") != introClient || r.PostFormValue("client_assertion_type") != clientauth.AssertionType {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		var c jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(r.PostFormValue("client_assertion"), &c, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(introClient), jwt.WithSubject(introClient),
			jwt.WithAudience(testIssuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return testNow }))
		if err != nil || c.ExpiresAt.Sub(testNow) > clientauth.Lifetime || c.ID == "" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		mu.Lock()
		jtis = append(jtis, c.ID)
		mu.Unlock()
		respond(activeAt(testNow))(w, r.PostFormValue("token"))
	}))
	t.Cleanup(srv.Close)
	in, err := NewIntrospector(IntrospectionConfig{Issuer: testIssuer, Audience: testAudience, Endpoint: srv.URL,
		ClientID: introClient, ClientKey: key, CacheTTL: -1, Now: func() time.Time { return testNow }})
	testkit.NoErr(t, err)
	t.Cleanup(in.Close)
	for range 2 {
		if _, err := in.Validate(context.Background(), opaque); err != nil {
			t.Fatalf("validate with a client assertion: %v", err)
		}
	}
	if len(jtis) != 2 || jtis[0] == jtis[1] {
		t.Fatalf("jti of the two assertions: %q, want two different ones", jtis)
	}
}

func TestNewIntrospectorClientKeyConfig(t *testing.T) {
	key := testkit.ECKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	testkit.NoErr(t, err)
	good := IntrospectionConfig{Issuer: testIssuer, Audience: testAudience, Endpoint: "http://127.0.0.1:1/introspect",
		ClientID: introClient, ClientKey: key}
	if _, err := NewIntrospector(good); err != nil {
		t.Fatalf("a P-256 key: %v", err)
	}
	for name, mut := range map[string]func(*IntrospectionConfig){
		"secret and key": func(c *IntrospectionConfig) { c.ClientSecret = introSecret },
		"neither":        func(c *IntrospectionConfig) { c.ClientKey = nil },
		"RSA 1024":       func(c *IntrospectionConfig) { c.ClientKey = small },
	} {
		c := good
		mut(&c)
		if _, err := NewIntrospector(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
