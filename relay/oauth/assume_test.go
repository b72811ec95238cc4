package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// entraDoc serves, at the OIDC-appended URL of issuer m.srv.URL+path, a
// document like Entra ID's: S256 done but code_challenge_methods_supported
// absent, or the raw methods JSON given ("" leaves the key out).
func entraDoc(m *mdServer, path, methods string) string {
	iss := m.srv.URL + path
	body := `{"issuer":"` + iss + `","authorization_endpoint":"` + iss + `/oauth2/v2.0/authorize",` +
		`"token_endpoint":"` + iss + `/oauth2/v2.0/token","PKCEAssumed":true,"pkceassumed":true`
	if methods != "" {
		body += `,"code_challenge_methods_supported":` + methods
	}
	body += "}"
	m.docs[path+"/.well-known/openid-configuration"] = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
	return iss
}

// TestC1_AssumeS256: only an issuer named byte for byte, whose document
// omits the list, gets S256 assumed; S256 is then still sent. Every
// other case stays refused (C1), and the document cannot claim it.
func TestC1_AssumeS256(t *testing.T) {
	const tenant = "/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
	ctx := context.Background()

	t.Run("named, list omitted: assumed, S256 sent", func(t *testing.T) {
		m := newMDServer(t)
		iss := entraDoc(m, tenant, "")
		md, err := Discover(ctx, nil, iss, AssumeS256("https://other.example/x/v2.0", iss))
		testkit.NoErr(t, err, "Discover")
		if !md.PKCEAssumed {
			t.Fatal("PKCEAssumed is false")
		}
		l := startLogin(t, &Client{ClientID: "relay", Metadata: md})
		q := authParams(t, l)
		if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
			t.Fatalf("authorization URL without S256: %v", q)
		}
	})
	t.Run("null list is omitted", func(t *testing.T) {
		m := newMDServer(t)
		iss := entraDoc(m, tenant, "null")
		md, err := Discover(ctx, nil, iss, AssumeS256(iss))
		testkit.NoErr(t, err, "Discover")
		if !md.PKCEAssumed {
			t.Fatal("PKCEAssumed is false")
		}
	})
	t.Run("not named: refused, and says why", func(t *testing.T) {
		m := newMDServer(t)
		iss := entraDoc(m, tenant, "")
		for name, opts := range map[string][]DiscoverOption{
			"no option":      nil,
			"empty option":   {AssumeS256()},
			"trailing slash": {AssumeS256(iss + "/")},
			"other tenant":   {AssumeS256(m.srv.URL + "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")},
			"v1 form":        {AssumeS256(m.srv.URL + strings.TrimSuffix(tenant, "/v2.0"))},
			"upper case":     {AssumeS256(strings.ToUpper(iss))},
			"prefix":         {AssumeS256(m.srv.URL)},
		} {
			md, err := Discover(ctx, nil, iss, opts...)
			if md != nil || !errors.Is(err, ErrPKCEUnlisted) || !errors.Is(err, ErrNoPKCE) {
				t.Errorf("%s: md %v, err %v; want ErrPKCEUnlisted", name, md, err)
			}
		}
	})
	t.Run("a list without S256: refused even when named", func(t *testing.T) {
		for name, methods := range map[string]string{"plain only": `["plain"]`, "empty list": `[]`, "lowercase": `["s256"]`} {
			m := newMDServer(t)
			iss := entraDoc(m, tenant, methods)
			md, err := Discover(ctx, nil, iss, AssumeS256(iss))
			if md != nil || !errors.Is(err, ErrNoPKCE) || errors.Is(err, ErrPKCEUnlisted) {
				t.Errorf("%s: md %v, err %v; want ErrNoPKCE alone", name, md, err)
			}
		}
	})
	t.Run("S256 listed: nothing assumed", func(t *testing.T) {
		m := newMDServer(t)
		iss := entraDoc(m, tenant, `["S256"]`)
		md, err := Discover(ctx, nil, iss, AssumeS256(iss))
		testkit.NoErr(t, err, "Discover")
		if md.PKCEAssumed {
			t.Fatal("PKCEAssumed is true for a document that lists S256")
		}
	})
	t.Run("hand-made metadata", func(t *testing.T) {
		md := goodMD("https://as.example")
		md.CodeChallengeMethodsSupported = []string{"plain"}
		md.PKCEAssumed = true // a list without S256 is never assumed
		c := &Client{ClientID: "relay", Metadata: &md}
		testkit.WantIs(t, testkit.ErrOf(c.StartLogin(ctx, Callback{})), ErrNoPKCE, "StartLogin, plain listed")
		md.CodeChallengeMethodsSupported = nil
		md.PKCEAssumed = false
		testkit.WantIs(t, testkit.ErrOf(c.StartLogin(ctx, Callback{})), ErrPKCEUnlisted, "StartLogin, omitted, not assumed")
	})
}
