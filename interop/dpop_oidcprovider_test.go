package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/dpop"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// startOIDCProvider runs server.mjs on a free port and returns its issuer.
func startOIDCProvider(t *testing.T, nonce bool) string {
	t.Helper()
	dir := testkit.Installed(t, "KEYRELAY_OIDC_PROVIDER_DIR", "install-oidc-provider.sh", "node", "npm") // panva's oidc-provider
	addr := testkit.FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "PORT=" + port}
	if nonce {
		env = append(env, "DPOP_NONCE=1")
	}
	issuer := "http://" + addr
	testkit.StartDaemon(t, "node", env, filepath.Join(dir, "server.mjs")).
		WaitHealthy(t, issuer+"/.well-known/openid-configuration")
	return issuer
}

// devBrowser signs in on oidc-provider's development pages (any login and
// password), consents, and follows the redirect to the callback.
func devBrowser(ctx context.Context, t *testing.T, authURL string) error {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	form := regexp.MustCompile(`<form[^>]*action="([^"]+)"[^>]*method="post"`)
	hidden := regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	for step := 0; step < 6; step++ {
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.Request.URL.Path == "/callback" {
			return nil // the relay's callback answered: done
		}
		m := form.FindSubmatch(body)
		if m == nil {
			return fmt.Errorf("no form at %s (status %d)", resp.Request.URL.Path, resp.StatusCode)
		}
		v := url.Values{}
		for _, h := range hidden.FindAllSubmatch(body, -1) {
			v.Set(string(h[1]), string(h[2]))
		}
		if bytes.Contains(body, []byte(`name="login"`)) {
			v.Set("login", "alice")
			v.Set("password", "any-password-for-the-dev-pages")
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, string(m[1]), strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return errors.New("no redirect to the callback after 6 pages")
}

// userinfo calls the provider's userinfo endpoint, a DPoP resource
// server, with authorization and, if set, proof.
func userinfo(t *testing.T, u, authorization, proof string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestDPoPWithOIDCProvider proves the relay's DPoP (relay/oauth and
// internal/dpop, as the relay runs them) against a third-party
// authorization server: panva's oidc-provider, with DPoP on and, in the
// second run, nonces required. A sign-in through its pages binds the
// tokens to the client's key (token_type DPoP); its userinfo endpoint, a
// DPoP resource server, takes the access token with a proof of that key
// and refuses it as a bearer token or with another key's proof; a
// refresh with a proof of the key works, and one without a proof does
// not (oidc-provider binds public clients' refresh tokens).
func TestDPoPWithOIDCProvider(t *testing.T) {
	for _, nonce := range []bool{false, true} {
		t.Run(fmt.Sprintf("nonce=%v", nonce), func(t *testing.T) {
			issuer := startOIDCProvider(t, nonce)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			md, err := oauth.Discover(ctx, nil, issuer)
			testkit.NoErr(t, err, "Discover")
			if len(md.DPoPSigningAlgValuesSupported) == 0 {
				t.Fatalf("oidc-provider lists no DPoP algorithms: %+v", md)
			}
			signer := dpop.NewSigner(nil)
			c := &oauth.Client{ClientID: "relay", Scopes: []string{"openid", "offline_access"}, Metadata: md,
				DPoPMode: oauth.DPoPOn, DPoP: signer, ExtraAuthParams: url.Values{"prompt": {"consent"}}}
			l, err := c.StartLogin(ctx, oauth.Callback{})
			testkit.NoErr(t, err, "StartLogin")
			defer l.Close()
			done := make(chan error, 1)
			go func() { done <- devBrowser(ctx, t, l.URL()) }()
			tok, err := l.Wait(ctx)
			testkit.NoErr(t, err, "the sign-in")
			testkit.NoErr(t, <-done, "the browser")
			if !strings.EqualFold(tok.TokenType, "DPoP") || tok.DPoPKey == nil || tok.RefreshToken.IsZero() {
				t.Fatalf("tokens: type %q, key %v, refresh token %v", tok.TokenType, tok.DPoPKey != nil, !tok.RefreshToken.IsZero())
			}

			var doc struct {
				Userinfo string `json:"userinfo_endpoint"`
			}
			testkit.NoErr(t, getJSON(ctx, issuer+"/.well-known/openid-configuration", &doc))
			at := tok.AccessToken.Reveal()
			call := func(s *dpop.Signer) (int, http.Header) {
				p, err := s.Proof(http.MethodGet, doc.Userinfo, at)
				testkit.NoErr(t, err)
				status, h := userinfo(t, doc.Userinfo, "DPoP "+at, p)
				if status == http.StatusUnauthorized && s.Observe(doc.Userinfo, h) { // use_dpop_nonce: once more
					p, err = s.Proof(http.MethodGet, doc.Userinfo, at)
					testkit.NoErr(t, err)
					status, h = userinfo(t, doc.Userinfo, "DPoP "+at, p)
				}
				return status, h
			}
			if status, h := call(signer); status != http.StatusOK {
				t.Fatalf("userinfo with a proof of the key: %d %q", status, h.Values("WWW-Authenticate"))
			}
			if status, _ := userinfo(t, doc.Userinfo, "Bearer "+at, ""); status != http.StatusUnauthorized && status != http.StatusBadRequest {
				t.Fatalf("userinfo with the token as a bearer token: %d", status)
			}
			other, err := dpop.NewKey(dpop.ES256)
			testkit.NoErr(t, err)
			if status, _ := call(dpop.NewSigner(other)); status != http.StatusUnauthorized {
				t.Fatalf("userinfo with another key's proof: %d", status)
			}

			tok2, err := c.Refresh(ctx, tok.RefreshToken)
			testkit.NoErr(t, err, "Refresh with a proof of the key")
			if !strings.EqualFold(tok2.TokenType, "DPoP") || tok2.DPoPKey.Thumbprint() != tok.DPoPKey.Thumbprint() {
				t.Fatalf("refreshed tokens: type %q", tok2.TokenType)
			}
			bare := *c
			bare.DPoPMode, bare.DPoP = oauth.DPoPOff, nil
			if _, err := bare.Refresh(ctx, tok2.RefreshToken); err == nil {
				t.Fatal("a refresh without a proof passed")
			}
			thief := *c
			thief.DPoP = dpop.NewSigner(other)
			if _, err := thief.Refresh(ctx, tok2.RefreshToken); err == nil {
				t.Fatal("a refresh with another key's proof passed")
			}
		})
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
