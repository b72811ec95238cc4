package authserver

import (
	"crypto/ecdsa"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// jwksServer serves the JWKS of one key at a time, counting fetches.
type jwksServer struct {
	t       *testing.T
	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	key     *ecdsa.PrivateKey
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{t: t}
	j.rotate()
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(testkit.JWKS(t, j.current()))
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) rotate() *ecdsa.PrivateKey {
	k := testkit.ECKey(j.t)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.key = k
	return k
}

func (j *jwksServer) current() *ecdsa.PrivateKey {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.key
}

// TestTrustedIdPJWKSURL: the keys of a jwks_uri are fetched on first use
// and kept; a rotated key is fetched again once jwksRefetch has passed;
// a flood of grants no key verifies costs at most one fetch per interval.
func TestTrustedIdPJWKSURL(t *testing.T) {
	j := newJWKSServer(t)
	e, _ := machineEnvWith(t, func(c *Config) {
		c.TrustedIdPs = []TrustedIdP{{Issuer: trustedIdP, JWKSURL: j.srv.URL + "/keys"}}
	})
	grant := func(k *ecdsa.PrivateKey) int {
		return e.tokenPost(bearerForm(e.idjag(k, idJAGType, nil)), "", "ci", machineSecret).status
	}
	if s := grant(j.current()); s != 200 || j.fetches.Load() != 1 {
		t.Fatalf("first grant: %d, %d fetches", s, j.fetches.Load())
	}
	if s := grant(j.current()); s != 200 || j.fetches.Load() != 1 {
		t.Fatalf("second grant: %d, %d fetches (want the keys kept)", s, j.fetches.Load())
	}
	// The provider rotates; within the interval, one fetch at most.
	e.clock.Advance(jwksRefetch)
	rotated := j.rotate()
	other := testkit.ECKey(t)
	if s := grant(rotated); s != 200 || j.fetches.Load() != 2 {
		t.Fatalf("after rotation: %d, %d fetches", s, j.fetches.Load())
	}
	for range 10 {
		if s := grant(other); s != 400 {
			t.Fatalf("a key the provider never had: %d", s)
		}
	}
	if j.fetches.Load() != 2 {
		t.Fatalf("a flood of bad grants fetched the JWKS %d times in all, want 2", j.fetches.Load())
	}
	e.clock.Advance(jwksRefetch + time.Second)
	if s := grant(other); s != 400 || j.fetches.Load() != 3 {
		t.Fatalf("after the interval: %d, %d fetches, want one more", s, j.fetches.Load())
	}
}

func TestTrustedIdPJWKSURLConfig(t *testing.T) {
	mc := []MachineClient{{ID: "ci", Secret: newSecret(machineSecret)}}
	for url, ok := range map[string]bool{
		"https://login.corp.test/keys": true, "http://127.0.0.1:9/keys": true, "http://localhost/keys": true,
		"http://login.corp.test/keys": false, "https://user@login.corp.test/keys": false, "/keys": false,
	} {
		err := Config{MachineClients: mc, TrustedIdPs: []TrustedIdP{{Issuer: trustedIdP, JWKSURL: url}}}.checkTrustedIdPs()
		if (err == nil) != ok {
			t.Errorf("%s: %v", url, err)
		}
	}
	idps, err := ParseTrustedIdPs([]byte(`[{"issuer": "https://login.corp.test", "jwks_uri": "https://login.corp.test/keys"}]`))
	if err != nil || len(idps) != 1 || idps[0].JWKSURL != "https://login.corp.test/keys" || len(idps[0].Keys) != 0 {
		t.Fatalf("%v %+v", err, idps)
	}
}
