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
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// jwksKeyfunc builds the backend's key function from a JWK Set.
func jwksKeyfunc(t *testing.T, set []byte) jwt.Keyfunc {
	t.Helper()
	k, err := keyfunc.NewJWKSetJSON(json.RawMessage(set))
	testkit.NoErr(t, err, "keyfunc rejects JWKS()")
	return k.Keyfunc
}

func TestJWKSIsStandard(t *testing.T) {
	e := newEnv(t)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(e.s.JWKS(), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %s", err, e.s.JWKS())
	}
	k := set.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["use"] != "sig" || k["alg"] != "ES256" || k["kid"] == "" || k["d"] != "" {
		t.Fatalf("key: %v", k)
	}
	if len(k["x"]) != 43 || len(k["y"]) != 43 {
		t.Fatal("x and y must be 32-byte base64url")
	}
	r := e.get("/jwks.json")
	if r.status != 200 || r.body != string(e.s.JWKS()) {
		t.Fatalf("/jwks.json: %d", r.status)
	}
	hs := newEnv(t, func(c *Config) { c.HMACSecret = secret.New(strings.Repeat("k", 32)) })
	if string(hs.s.JWKS()) != `{"keys":[]}` {
		t.Fatalf("HS256 JWKS: %s", hs.s.JWKS())
	}
}

func TestKidIsRFC7638Thumbprint(t *testing.T) {
	k := testkit.ECKey(t)
	j, err := publicJWK(&k.PublicKey)
	testkit.NoErr(t, err)
	// Independent computation: encoding/json sorts map keys, which is the
	// RFC 7638 member order.
	b, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": j.X, "y": j.Y})
	sum := sha256.Sum256(b)
	if j.Kid != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("kid %q is not the RFC 7638 thumbprint", j.Kid)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "signing.pem")
	k1, err := LoadOrCreateKey(p)
	testkit.NoErr(t, err)
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode().Perm())
		}
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload: %v", err)
	}
	t.Run("SEC 1 PEM", func(t *testing.T) {
		der, _ := x509.MarshalECPrivateKey(k1)
		p2 := filepath.Join(dir, "sec1.pem")
		_ = os.WriteFile(p2, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
		if k, err := LoadOrCreateKey(p2); err != nil || !k.Equal(k1) {
			t.Fatal(err)
		}
	})
	bad := map[string][]byte{
		"garbage": []byte("not pem"),
		"P-384": func() []byte {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}(),
		"certificate type": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			_ = os.WriteFile(p, b, 0o600)
			testkit.WantIs(t, testkit.ErrOf(LoadOrCreateKey(p)), ErrKeyFile, "LoadOrCreateKey")
		})
	}
	if runtime.GOOS != "windows" {
		t.Run("group readable", func(t *testing.T) {
			_ = os.Chmod(p, 0o640)
			testkit.WantIs(t, testkit.ErrOf(LoadOrCreateKey(p)), ErrKeyFile, "LoadOrCreateKey")
		})
	}
}
