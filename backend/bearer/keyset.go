package bearer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// keySetMethods is the allow-list in key-set mode. No HS* ever.
var keySetMethods = []string{"RS256", "ES256", "EdDSA"}

// errNoKey is returned by the key function; Validate reports it as
// "no usable key".
var errNoKey = errors.New("no suitable key")

// KeySetOptions tunes a remote JWKS.
type KeySetOptions struct {
	// Client fetches the JWKS. Default: a client with Timeout and a body cap.
	Client *http.Client
	// Timeout bounds each fetch. Default 5 s.
	Timeout time.Duration
	// MaxBytes caps a JWKS response. Default 1 MiB.
	MaxBytes int64
	// UnknownKIDInterval is the least time between two refreshes caused by
	// an unknown kid. Default 30 s. A flood of random kids costs at most one
	// fetch per interval; the others fail at once.
	UnknownKIDInterval time.Duration
	// RefreshInterval is the background refresh period. Default 1 h.
	RefreshInterval time.Duration
	// Logger receives refresh failures. Default: discard.
	Logger *slog.Logger
}

// NewKeySet returns a Validator that verifies RS256, ES256 and EdDSA tokens
// with the keys at jwksURL. The first fetch must succeed. Later failures
// keep the cached keys. ctx ends the background refresh; so does Close.
func NewKeySet(ctx context.Context, cfg Config, jwksURL string, o KeySetOptions) (*Validator, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	noErrFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		Client:                    o.Client,
		HTTPTimeout:               o.Timeout,
		NoErrorReturnFirstHTTPReq: &noErrFirst,
		RateLimitWaitMax:          o.Timeout,
		RefreshInterval:           o.RefreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(o.UnknownKIDInterval), 1),
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				o.Logger.WarnContext(ctx, "jwks refresh failed; keeping cached keys", "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: fetch JWKS: %v", ErrConfig, err)
	}
	return newValidator(cfg, keySetMethods, storageKey(kf.Storage()), cancel)
}

// NewStaticKeySet returns a key-set Validator over a fixed JWK Set, such as
// the one of an in-process authorization server.
func NewStaticKeySet(cfg Config, jwks []byte) (*Validator, error) {
	kf, err := keyfunc.NewJWKSetJSON(jwks)
	if err != nil {
		return nil, fmt.Errorf("%w: parse JWKS: %v", ErrConfig, err)
	}
	return newValidator(cfg, keySetMethods, storageKey(kf.Storage()), nil)
}

func (o KeySetOptions) withDefaults() KeySetOptions {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = 30 * time.Second
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = CappedClient(o.Timeout, o.MaxBytes)
	}
	return o
}

// storageKey picks the verification key for a token from a JWK storage. A
// token without kid is tried against every suitable key.
func storageKey(st jwkset.Storage) keyFunc {
	return func(ctx context.Context, alg string, kid kidHeader) (any, error) {
		if kid.present && !kid.isString {
			return nil, errNoKey // RFC 7515 §4.1.4: kid is a string
		}
		if !kid.present {
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
		j, err := st.KeyRead(ctx, kid.value)
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

// suitable returns j's public key if it may verify a token signed with alg:
// a signing key of the right type, never symmetric, never use=enc.
func suitable(j jwkset.JWK, alg string) (any, bool) {
	m := j.Marshal()
	if m.USE == jwkset.UseEnc || (m.ALG != "" && m.ALG.String() != alg) {
		return nil, false
	}
	key := j.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k, alg == "RS256" && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return k, alg == "ES256" && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return k, alg == "EdDSA"
	}
	return nil, false
}
