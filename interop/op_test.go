package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The clients registered at the provider. Both are native public clients
// (no secret, PKCE) allowed the code and refresh grants, with the loopback
// redirect http://127.0.0.1/callback; the provider accepts any port on a
// loopback redirect (RFC 8252 §7.3), as the relay picks a free one.
const (
	relayClientID = "keyrelay"
	otherClientID = "another-app"
	opPassword    = "verysecure" // the example user store's password
	opSubject     = "id1"        // the example user store's first user
)

// zop is a running zitadel/oidc example OpenID provider on loopback, with
// a spy in front of it.
type zop struct {
	URL  string // the issuer: http://127.0.0.1:PORT
	User string // test-user@127.0.0.1

	counts // token and revocation requests

	mu    sync.Mutex
	paths []string // every request, "METHOD /path"
	auths []url.Values
	forms []url.Values // token endpoint request bodies
}

// startOP runs the example provider with a private client map. alg is
// "RS256" (the example storage's own key) or "ES256" (a P-256 key swapped
// in by the storage wrapper). Access tokens are JWTs.
func startOP(t *testing.T, alg string) *zop {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	z := &zop{URL: issuer, User: "test-user@127.0.0.1"}

	clients := map[string]*storage.Client{
		relayClientID: storage.NativeClient(relayClientID, "http://127.0.0.1/callback"),
		otherClientID: storage.NativeClient(otherClientID, "http://127.0.0.1/callback"),
	}
	st := &jwtStorage{Storage: storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)}
	switch alg {
	case "RS256":
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		testkit.NoErr(t, err)
		st.ec = &ecKey{id: "ec-" + alg, key: k}
	default:
		t.Fatalf("unknown alg %q", alg)
	}
	// logger nil: SetupServer leaves the default slog alone (TestMain
	// discards it). wrapServer false: the plain op.Provider.
	h := exampleop.SetupServer(issuer, st, nil, false)
	srv.Config.Handler = z.spy(h)
	srv.Start()
	t.Cleanup(srv.Close)
	return z
}

// spy records requests: paths, authorization requests and token forms.
func (z *zop) spy(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		z.mu.Lock()
		z.paths = append(z.paths, r.Method+" "+r.URL.Path)
		if r.URL.Path == "/auth" {
			z.auths = append(z.auths, r.URL.Query())
		}
		z.mu.Unlock()
		if r.Method == http.MethodPost && (r.URL.Path == "/oauth/token" || r.URL.Path == "/revoke") {
			form := peekForm(w, r)
			z.mu.Lock()
			z.forms = append(z.forms, form)
			z.mu.Unlock()
			if r.URL.Path == "/revoke" {
				z.revokes.Add(1)
			} else {
				z.grant(form)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// mark returns a position in the request log for pathsSince.
func (z *zop) mark() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return len(z.paths)
}

// pathsSince returns the requests logged after mark.
func (z *zop) pathsSince(mark int) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.paths[mark:]...)
}

// inOrder reports whether want is a subsequence of got.
func inOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func (z *zop) authRequests() []url.Values {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]url.Values(nil), z.auths...)
}

func (z *zop) tokenForms() []url.Values {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]url.Values(nil), z.forms...)
}

// jwtStorage is the example storage with the two changes a deployment
// makes in its own storage: JWT access tokens for every client (the
// example's clients default to opaque ones), and optionally an EC signing
// key instead of the example's RSA key.
type jwtStorage struct {
	*storage.Storage
	ec *ecKey // nil: keep the storage's RS256 key
}

func (s *jwtStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return jwtClient{c}, nil
}

func (s *jwtStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	if s.ec == nil {
		return s.Storage.SigningKey(ctx)
	}
	return s.ec, nil
}

func (s *jwtStorage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	if s.ec == nil {
		return s.Storage.SignatureAlgorithms(ctx)
	}
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (s *jwtStorage) KeySet(ctx context.Context) ([]op.Key, error) {
	if s.ec == nil {
		return s.Storage.KeySet(ctx)
	}
	return []op.Key{ecPublic{s.ec}}, nil
}

// jwtClient makes the provider issue JWT access tokens (RFC 9068 style)
// rather than opaque ones.
type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

// ecKey is an ES256 signing key (op.SigningKey).
type ecKey struct {
	id  string
	key *ecdsa.PrivateKey
}

func (k *ecKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *ecKey) Key() any                                    { return k.key }
func (k *ecKey) ID() string                                  { return k.id }

// ecPublic is its public half for the JWKS (op.Key).
type ecPublic struct{ k *ecKey }

func (p ecPublic) ID() string                         { return p.k.id }
func (p ecPublic) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (p ecPublic) Use() string                        { return "sig" }
func (p ecPublic) Key() any                           { return &p.k.key.PublicKey }
