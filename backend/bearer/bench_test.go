package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// benchAlgs are the algorithms measured by BenchmarkValidate and
// BenchmarkRawVerify, in the order of their sub-benchmarks.
var benchAlgs = []string{"HS256", "RS256", "ES256", "EdDSA"}

var (
	benchOnce   sync.Once
	benchTokens map[string]string
)

// benchToken returns one fixed token per algorithm, shared by both
// benchmarks so that BenchmarkValidate/X and BenchmarkRawVerify/X check the
// very same signature (ES256 signatures are randomised, so signing twice
// would not give the same token).
func benchToken(b *testing.B, alg string) string {
	benchOnce.Do(func() {
		benchTokens = make(map[string]string)
		for _, a := range benchAlgs {
			benchTokens[a] = signed(b, a, claimsAt(testNow), nil)
		}
	})
	return benchTokens[alg]
}

// BenchmarkValidate measures full validation of one valid token per
// algorithm: size and structure checks, base64 and JSON decoding, the
// header and claim checks, the key lookup, the signature and the claims.
// Compare BenchmarkValidate/X with BenchmarkRawVerify/X. The verified-token
// cache is off here, so that every iteration checks the signature; see
// BenchmarkValidateCached for a token seen before.
func BenchmarkValidate(b *testing.B) { benchValidate(b, -1) }

// BenchmarkValidateCached measures validating a token already verified:
// the hash, the cache lookup and the claim checks, no signature check.
func BenchmarkValidateCached(b *testing.B) { benchValidate(b, DefaultCacheSize) }

func benchValidate(b *testing.B, cacheSize int) {
	for _, alg := range benchAlgs {
		v := validatorFor(b, alg)
		v.cache = newVerifiedCache(cacheSize)
		tok := benchToken(b, alg)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(bg, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawVerify is the floor for BenchmarkValidate: the bare signature
// check of the same token. Each iteration does what any verifier of that
// JWS must do once it holds the signature bytes: hash the signing input
// (inside HMAC, PKCS #1 v1.5, ECDSA and Ed25519 alike), turn the JWS r||s
// into the big.Ints crypto/ecdsa takes, and run the primitive, including
// per-call key setup such as hmac.New.
//
// Splitting the token and base64-decoding the signature are done once,
// outside the loop: they are parsing, so they count as validation overhead.
// That makes the Validate/RawVerify ratio slightly stricter, by the cost of
// decoding 43 to 342 base64 characters.
func BenchmarkRawVerify(b *testing.B) {
	k := getKeys(b)
	for _, alg := range benchAlgs {
		tok := benchToken(b, alg)
		i := strings.LastIndexByte(tok, '.')
		signing := []byte(tok[:i])
		sig, err := decodeSegment(tok[i+1:])
		testkit.NoErr(b, err)
		var verify func() bool
		switch alg {
		case "HS256":
			verify = func() bool {
				m := hmac.New(sha256.New, testSecret)
				m.Write(signing)
				return hmac.Equal(m.Sum(nil), sig)
			}
		case "RS256":
			pub := &k.rsa.PublicKey
			verify = func() bool {
				d := sha256.Sum256(signing)
				return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil
			}
		case "ES256":
			pub := &k.ec.PublicKey
			verify = func() bool {
				if len(sig) != 64 {
					return false
				}
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				d := sha256.Sum256(signing)
				return ecdsa.Verify(pub, d[:], r, s)
			}
		case "EdDSA":
			pub := k.ed.Public().(ed25519.PublicKey)
			verify = func() bool { return ed25519.Verify(pub, signing, sig) }
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("bad signature")
				}
			}
		})
	}
}
