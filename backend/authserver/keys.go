package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/clientauth"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
)

// signer signs access tokens with exactly one method: HS256 or ES256.
type signer struct {
	method jwt.SigningMethod
	hmac   secret.Value      // HS256 only
	ec     *ecdsa.PrivateKey // ES256 only
	kid    string            // ES256 only
	jwks   []byte            // public JWK Set; empty set in HS256 mode
}

func newSigner(cfg Config) (*signer, error) {
	if !cfg.HMACSecret.IsZero() {
		return &signer{method: jwt.SigningMethodHS256, hmac: cfg.HMACSecret, jwks: []byte(`{"keys":[]}`)}, nil
	}
	k := cfg.SigningKey
	if k == nil {
		var err error
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, fmt.Errorf("authserver: generate key: %w", err)
		}
	}
	if k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: signing key must be P-256", ErrConfig)
	}
	jwk, err := publicJWK(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	set, err := json.Marshal(map[string]any{"keys": []any{jwk}})
	if err != nil {
		return nil, err
	}
	return &signer{method: jwt.SigningMethodES256, ec: k, kid: jwk.Kid, jwks: set}, nil
}

// key is what jwt's SignedString takes for the method. The HS256 key is
// copied out of its secret.Value for each token: tokens are minted far
// less often than they are verified, and no []byte copy of the secret
// stays in a struct that fmt could print.
func (s *signer) key() any {
	if s.ec != nil {
		return s.ec
	}
	return []byte(s.hmac.Reveal())
}

// ecJWK is a public P-256 key as a JWK (RFC 7517, RFC 7518 §6.2).
type ecJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// publicJWK encodes pub; the kid is its RFC 7638 thumbprint.
func publicJWK(pub *ecdsa.PublicKey) (ecJWK, error) {
	pt, err := pub.Bytes() // 0x04 || X (32 bytes) || Y (32 bytes)
	if err != nil || len(pt) != 65 {
		return ecJWK{}, fmt.Errorf("%w: cannot encode public key", ErrConfig)
	}
	enc := base64.RawURLEncoding.EncodeToString
	j := ecJWK{Kty: "EC", Crv: "P-256", X: enc(pt[1:33]), Y: enc(pt[33:]), Use: "sig", Alg: "ES256"}
	// RFC 7638: required members in lexicographic order, no whitespace.
	tp := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, j.X, j.Y)
	sum := sha256.Sum256([]byte(tp))
	j.Kid = enc(sum[:])
	return j, nil
}

// JWKS returns the public JWK Set as JSON: the ES256 key with kid, use=sig
// and alg=ES256, or an empty set in HS256 mode. The caller must not modify
// the returned slice.
func (s *Server) JWKS() []byte { return s.signer.jwks }

// maxKeyFile bounds what LoadOrCreateKey reads: a PEM P-256 key is about
// 250 bytes.
const maxKeyFile = 64 << 10

// LoadOrCreateKey reads a PEM P-256 private key (PKCS#8 or SEC 1) from path,
// or creates one there with mode 0600 if the file does not exist. It reads
// with the checks the relay applies to its key files
// (platform.ReadSecretFile): a symlink, a file that is not regular, one
// owned by another user, or (on Unix) one readable or writable by group or
// others is refused, wrapping ErrKeyFile and platform.ErrInsecure. Anyone
// who can read the key can sign tokens the backend accepts.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := platform.ReadSecretFile(path, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return parseKeyPEM(b)
}

// parseKeyPEM reads the signing key: clientauth.ParseKey's PEM forms,
// and only an EC P-256 key.
func parseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	k, err := clientauth.ParseKey(b)
	var ec *ecdsa.PrivateKey
	if err == nil {
		ec, _ = k.Signer.(*ecdsa.PrivateKey)
	}
	if ec == nil {
		return nil, fmt.Errorf("%w: not a P-256 private key in PEM", ErrKeyFile)
	}
	return ec, nil
}

func createKey(path string) (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %w", ErrKeyFile, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrKeyFile, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: create: %w", ErrKeyFile, err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("%w: write: %w", ErrKeyFile, err)
	}
	return k, nil
}
