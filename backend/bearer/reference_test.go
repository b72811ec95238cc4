package bearer

// This file keeps the validator as it was before the single-pass parser:
// precheck with encoding/json's Decoder, then golang-jwt's Parser. The
// differential tests and fuzz targets in reference_diff_test.go hold
// Validate to the same answers.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

type refValidator struct {
	cfg     Config
	methods []string
	key     func(context.Context, *jwt.Token) (any, error)
}

func refFor(t testing.TB, v *Validator, jwksJSON []byte) *refValidator {
	t.Helper()
	r := &refValidator{cfg: v.cfg, methods: v.methods}
	if jwksJSON == nil {
		key, _ := v.key(context.Background(), "HS256", kidHeader{})
		r.key = func(context.Context, *jwt.Token) (any, error) { return key, nil }
		return r
	}
	kf, err := keyfunc.NewJWKSetJSON(jwksJSON)
	testkit.NoErr(t, err)
	r.key = refStorageKey(kf.Storage())
	return r
}

func (v *refValidator) Validate(ctx context.Context, raw string) (*Token, error) {
	if err := refPrecheck(raw); err != nil {
		return nil, err
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithTimeFunc(v.cfg.Now),
		jwt.WithStrictDecoding(),
	)
	var c refClaims
	tok, err := p.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, invalid(refReason(err))
	}
	if err := v.refCheckLifetime(&c); err != nil {
		return nil, err
	}
	if c.Subject == "" { // B28: a rule golang-jwt has no option for
		return nil, invalid("sub missing or empty")
	}
	kid, _ := tok.Header["kid"].(string)
	return refTokenFrom(&c, kid), nil
}

func (v *refValidator) refCheckLifetime(c *refClaims) error {
	start := v.cfg.Now()
	if c.IssuedAt != nil {
		start = c.IssuedAt.Time
	} else if c.NotBefore != nil {
		start = c.NotBefore.Time
	}
	if c.ExpiresAt.Sub(start) > v.cfg.MaxLifetime {
		return invalid("token lifetime too long")
	}
	return nil
}

// refReason maps golang-jwt's errors to short fixed descriptions, so nothing
// from the token reaches a log or a response.
func refReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no usable key"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "required claim missing"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "invalid token"
}
func refPrecheck(raw string) error {
	if len(raw) > MaxTokenSize {
		return invalid("token too large")
	}
	if strings.Count(raw, ".") != 2 {
		return invalid("not a signed JWT")
	}
	h, p, _ := strings.Cut(raw, ".")
	p, _, _ = strings.Cut(p, ".")
	header, err := decodeSegment(h)
	if err != nil {
		return invalid("header is not base64url")
	}
	if err := refScanObject(header, refCheckHeaderMember); err != nil {
		return err
	}
	payload, err := decodeSegment(p)
	if err != nil {
		return invalid("payload is not base64url")
	}
	return refScanObject(payload, refCheckClaimMember)
}

func refCheckHeaderMember(key string, val json.RawMessage) error {
	switch key {
	case "typ":
		var typ string
		if json.Unmarshal(val, &typ) != nil || !refAllowedTyp(typ) {
			return invalid("typ is not JWT or at+jwt")
		}
	case "crit":
		// No JWS extension is understood here, so any crit is unknown.
		return invalid("unsupported critical header")
	}
	return nil
}

func refAllowedTyp(typ string) bool {
	t := strings.ToLower(typ)
	return t == "jwt" || t == "at+jwt" || t == "application/at+jwt"
}

func refCheckClaimMember(key string, val json.RawMessage) error {
	switch key {
	case "nonce", "at_hash", "c_hash":
		// Claims only ID tokens carry (OpenID Connect Core §2, §3.3.2.11).
		// With BACKEND_AUDIENCE set to the client id, an ID token has the
		// right iss and aud; these claims are what tell it apart (B20).
		return invalid("an ID token is not an access token")
	case "exp", "nbf", "iat":
		if len(val) == 0 || !(val[0] == '-' || (val[0] >= '0' && val[0] <= '9')) {
			return invalid(key + " is not a number")
		}
	}
	return nil
}

// refScanObject walks the members of one JSON object, calling fn for each, and
// fails on a duplicate name, a non-object or trailing data.
func refScanObject(b []byte, fn func(string, json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return invalid("segment is not a JSON object")
	}
	seen := make(map[string]bool, 8)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return invalid("segment is not valid JSON")
		}
		key, _ := t.(string)
		if seen[key] {
			return invalid("duplicate member " + refSafeName(key))
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return invalid("segment is not valid JSON")
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return invalid("segment is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("trailing data after JSON object")
	}
	return nil
}

// refSafeName returns a claim name fit for an error message: short and plain.
func refSafeName(s string) string {
	if len(s) > 32 {
		return "(long name)"
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "(unprintable name)"
		}
	}
	return s
}

type refClaims struct {
	jwt.RegisteredClaims
	Scope    string          `json:"scope,omitempty"`
	Scp      json.RawMessage `json:"scp,omitempty"`
	ClientID string          `json:"client_id,omitempty"`
	Azp      string          `json:"azp,omitempty"`
}

func (c *refClaims) scopes() []string {
	if c.Scope != "" {
		return strings.Fields(c.Scope)
	}
	if len(c.Scp) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(c.Scp, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(c.Scp, &s) == nil {
		return strings.Fields(s)
	}
	return nil
}

func refTokenFrom(c *refClaims, kid string) *Token {
	t := &Token{
		Subject:  c.Subject,
		Issuer:   c.Issuer,
		Audience: []string(c.Audience),
		ClientID: c.ClientID,
		Scopes:   c.scopes(),
		ID:       c.ID,
		KeyID:    kid,
	}
	if t.ClientID == "" {
		t.ClientID = c.Azp
	}
	if c.IssuedAt != nil {
		t.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		t.Expiry = c.ExpiresAt.Time
	}
	return t
}
func refStorageKey(st jwkset.Storage) func(context.Context, *jwt.Token) (any, error) {
	return func(ctx context.Context, t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		rawKID, hasKID := t.Header["kid"]
		kid, isString := rawKID.(string)
		if hasKID && !isString {
			return nil, errNoKey // RFC 7515 §4.1.4: kid is a string
		}
		if !hasKID {
			all, err := st.KeyReadAll(ctx)
			if err != nil {
				return nil, errNoKey
			}
			var set jwt.VerificationKeySet
			for _, j := range all {
				if k, ok := suitable(j, alg); ok {
					set.Keys = append(set.Keys, k)
				}
			}
			if len(set.Keys) == 0 {
				return nil, errNoKey
			}
			return set, nil
		}
		j, err := st.KeyRead(ctx, kid)
		if err != nil {
			return nil, errNoKey
		}
		k, ok := suitable(j, alg)
		if !ok {
			return nil, errNoKey
		}
		return k, nil
	}
}
