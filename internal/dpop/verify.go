package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Algs are the algorithms accepted; default Algs (ES256, EdDSA, RS256).
	// Only those of Algs can be listed.
	Algs []string
	// Window is how old a proof's iat may be; default 60 s.
	Window time.Duration
	// Leeway is how far in the future iat may be, for clock skew;
	// default 5 s.
	Leeway time.Duration
	// ReplayEntries bounds how many proofs the replay cache remembers in
	// all, and ReplayPerKey how many of one key within the window;
	// defaults 262,144 (about 37 MB) and 65,536 (a client at 1,000
	// requests a second). A proof that would overflow either is refused
	// (fail closed), never let through unrecorded.
	ReplayEntries, ReplayPerKey int
	// Nonces, if set, makes a proof carry one of its current nonces.
	Nonces *Nonces
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Verifier checks proofs (RFC 9449 §4.3). It is safe for concurrent use.
type Verifier struct {
	cfg     VerifierConfig
	replay  *replayCache
	headers headerCache
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	if len(cfg.Algs) == 0 {
		cfg.Algs = Algs
	}
	cfg.Algs = slices.DeleteFunc(slices.Clone(cfg.Algs), func(a string) bool { return !slices.Contains(Algs, a) })
	if cfg.Window <= 0 {
		cfg.Window = 60 * time.Second
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg, replay: newReplayCache(cfg.ReplayEntries, cfg.ReplayPerKey)}
}

// Algs returns the accepted algorithms: the value of
// dpop_signing_alg_values_supported and of a challenge's algs.
func (v *Verifier) Algs() []string { return slices.Clone(v.cfg.Algs) }

// Nonces returns the server's nonce source, or nil.
func (v *Verifier) Nonces() *Nonces { return v.cfg.Nonces }

// Request is the HTTP request a proof must match.
type Request struct {
	// Proofs are the values of the request's DPoP header fields
	// (http.Header.Values("DPoP")): exactly one is accepted.
	Proofs []string
	// Method is the request's method.
	Method string
	// URL is the request's URL as the server's canonical origin sees it;
	// its query and fragment are ignored.
	URL string
	// AccessToken is the token the request presents, or "" at a token
	// endpoint: with a token, the proof must carry its ath.
	AccessToken string
	// Thumbprint, when set, is the key the proof must be signed with: the
	// token's cnf.jkt, or the key a refresh token is bound to. A proof of
	// another key fails with ErrKeyMismatch, before its jti is recorded.
	Thumbprint string
}

// Result is what a verified proof says.
type Result struct {
	// Thumbprint is the proof key's RFC 7638 thumbprint: compare it with
	// the token's cnf.jkt, or bind a new token with it.
	Thumbprint string
	// ID is the proof's jti, for logs.
	ID string
}

// Verify checks the proof of r and records its jti. Every failure wraps
// ErrInvalidProof with a fixed reason; a missing or stale nonce also wraps
// ErrUseNonce. The cheap checks run before the signature check, and the
// jti is recorded only once everything else has passed.
func (v *Verifier) Verify(r Request) (*Result, error) {
	if len(r.Proofs) != 1 || strings.ContainsAny(r.Proofs[0], ", \t") {
		if len(r.Proofs) == 0 {
			return nil, invalid("no DPoP proof")
		}
		return nil, invalid("more than one DPoP proof")
	}
	p, err := parseProofWith(r.Proofs[0], v.headers.get)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(v.cfg.Algs, p.header.alg) {
		return nil, invalid("alg not allowed")
	}
	if err := v.checkClaims(p, r); err != nil {
		return nil, err
	}
	if err := jwt.GetSigningMethod(p.header.alg).Verify(p.signing, p.sig, p.header.pub); err != nil {
		return nil, invalid("bad signature")
	}
	res := &Result{Thumbprint: p.header.jkt, ID: *p.claims.Jti}
	if r.Thumbprint != "" && subtle.ConstantTimeCompare([]byte(r.Thumbprint), []byte(res.Thumbprint)) != 1 {
		return nil, &ProofError{Reason: "the proof's key is not the token's", kind: kindMismatch}
	}
	iat := time.Unix(int64(*p.claims.Iat), 0)
	if err := v.replay.add(res.Thumbprint, res.ID, iat.Add(v.cfg.Window+v.cfg.Leeway), v.cfg.Now()); err != nil {
		return nil, err
	}
	return res, nil
}

// checkClaims checks the claims against the request: presence, htm, htu,
// iat, ath, nonce.
func (v *Verifier) checkClaims(p *proof, r Request) error {
	c := &p.claims
	if c.Jti == nil || c.Htm == nil || c.Htu == nil || c.Iat == nil {
		return invalid("a required claim is missing")
	}
	if *c.Jti == "" || len(*c.Jti) > 256 {
		return invalid("bad jti")
	}
	if *c.Htm != r.Method {
		return invalid("htm does not match the request")
	}
	want, err := HTU(r.URL)
	if err != nil {
		return invalid("request URL unusable")
	}
	if got, err := HTU(*c.Htu); err != nil || got != want {
		return invalid("htu does not match the request")
	}
	now := v.cfg.Now()
	if math.IsNaN(*c.Iat) || math.IsInf(*c.Iat, 0) || math.Abs(*c.Iat) > 1e11 {
		return invalid("bad iat")
	}
	iat := time.Unix(int64(*c.Iat), 0)
	if iat.After(now.Add(v.cfg.Leeway)) {
		return invalid("iat in the future")
	}
	if iat.Before(now.Add(-v.cfg.Window)) {
		return invalid("proof too old")
	}
	if err := checkAth(c.Ath, r.AccessToken); err != nil {
		return err
	}
	if v.cfg.Nonces != nil && (c.Nonce == nil || !v.cfg.Nonces.Valid(*c.Nonce)) {
		return &ProofError{Reason: "a fresh server nonce is required", kind: kindNonce}
	}
	return nil
}

// checkAth requires ath = base64url(SHA-256(token)) when a token goes with
// the proof; at a token endpoint (no token) an ath is refused.
func checkAth(ath *string, token string) error {
	if token == "" {
		if ath != nil {
			return invalid("ath without an access token")
		}
		return nil
	}
	if ath == nil {
		return invalid("ath missing")
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare([]byte(*ath), []byte(b64.EncodeToString(sum[:]))) != 1 {
		return invalid("ath does not match the access token")
	}
	return nil
}

// AccessTokenHash is ath for token: base64url(SHA-256(token)).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}
