package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms a Key can sign with. ES256 is the default.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Algs are the algorithms this package signs and accepts, in the client's
// order of preference.
var Algs = []string{ES256, EdDSA, RS256}

// Key is a DPoP private key. It prints as REDACTED (with its thumbprint)
// through fmt and log/slog; only Marshal gives the private key's bytes.
// It is safe for concurrent use.
type Key struct {
	priv   crypto.Signer
	alg    string
	jkt    string
	header string // the proof's encoded JOSE header, the same for each proof
}

// NewKey generates a key for alg (ES256, EdDSA or RS256).
func NewKey(alg string) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("%w: unsupported algorithm", ErrKey)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %v", ErrKey, err)
	}
	return newKey(priv, alg)
}

// Choose returns the first of the client's algorithms (Algs) that the
// server lists, or ES256 when it lists none this package knows and the
// list is empty. ok is false when the server lists algorithms but none of
// these.
func Choose(serverAlgs []string) (alg string, ok bool) {
	if len(serverAlgs) == 0 {
		return ES256, true
	}
	for _, a := range Algs {
		for _, s := range serverAlgs {
			if a == s {
				return a, true
			}
		}
	}
	return "", false
}

// ParseKey reads a key that Marshal wrote.
func ParseKey(alg string, der []byte) (*Key, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKCS #8 key", ErrKey) // never the bytes
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: not a signing key", ErrKey)
	}
	return newKey(s, alg)
}

func newKey(priv crypto.Signer, alg string) (*Key, error) {
	switch priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != ES256 {
			return nil, fmt.Errorf("%w: key does not match %s", ErrKey, alg)
		}
	case ed25519.PrivateKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("%w: key does not match %s", ErrKey, alg)
		}
	case *rsa.PrivateKey:
		if alg != RS256 || priv.Public().(*rsa.PublicKey).N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: key does not match %s", ErrKey, alg)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported key type", ErrKey)
	}
	j, err := publicJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	h, err := json.Marshal(struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
		JWK jwk    `json:"jwk"`
	}{"dpop+jwt", alg, j})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Key{priv: priv, alg: alg, jkt: j.thumbprint(), header: b64.EncodeToString(h)}, nil
}

// Alg is the key's algorithm.
func (k *Key) Alg() string { return k.alg }

// Thumbprint is the key's RFC 7638 thumbprint: the cnf.jkt of the tokens
// bound to it, and what `relay status` shows.
func (k *Key) Thumbprint() string { return k.jkt }

// Marshal returns the private key as PKCS #8 DER.
//
// WARNING: the result is the private key. Store it sealed (the vault),
// never in a log, an error or a plain file.
func (k *Key) Marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("%w: marshal", ErrKey)
	}
	return der, nil
}

// ProofOptions are what a proof carries besides the method and the URL.
type ProofOptions struct {
	// AccessToken, when set, is hashed into ath: the proof then goes with
	// a request to a resource server carrying that token.
	AccessToken string
	// Nonce is the server's DPoP-Nonce, if it gave one.
	Nonce string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Proof returns a signed proof for a request with method to rawURL. The
// htu is rawURL without query and fragment.
func (k *Key) Proof(method, rawURL string, o ProofOptions) (string, error) {
	htu, err := HTU(rawURL)
	if err != nil {
		return "", err
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	p := make([]byte, 0, 256)
	p = append(p, `{"jti":"`...)
	p = append(p, b64.EncodeToString(jti[:])...)
	p = append(p, `","htm":`...)
	p = appendJSON(p, method)
	p = append(p, `,"htu":`...)
	p = appendJSON(p, htu)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now().Unix(), 10)
	if o.AccessToken != "" {
		sum := sha256.Sum256([]byte(o.AccessToken))
		p = append(p, `,"ath":"`...)
		p = append(p, b64.EncodeToString(sum[:])...)
		p = append(p, '"')
	}
	if o.Nonce != "" {
		p = append(p, `,"nonce":`...)
		p = appendJSON(p, o.Nonce)
	}
	p = append(p, '}')
	signing := k.header + "." + b64.EncodeToString(p)
	sig, err := jwt.GetSigningMethod(k.alg).Sign(signing, k.priv)
	if err != nil {
		return "", fmt.Errorf("%w: sign", ErrKey)
	}
	return signing + "." + b64.EncodeToString(sig), nil
}

func appendJSON(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// String implements fmt.Stringer: never the key.
func (k *Key) String() string { return "dpop key " + k.jkt + " (REDACTED)" }

// GoString implements fmt.GoStringer, for %#v.
func (k *Key) GoString() string { return k.String() }

// Format implements fmt.Formatter, so no verb reaches the private key.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements slog.LogValuer.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }
