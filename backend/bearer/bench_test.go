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
	"testing"
)

// BenchmarkValidate measures full validation per algorithm; compare with
// BenchmarkRawVerify, the bare signature check of the same token.
func BenchmarkValidate(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		v := keySetValidator(b)
		if alg == "HS256" {
			v = hmacValidator(b)
		}
		tok := signed(b, alg, claimsAt(testNow), nil)
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

func BenchmarkRawVerify(b *testing.B) {
	k := getKeys(b)
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		tok := signed(b, alg, claimsAt(testNow), nil)
		i := strings.LastIndexByte(tok, '.')
		signing := []byte(tok[:i])
		sig, err := decodeSegment(tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		var verify func() bool
		switch alg {
		case "HS256":
			verify = func() bool {
				m := hmac.New(sha256.New, testSecret)
				m.Write(signing)
				return hmac.Equal(m.Sum(nil), sig)
			}
		case "RS256":
			verify = func() bool {
				d := sha256.Sum256(signing)
				return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, d[:], sig) == nil
			}
		case "ES256":
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			verify = func() bool { d := sha256.Sum256(signing); return ecdsa.Verify(&k.ec.PublicKey, d[:], r, s) }
		case "EdDSA":
			pub := k.ed.Public().(ed25519.PublicKey)
			verify = func() bool { return ed25519.Verify(pub, signing, sig) }
		}
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				if !verify() {
					b.Fatal("bad signature")
				}
			}
		})
	}
}
