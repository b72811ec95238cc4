package authserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Limits on in-memory state, so that unauthenticated requests cannot grow
// memory without bound.
const (
	maxPending    = 10000 // pending authorization requests and device grants, each (see pending.go)
	maxRegistered = 100   // clients added through /register (see registrations.go)
	sweepEvery    = 30 * time.Second
	requestTTL    = 10 * time.Minute // pending login and consent
	codeTTL       = 60 * time.Second
	codeRetention = 10 * time.Minute // used codes are kept to detect replay
	deviceTTL     = 10 * time.Minute
)

// grant is what a user approved: who, for which client, which scopes and
// which resource (the aud).
type grant struct {
	clientID string
	user     string
	scopes   []string
	resource string
	jkt      string // the DPoP key the tokens are bound to; "" for none
}

// authRequest is a pending /authorize or device verification, between the
// login and the consent. It is bound to one browser by cookie.
type authRequest struct {
	id          string
	browser     secret.Value // cookie value
	csrf        secret.Value
	grant              // user is set after login
	redirectURI string // empty for the device flow
	state       secret.Value
	challenge   string
	device      *deviceGrant
	expires     time.Time
	slots       // in the pending requests' quotas
}

// authCode is an issued authorization code, keyed by its hash.
type authCode struct {
	grant
	redirectURI string
	challenge   string
	expires     time.Time
	used        bool
	family      string // refresh family issued from this code
}

// family is a chain of rotated refresh tokens from one grant.
type family struct {
	id string
	grant
	current string // hash of the only live refresh token
	revoked bool
	expires time.Time
}

// deviceGrant is an RFC 8628 device authorization, keyed by the hash of its
// device code and by its user code.
type deviceGrant struct {
	grant    // user set on approval
	hash     string
	userCode string
	status   deviceStatus
	expires  time.Time
	lastPoll time.Time
	interval time.Duration
	slots    // in the pending device grants' quotas
}

type deviceStatus int

const (
	devicePending deviceStatus = iota
	deviceApproved
	deviceDenied
)

// store holds all mutable state. Every field is guarded by mu.
type store struct {
	mu        sync.Mutex
	requests  map[string]*authRequest
	codes     map[string]*authCode    // by hashOf(code)
	families  map[string]*family      // by family id
	refresh   map[string]string       // hashOf(refresh token) -> family id
	devices   map[string]*deviceGrant // by hashOf(device code)
	userCodes map[string]*deviceGrant // by normalized user code
	clients   map[string]Client
	dynamic   []*dynClient // the registered ones among clients, oldest first
	lastSweep time.Time

	pendingRequests, pendingDevices pendingQuotas
}

func newStore(clients []Client) *store {
	st := &store{
		requests:  map[string]*authRequest{},
		codes:     map[string]*authCode{},
		families:  map[string]*family{},
		refresh:   map[string]string{},
		devices:   map[string]*deviceGrant{},
		userCodes: map[string]*deviceGrant{},
		clients:   map[string]Client{},

		pendingRequests: newPendingQuotas(), pendingDevices: newPendingQuotas(),
	}
	for _, c := range clients {
		st.clients[c.ID] = c
	}
	return st
}

// client returns a registered client.
func (st *store) client(id string) (Client, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c, ok := st.clients[id]
	return c, ok
}

// sweep drops expired entries, at most once per sweepEvery. Callers hold mu.
func (st *store) sweep(now time.Time) {
	if now.Sub(st.lastSweep) < sweepEvery {
		return
	}
	st.lastSweep = now
	for id, r := range st.requests {
		if now.After(r.expires) {
			st.dropRequest(id)
		}
	}
	for h, c := range st.codes {
		if now.After(c.expires.Add(codeRetention)) {
			delete(st.codes, h)
		}
	}
	st.sweepFamilies(now)
	for _, d := range st.devices {
		if now.After(d.expires.Add(deviceTTL)) { // kept a while to answer expired_token
			st.dropDevice(d)
		}
	}
}

func (st *store) sweepFamilies(now time.Time) {
	for id, f := range st.families {
		if f.revoked || now.After(f.expires) {
			delete(st.families, id)
		}
	}
	for h, id := range st.refresh {
		if st.families[id] == nil {
			delete(st.refresh, h)
		}
	}
}

// newFamily starts a refresh token family and returns its first token.
// Callers hold mu.
func (st *store) newFamily(g grant, expires time.Time) (*family, secret.Value) {
	f := &family{id: randomString(12), grant: g, expires: expires}
	tok := secret.New(randomString(32))
	f.current = hashOf(tok)
	st.families[f.id] = f
	st.refresh[f.current] = f.id
	st.markUsed(g.clientID)
	return f, tok
}

// revokeFamily revokes every refresh token of a family. Callers hold mu.
func (st *store) revokeFamily(id string) bool {
	f := st.families[id]
	if f == nil || f.revoked {
		return false
	}
	f.revoked = true
	return true
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashOf is the map key for a secret: the secret itself is never stored.
func hashOf(v secret.Value) string {
	h := sha256.Sum256([]byte(v.Reveal()))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
