package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
)

// MinRSABits is the smallest RSA modulus accepted in a proof.
const MinRSABits = 2048

// jwk is a public JSON Web Key as a proof's header carries it (RFC 7517).
// Only the members a public key of the allowed types has are read; a
// private member (d, p, q, dp, dq, qi, oth, k) makes the key refused.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict()

// publicJWK returns the JWK of pub.
func publicJWK(pub crypto.PublicKey) (jwk, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return jwk{}, ErrKey
		}
		b, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			return jwk{}, ErrKey
		}
		return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:])}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	}
	return jwk{}, ErrKey
}

// key returns the public key j describes, checked for the alg: the curve
// and point for ES256 (on the curve), the length for EdDSA, the modulus
// size and exponent for RS256.
func (j *jwk) key(alg string) (crypto.PublicKey, error) {
	switch {
	case alg == "ES256" && j.Kty == "EC" && j.Crv == "P-256":
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, invalid("bad EC key")
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, invalid("bad EC key")
		}
		return k, nil
	case alg == "EdDSA" && j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize || j.Y != "" {
			return nil, invalid("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	case alg == "RS256" && j.Kty == "RSA":
		n, errN := b64.DecodeString(j.N)
		e, errE := b64.DecodeString(j.E)
		if errN != nil || errE != nil || len(n) == 0 || n[0] == 0 || len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return nil, invalid("bad RSA key")
		}
		k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if k.N.BitLen() < MinRSABits || k.N.BitLen() > 8192 || k.E < 3 || k.E%2 == 0 {
			return nil, invalid("bad RSA key")
		}
		return k, nil
	}
	return nil, invalid("jwk does not match alg")
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of j, base64url: the hash
// of the required members only, in lexicographic order, no whitespace.
func (j *jwk) thumbprint() string {
	var m []byte
	switch j.Kty {
	case "EC":
		m = jsonObject("crv", j.Crv, "kty", j.Kty, "x", j.X, "y", j.Y)
	case "OKP":
		m = jsonObject("crv", j.Crv, "kty", j.Kty, "x", j.X)
	case "RSA":
		m = jsonObject("e", j.E, "kty", j.Kty, "n", j.N)
	default:
		return ""
	}
	sum := sha256.Sum256(m)
	return b64.EncodeToString(sum[:])
}

// jsonObject writes {"k1":"v1",...} with encoding/json's string escaping.
func jsonObject(kv ...string) []byte {
	b := []byte{'{'}
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}')
}

// Thumbprint returns the RFC 7638 thumbprint (base64url SHA-256) of a
// public key: an *ecdsa.PublicKey on P-256, an ed25519.PublicKey or an
// *rsa.PublicKey. It is the value of cnf.jkt for tokens bound to the key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	return j.thumbprint(), nil
}
