package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

const (
	fakeClientSecret = "fake-client-secret-0123456789"
	fakeRegToken     = "fake-registration-access-token-0123456789"
)

// newRegServer is a fake server whose registration endpoint answers
// status and body.
func newRegServer(t *testing.T, status int, body string) *fakeAS {
	f := newFakeAS(t)
	f.regStatus, f.regBody = status, body
	return f
}

// registered returns the one registration request f received, with its
// JSON body.
func registered(t *testing.T, f *fakeAS) (recorded, map[string]any) {
	t.Helper()
	reqs := f.requests("/register")
	if len(reqs) != 1 {
		t.Fatalf("%d registration requests, want 1", len(reqs))
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(reqs[0].RawForm), &m)
	return reqs[0], m
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestRegisterSendsNativePublicClient(t *testing.T) {
	full := `{"client_id":"dyn-123","client_secret":"` + fakeClientSecret + `","client_id_issued_at":1790000000,"client_secret_expires_at":1800000000,
		"registration_access_token":"` + fakeRegToken + `","registration_client_uri":"https://as.example/register/dyn-123",
		"redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`
	cases := []struct {
		name   string
		req    RegistrationRequest
		grants []string
		redir  []string
		scope  any
	}{
		{"defaults", RegistrationRequest{ClientName: "keyrelay"}, []string{"authorization_code", "refresh_token"}, []string{DefaultRedirectURI}, nil},
		{"device grant, port, scopes", RegistrationRequest{ClientName: "keyrelay", DeviceGrant: true, RedirectURIs: []string{"http://127.0.0.1:8765/callback"}, Scopes: []string{"a", "b"}},
			[]string{"authorization_code", "refresh_token", DeviceCodeGrantType}, []string{"http://127.0.0.1:8765/callback"}, "a b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRegServer(t, 201, full)
			reg, err := Register(context.Background(), rs.srv.Client(), &rs.md, tc.req)
			testkit.NoErr(t, err)
			r, m := registered(t, rs)
			if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "" {
				t.Fatalf("request %s %q", r.Method, r.Header.Get("Content-Type"))
			}
			if m["application_type"] != "native" || m["token_endpoint_auth_method"] != "none" || m["client_name"] != "keyrelay" ||
				!slices.Equal(strs(m["grant_types"]), tc.grants) || !slices.Equal(strs(m["redirect_uris"]), tc.redir) ||
				!slices.Equal(strs(m["response_types"]), []string{"code"}) || m["scope"] != tc.scope {
				t.Fatalf("client metadata sent: %v", m)
			}
			if reg.ClientID != "dyn-123" || reg.ClientSecret.Reveal() != fakeClientSecret || reg.RegistrationAccessToken.Reveal() != fakeRegToken ||
				reg.RegistrationClientURI != "https://as.example/register/dyn-123" || reg.TokenEndpointAuthMethod != "none" ||
				!reg.ClientIDIssuedAt.Equal(time.Unix(1790000000, 0)) || !reg.ClientSecretExpiresAt.Equal(time.Unix(1800000000, 0)) {
				t.Fatalf("registration %+v", reg)
			}
			if s := fmt.Sprintf("%+v %#v %v", reg, reg, *reg); strings.Contains(s, fakeClientSecret) || strings.Contains(s, fakeRegToken) {
				t.Fatal("a Registration prints a secret")
			}
		})
	}
	t.Run("public client answer", func(t *testing.T) {
		rs := newRegServer(t, 200, `{"client_id":"abc","client_secret_expires_at":0}`)
		reg, err := Register(context.Background(), nil, &rs.md, RegistrationRequest{})
		if err != nil || reg.ClientID != "abc" || !reg.ClientSecret.IsZero() || !reg.RegistrationAccessToken.IsZero() || !reg.ClientSecretExpiresAt.IsZero() {
			t.Fatalf("%+v %v", reg, err)
		}
	})
}

func TestRegisterErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
		code   string
	}{
		{"invalid_client_metadata", 400, `{"error":"invalid_client_metadata","error_description":"no \u001b[31mweb"}`, nil, "invalid_client_metadata"},
		{"invalid_redirect_uri", 400, `{"error":"invalid_redirect_uri"}`, nil, "invalid_redirect_uri"},
		{"invalid_client", 401, `{"error":"invalid_client"}`, ErrInvalidClient, "invalid_client"},
		{"html 500", 500, `<html>` + fakeClientSecret, ErrBadResponse, ""},
		{"error status without error", 403, `{"client_secret":"` + fakeClientSecret + `"}`, ErrBadResponse, ""},
		{"no client_id", 201, `{"client_secret":"` + fakeClientSecret + `"}`, ErrBadResponse, ""},
		{"client_id with escapes", 201, `{"client_id":"a\u001b[2Jb","client_secret":"` + fakeClientSecret + `"}`, ErrBadResponse, ""},
		{"client_id too long", 201, `{"client_id":"` + strings.Repeat("a", 2000) + `"}`, ErrBadResponse, ""},
		{"insecure management URI", 201, `{"client_id":"a","registration_client_uri":"http://as.example/x"}`, ErrBadResponse, ""},
		{"bad issued_at", 201, `{"client_id":"a","client_id_issued_at":"soon"}`, ErrBadResponse, ""},
		{"negative expiry", 201, `{"client_id":"a","client_secret_expires_at":-1}`, ErrBadResponse, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRegServer(t, tc.status, tc.body)
			reg, err := Register(context.Background(), nil, &rs.md, RegistrationRequest{})
			if reg != nil || err == nil || strings.Contains(err.Error(), fakeClientSecret) || !printable(err.Error()) {
				t.Fatalf("reg %v, err %q", reg, err)
			}
			var oe *Error
			if tc.code != "" && (!errors.As(err, &oe) || oe.Code != tc.code) {
				t.Fatalf("err %v, want OAuth error %s", err, tc.code)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRegisterTransportRules(t *testing.T) {
	ctx := context.Background()
	t.Run("redirect not followed", func(t *testing.T) {
		rs := newRegServer(t, 0, "")
		rs.override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example/register", http.StatusTemporaryRedirect)
		}))
		testkit.WantIs(t, testkit.ErrOf(Register(ctx, nil, &rs.md, RegistrationRequest{})), ErrRedirect, "Register")
	})
	t.Run("huge answer", func(t *testing.T) {
		rs := newRegServer(t, 201, `{"client_id":"a","x":"`+strings.Repeat("x", maxBody)+`"}`)
		testkit.WantIs(t, testkit.ErrOf(Register(ctx, nil, &rs.md, RegistrationRequest{})), ErrTooLarge, "Register")
	})
	t.Run("no endpoint", func(t *testing.T) {
		md := goodMD("https://as.example")
		testkit.WantIs(t, testkit.ErrOf(Register(ctx, nil, &md, RegistrationRequest{})), ErrNoRegistration, "Register")
		testkit.WantIs(t, testkit.ErrOf(Register(ctx, nil, nil, RegistrationRequest{})), ErrConfig, "nil metadata")
	})
	t.Run("insecure endpoint", func(t *testing.T) {
		md := goodMD("https://as.example")
		md.RegistrationEndpoint = "http://as.example/register"
		testkit.WantIs(t, testkit.ErrOf(Register(ctx, &http.Client{Transport: &refuseTransport{}}, &md, RegistrationRequest{})), ErrInsecureURL, "Register")
	})
	t.Run("bad redirect URI asked", func(t *testing.T) {
		rs := newRegServer(t, 201, `{"client_id":"a"}`)
		for _, ru := range []string{"/callback", "http://127.0.0.1/cb#x", "::"} {
			testkit.ExpectIs(t, testkit.ErrOf(Register(ctx, nil, &rs.md, RegistrationRequest{RedirectURIs: []string{ru}})), ErrConfig, "%q", ru)
		}
	})
}

// TestInvalidClientWrapsSentinel: a stale client is recognisable on every
// path that uses the client_id, so the caller can register again once.
func TestInvalidClientWrapsSentinel(t *testing.T) {
	stale := func(url.Values) (int, string) {
		return 401, `{"error":"invalid_client","error_description":"unknown client"}`
	}
	t.Run("refresh", func(t *testing.T) {
		f := newFakeAS(t)
		f.setToken(stale)
		_, err := f.client().Refresh(context.Background(), secretOf(fakeRefresh))
		if !errors.Is(err, ErrInvalidClient) || errors.Is(err, ErrInvalidGrant) {
			t.Fatalf("err %v, want ErrInvalidClient", err)
		}
	})
	t.Run("code exchange", func(t *testing.T) {
		f := newFakeAS(t)
		f.setToken(stale)
		l := startLogin(t, f.client())
		ch := waitAsync(l, context.Background())
		hit(t, l, "GET", "/callback", goodQuery(t, l).Encode())
		if r := result(t, ch); !errors.Is(r.err, ErrInvalidClient) {
			t.Fatalf("err %v, want ErrInvalidClient", r.err)
		}
	})
	t.Run("other codes do not", func(t *testing.T) {
		for _, code := range []string{"unauthorized_client", "invalid_request", "invalid_grant"} {
			if errors.Is(&Error{Code: code}, ErrInvalidClient) {
				t.Errorf("%s wraps ErrInvalidClient", code)
			}
		}
	})
}

func TestClientIDMetadataDocumentSupported(t *testing.T) {
	m := newMDServer(t)
	m.docs["/.well-known/oauth-authorization-server"] = func(w http.ResponseWriter, _ *http.Request) {
		b, _ := json.Marshal(goodMD(m.srv.URL))
		_, _ = w.Write([]byte(strings.Replace(string(b), "{", `{"client_id_metadata_document_supported":true,`, 1)))
	}
	md, err := Discover(context.Background(), nil, m.srv.URL)
	if err != nil || !md.ClientIDMetadataDocumentSupported {
		t.Fatalf("%v %+v", err, md)
	}
}
