package dpop

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Signer is a client's DPoP state: its key, once it has one, and the last
// DPoP-Nonce each server gave (RFC 9449 §8, §9), kept per origin and role:
// an authorization server's token endpoint (proofs without ath) and a
// resource server (proofs with ath) keep nonces apart even on one origin,
// as the built-in server and the backend share one. It is safe for
// concurrent use. The zero Signer has no key.
type Signer struct {
	mu     sync.Mutex
	key    *Key
	nonces map[string]string // nonceKey → nonce
}

// maxNonce bounds a nonce kept from a server, and maxNonces how many
// servers' nonces are kept.
const (
	maxNonce  = 512
	maxNonces = 64
)

// NewSigner returns a Signer with key, which may be nil.
func NewSigner(key *Key) *Signer { return &Signer{key: key} }

// Key returns the key, or nil.
func (s *Signer) Key() *Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// EnsureKey returns the key, generating one for alg first if there is
// none.
func (s *Signer) EnsureKey(alg string) (*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		k, err := NewKey(alg)
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	return s.key, nil
}

// Proof signs a proof for a request with method to rawURL, with ath when
// accessToken is set and the server's last nonce if it gave one.
func (s *Signer) Proof(method, rawURL, accessToken string) (string, error) {
	s.mu.Lock()
	k, n := s.key, s.nonces[nonceKey(rawURL, accessToken == "")]
	s.mu.Unlock()
	if k == nil {
		return "", ErrKey
	}
	return k.Proof(method, rawURL, ProofOptions{AccessToken: accessToken, Nonce: n})
}

// Observe keeps the DPoP-Nonce of a resource server's response from
// rawURL, and reports whether it was a new one (a retry with it may then
// succeed).
func (s *Signer) Observe(rawURL string, h http.Header) bool { return s.observe(rawURL, false, h) }

// ObserveToken is Observe for a token endpoint's response.
func (s *Signer) ObserveToken(rawURL string, h http.Header) bool { return s.observe(rawURL, true, h) }

func (s *Signer) observe(rawURL string, token bool, h http.Header) bool {
	n := h.Get("DPoP-Nonce")
	if n == "" || len(n) > maxNonce || !printable(n) {
		return false
	}
	o := nonceKey(rawURL, token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonces == nil {
		s.nonces = map[string]string{}
	}
	if s.nonces[o] == n {
		return false
	}
	if _, ok := s.nonces[o]; !ok && len(s.nonces) >= maxNonces {
		clear(s.nonces)
	}
	s.nonces[o] = n
	return true
}

// nonceKey is where a nonce from rawURL is kept: its origin, and for a
// token endpoint a mark of that role.
func nonceKey(rawURL string, token bool) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	k := strings.ToLower(u.Scheme + "://" + u.Host)
	if token {
		k += " token"
	}
	return k
}

// printable reports whether s is a nonce RFC 9449 §8 allows: NQCHAR, that
// is %x21 / %x23-5B / %x5D-7E.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
