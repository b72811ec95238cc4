package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestNewRejectsBadConfig(t *testing.T) {
	u := testUsers(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	cases := map[string]struct {
		cfg  Config
		want error
	}{
		"no issuer":              {Config{Users: u}, ErrConfig},
		"issuer trailing slash":  {Config{Issuer: "http://127.0.0.1:5002/", Users: u}, ErrConfig},
		"issuer with query":      {Config{Issuer: "http://127.0.0.1:5002?x=1", Users: u}, ErrConfig},
		"issuer with fragment":   {Config{Issuer: "http://127.0.0.1:5002#x", Users: u}, ErrConfig},
		"issuer not http":        {Config{Issuer: "ftp://x", Users: u}, ErrConfig},
		"no users":               {Config{Issuer: "http://127.0.0.1:5002"}, ErrConfig},
		"user without hash":      {Config{Issuer: "http://127.0.0.1:5002", Users: []User{{Name: "x"}}}, ErrConfig},
		"short secret":           {Config{Issuer: "http://127.0.0.1:5002", Users: u, HMACSecret: secret.New(strings.Repeat("k", 31))}, ErrShortSecret},
		"one-byte secret":        {Config{Issuer: "http://127.0.0.1:5002", Users: u, HMACSecret: secret.New("k")}, ErrShortSecret},
		"ttl over 24h":           {Config{Issuer: "http://127.0.0.1:5002", Users: u, TokenTTL: 25 * time.Hour}, ErrConfig},
		"negative ttl":           {Config{Issuer: "http://127.0.0.1:5002", Users: u, TokenTTL: -time.Second}, ErrConfig},
		"negative refresh ttl":   {Config{Issuer: "http://127.0.0.1:5002", Users: u, RefreshTTL: -time.Second}, ErrConfig},
		"relative resource":      {Config{Issuer: "http://127.0.0.1:5002", Users: u, Resources: []string{"/api"}}, ErrConfig},
		"resource with fragment": {Config{Issuer: "http://127.0.0.1:5002", Users: u, Resources: []string{"http://x/#a"}}, ErrConfig},
		"empty resources":        {Config{Issuer: "http://127.0.0.1:5002", Users: u, Resources: []string{}}, ErrConfig},
		"client scope unsupported": {Config{Issuer: "http://127.0.0.1:5002", Users: u, Scopes: []string{"a"},
			Clients: []Client{{ID: "c", RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"b"}}}}, ErrConfig},
		"duplicate client": {Config{Issuer: "http://127.0.0.1:5002", Users: u,
			Clients: []Client{{ID: "c", RedirectURIs: []string{"http://127.0.0.1/cb"}}, {ID: "c", RedirectURIs: []string{"http://127.0.0.1/cb"}}}}, ErrConfig},
		"p384 key": {Config{Issuer: "http://127.0.0.1:5002", Users: u, SigningKey: p384}, ErrConfig},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			testkit.WantIs(t, testkit.ErrOf(New(tc.cfg)), tc.want, "New")
		})
	}
}

// TestEmptyHMACSecretSelectsES256: secret.New("") is the zero Value, so an
// empty HMACSecret means "no HMAC secret": the server signs with ES256 and
// never with an empty HMAC key.
func TestEmptyHMACSecretSelectsES256(t *testing.T) {
	for name, v := range map[string]secret.Value{"zero": {}, "New(\"\")": secret.New("")} {
		s, err := New(Config{Issuer: "http://127.0.0.1:5002", Users: testUsers(t), HMACSecret: v})
		if err != nil || s.signer.method.Alg() != "ES256" || s.signer.ec == nil || !s.signer.hmac.IsZero() {
			t.Fatalf("%s: err %v, want an ES256 server", name, err)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	s, err := New(Config{Issuer: "http://127.0.0.1:5002", Users: testUsers(t)})
	testkit.NoErr(t, err)
	if s.cfg.TokenTTL != 15*time.Minute || s.cfg.Resources[0] != "http://127.0.0.1:5002" ||
		strings.Join(s.cfg.Scopes, " ") != "notes:read notes:write admin" {
		t.Fatalf("defaults: %v %v %v", s.cfg.TokenTTL, s.cfg.Resources, s.cfg.Scopes)
	}
	c, ok := s.store.client("relay")
	if !ok || strings.Join(c.DefaultScopes, " ") != "notes:read notes:write" {
		t.Fatalf("default client: %+v", c)
	}
}

func TestParseUsers(t *testing.T) {
	us, err := ParseUsers("alice:pw:with:colons,bob:x")
	if err != nil || len(us) != 2 || us[0].Name != "alice" {
		t.Fatalf("%v %v", us, err)
	}
	s := &Server{users: map[string]User{"alice": us[0]}, dummy: us[1].hash, log: slog.New(slog.DiscardHandler)}
	if _, ok := s.checkPassword("alice", "pw:with:colons"); !ok {
		t.Fatal("password with colons")
	}
	if _, ok := s.checkPassword("alice", strings.Repeat("p", 100)); ok {
		t.Fatal("long password accepted")
	}
	for _, bad := range []string{"", "alice", "alice:", ":pw", "a b:pw", "alice:x,alice:y", "alice:x,", strings.Repeat("n", 65) + ":x",
		"alice:" + strings.Repeat("p", 73)} {
		_, err := ParseUsers(bad)
		testkit.ExpectIs(t, err, ErrUserSpec, "ParseUsers(%q)", bad)
		if err != nil && strings.Contains(bad, ":") {
			if _, pw, _ := strings.Cut(bad, ":"); len(pw) > 2 && strings.Contains(err.Error(), pw) {
				t.Errorf("error echoes the password: %v", err)
			}
		}
	}
	if bcryptCost == 10 {
		t.Fatal("test hook did not lower the bcrypt cost")
	}
}
