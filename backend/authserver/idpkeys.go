package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// Limits on fetching a trusted identity provider's JWKS (jwks_uri).
const (
	jwksTimeout  = 5 * time.Second
	jwksMaxBytes = 1 << 20
	// jwksRefetch is the least time between two fetches of one JWKS: an
	// ID-JAG that no cached key verifies fetches again at most this often,
	// so a flood of bad grants costs at most one fetch per interval.
	jwksRefetch = 30 * time.Second
)

// idpKeys caches the keys fetched from trusted identity providers'
// jwks_uri, by issuer.
type idpKeys struct {
	mu    sync.Mutex
	byIss map[string]fetchedKeys
}

type fetchedKeys struct {
	keys []any
	at   time.Time // the last fetch, successful or not
}

// keysOf returns the keys to verify an ID-JAG of idp with: its static
// Keys, and those of its jwks_uri, fetched on first use and again when
// stale is set (no cached key verified) and jwksRefetch has passed. A
// failed fetch keeps the keys fetched before.
func (s *Server) keysOf(ctx context.Context, idp TrustedIdP, stale bool) []any {
	if idp.JWKSURL == "" {
		return idp.Keys
	}
	k := &s.idpKeys
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byIss == nil {
		k.byIss = map[string]fetchedKeys{}
	}
	cur, ok := k.byIss[idp.Issuer]
	now := s.now()
	if !ok || (stale && now.Sub(cur.at) >= jwksRefetch) {
		keys, err := fetchJWKS(ctx, idp.JWKSURL)
		cur.at = now
		if err != nil {
			s.log.Warn("authserver: trusted identity provider's JWKS not fetched; keeping the keys held", "idp", idp.Issuer, "err", err)
		} else {
			cur.keys = keys
		}
		k.byIss[idp.Issuer] = cur
	}
	return append(append([]any(nil), idp.Keys...), cur.keys...)
}

// fetchJWKS GETs a JWK set, without redirects, within jwksTimeout and
// jwksMaxBytes, and keeps the keys keyAlg accepts.
func fetchJWKS(ctx context.Context, raw string) ([]any, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil || len(b) > jwksMaxBytes {
		return nil, errors.New("unreadable or over 1 MiB")
	}
	return jwksKeys(b)
}

// jwksKeys parses a JWK set and keeps the keys keyAlg accepts.
func jwksKeys(b []byte) ([]any, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, errors.New("not a JWK set")
	}
	jwks, err := set.JWKSlice()
	if err != nil {
		return nil, err
	}
	var out []any
	for _, j := range jwks {
		if keyAlg(j.Key()) != "" {
			out = append(out, j.Key())
		}
	}
	return out, nil
}

// checkJWKSURL: https, or http on a loopback host; no userinfo or
// fragment.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("jwks_uri is not an absolute URL")
	}
	if u.Scheme == "https" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if u.Scheme == "http" && (u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return errors.New("jwks_uri must be https unless its host is loopback")
}
