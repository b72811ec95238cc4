package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// fakeJWT is an unsigned JWT with claims, for the parts of the relay that
// read claims without verifying them.
func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(`{"alg":"ES256","typ":"oauth-id-jag+jwt"}`)) + "." + e(b) + ".c2lnbmF0dXJl"
}

const fakeIDToken = "fake.id-token-0123456789.signature"

// TestExchangeIDToken: the token exchange sends exactly the parameters
// SEP-990 names, as a public client of the identity provider, and
// returns the ID-JAG with its expiry.
func TestExchangeIDToken(t *testing.T) {
	f := newFakeAS(t)
	jag := fakeJWT(map[string]any{"iss": f.srv.URL, "exp": fixedNow.Add(5 * time.Minute).Unix()})
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"` + jag + `","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}`
	})
	c := f.client()
	c.ClientID, c.Resource = "relay-at-idp", ""
	g, err := c.ExchangeIDToken(context.Background(), secret.New(fakeIDToken), "https://as.example", "https://mcp.example/mcp")
	if err != nil {
		t.Fatal(err)
	}
	if g.Assertion.Reveal() != jag || !g.Expiry.Equal(fixedNow.Add(5*time.Minute).Truncate(time.Second)) {
		t.Fatalf("grant: expiry %v", g.Expiry)
	}
	reqs := f.requests("/token")
	if len(reqs) != 1 {
		t.Fatalf("%d token requests", len(reqs))
	}
	want := url.Values{
		"grant_type":           {GrantTokenExchange},
		"requested_token_type": {TokenTypeIDJAG},
		"subject_token":        {fakeIDToken},
		"subject_token_type":   {TokenTypeIDToken},
		"audience":             {"https://as.example"},
		"resource":             {"https://mcp.example/mcp"},
		"client_id":            {"relay-at-idp"},
		"scope":                {"notes:read notes:write"},
	}
	if got := reqs[0].Form; got.Encode() != want.Encode() {
		t.Fatalf("form\n got %v\nwant %v", got, want)
	}
	if reqs[0].Header.Get("Authorization") != "" {
		t.Fatal("a public client sent an Authorization header")
	}
}

// TestExchangeIDTokenRefusals: an OAuth error, a wrong issued_token_type,
// an answer that is not a JWT; the ID token never in an error.
func TestExchangeIDTokenRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		is     error
	}{
		"invalid_grant echoing the token": {400, `{"error":"invalid_grant","error_description":"bad ` + fakeIDToken + `"}`, ErrInvalidGrant},
		"access token instead":            {200, `{"access_token":"a.b.c","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`, ErrBadResponse},
		"not a JWT":                       {200, `{"access_token":"opaque","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag"}`, ErrBadResponse},
		"not JSON":                        {200, `<html>`, ErrBadResponse},
		"500":                             {500, `{}`, ErrBadResponse},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeAS(t)
			f.setToken(func(url.Values) (int, string) { return tc.status, tc.body })
			_, err := f.client().ExchangeIDToken(context.Background(), secret.New(fakeIDToken), "https://as.example", "")
			if !errors.Is(err, tc.is) {
				t.Fatalf("err %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), fakeIDToken) {
				t.Fatalf("the ID token is in the error: %v", err)
			}
		})
	}
}

// TestJWTBearer: the grant carries the assertion, scope and resource,
// with the client's authentication (client_secret_basic here); the
// assertion is scrubbed from an error.
func TestJWTBearer(t *testing.T) {
	f := newFakeAS(t)
	f.md.TokenEndpointAuthMethodsSupported = []string{AuthBasic}
	const jag = "fake.id-jag-0123456789.sig"
	f.setToken(func(form url.Values) (int, string) {
		if form.Get("assertion") != jag {
			return 400, `{"error":"invalid_grant","error_description":"no: ` + form.Get("assertion") + `"}`
		}
		return 200, `{"access_token":"` + fakeAccess + `","token_type":"Bearer","expires_in":60}`
	})
	c := f.client()
	c.ClientSecret = secret.New("fake-client-secret-0123")
	tok, err := c.JWTBearer(context.Background(), secret.New(jag))
	if err != nil || tok.AccessToken.Reveal() != fakeAccess {
		t.Fatalf("%v %v", tok, err)
	}
	r := f.requests("/token")[0]
	if r.Form.Get("grant_type") != GrantJWTBearer || r.Form.Get("scope") != "notes:read notes:write" ||
		r.Form.Get("resource") != resourceURL || r.Form.Get("client_id") != "" || !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		t.Fatalf("request %v, Authorization %q", r.Form, r.Header.Get("Authorization"))
	}
	_, err = c.JWTBearer(context.Background(), secret.New("fake.other-jag-0123456789.sig"))
	if !errors.Is(err, ErrInvalidGrant) || strings.Contains(err.Error(), "other-jag") {
		t.Fatalf("refusal: %v", err)
	}
}

// TestNoCodeFlow: metadata without PKCE is accepted for token requests
// only; a login with it is refused.
func TestNoCodeFlow(t *testing.T) {
	f := newFakeAS(t)
	f.md.CodeChallengeMethodsSupported = nil
	if _, err := Discover(context.Background(), f.srv.Client(), f.srv.URL); !errors.Is(err, ErrNoPKCE) {
		t.Fatalf("without the option: %v", err)
	}
	md, err := Discover(context.Background(), f.srv.Client(), f.srv.URL, NoCodeFlow())
	if err != nil || !md.NoCodeFlow {
		t.Fatalf("with NoCodeFlow: %v", err)
	}
	c := f.client()
	c.Metadata = md
	if _, err := c.StartLogin(context.Background(), Callback{}); !errors.Is(err, ErrNoPKCE) {
		t.Fatalf("StartLogin with NoCodeFlow metadata: %v, want ErrNoPKCE", err)
	}
	f.setToken(func(url.Values) (int, string) {
		return 200, `{"access_token":"a.b.c","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}`
	})
	if _, err := c.ExchangeIDToken(context.Background(), secret.New(fakeIDToken), "https://as.example", ""); err != nil {
		t.Fatalf("exchange with NoCodeFlow metadata: %v", err)
	}
}

func TestPeekClaims(t *testing.T) {
	exp := time.Unix(1900000000, 0)
	for name, tc := range map[string]struct {
		tok     string
		aud     []string
		wantErr bool
	}{
		"aud string": {fakeJWT(map[string]any{"iss": "https://idp", "sub": "alice", "aud": "relay", "exp": exp.Unix()}), []string{"relay"}, false},
		"aud list":   {fakeJWT(map[string]any{"iss": "https://idp", "sub": "alice", "aud": []string{"a", "relay"}, "exp": exp.Unix()}), []string{"a", "relay"}, false},
		"two parts":  {"abc.def", nil, true},
		"not base64": {"a.!!!.c", nil, true},
		"bad exp":    {fakeJWT(map[string]any{"exp": "soon"}), nil, true},
	} {
		c, err := PeekClaims(secret.New(tc.tok))
		if tc.wantErr {
			if !errors.Is(err, ErrBadIDToken) {
				t.Errorf("%s: %v, want ErrBadIDToken", name, err)
			}
			continue
		}
		if err != nil || c.Issuer != "https://idp" || c.Subject != "alice" || !c.Expiry.Equal(exp) || strings.Join(c.Audience, " ") != strings.Join(tc.aud, " ") {
			t.Errorf("%s: %+v %v", name, c, err)
		}
	}
}
