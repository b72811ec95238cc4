package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRegister(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, ctype, body string
		status            int
		errCode           string
	}{
		{"minimal native client", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"]}`, 201, ""},
		{"full metadata", "application/json; charset=utf-8", `{"redirect_uris":["http://[::1]:9000/cb","http://127.0.0.1/cb"],"client_name":"My Tool","token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"notes:read","application_type":"native","logo_uri":"https://ignored.example"}`, 201, ""},
		{"confidential client", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, 400, "invalid_client_metadata"},
		{"web client", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"application_type":"web"}`, 400, "invalid_client_metadata"},
		{"https redirect", "application/json", `{"redirect_uris":["https://app.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"localhost redirect", "application/json", `{"redirect_uris":["http://localhost/cb"]}`, 400, "invalid_redirect_uri"},
		{"userinfo redirect", "application/json", `{"redirect_uris":["http://127.0.0.1@evil.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"fragment redirect", "application/json", `{"redirect_uris":["http://127.0.0.1/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"no redirect", "application/json", `{"client_name":"x"}`, 400, "invalid_redirect_uri"},
		{"implicit", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"password grant", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["password"]}`, 400, "invalid_client_metadata"},
		{"unknown scope", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"scope":"root"}`, 400, "invalid_client_metadata"},
		{"not json", "application/json", `redirect_uris=x`, 400, "invalid_client_metadata"},
		{"form content type", "application/x-www-form-urlencoded", `{}`, 400, "invalid_request"},
		{"oversized", "application/json", `{"client_name":"` + strings.Repeat("a", 20<<10) + `"}`, 400, "invalid_client_metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.postRaw("/register", tc.ctype, tc.body)
			if tc.errCode != "" {
				wantOAuthError(t, r, tc.status, tc.errCode)
				return
			}
			if r.status != http.StatusCreated {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.json(t)
			if !strings.HasPrefix(m["client_id"].(string), "dyn-") || m["token_endpoint_auth_method"] != "none" ||
				m["application_type"] != "native" || m["client_secret"] != nil {
				t.Fatalf("registration response: %v", m)
			}
		})
	}
}

func TestRegisteredClientCanLogIn(t *testing.T) {
	e := newEnv(t)
	r := e.postRaw("/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"<b>Tool</b>","scope":"notes:read"}`)
	var reg struct {
		ClientID   string   `json:"client_id"`
		GrantTypes []string `json:"grant_types"`
	}
	if err := json.Unmarshal([]byte(r.body), &reg); err != nil || len(reg.GrantTypes) != 2 {
		t.Fatalf("%v %s", err, r.body)
	}
	v, ch := pkce()
	q := authParams(ch)
	q.Set("client_id", reg.ClientID)
	q.Set("redirect_uri", "http://127.0.0.1:6000/cb")
	c := e.login(e.startAuthorize(q), "alice", alicePW)
	page := e.get("/consent?request_id=" + c.Get("request_id"))
	if strings.Contains(page.body, "<b>Tool</b>") || !strings.Contains(page.body, "registered itself") {
		t.Fatal("consent page must escape the client name and flag a self-registered client")
	}
	code := e.consent(c, "allow").location(t).Query().Get("code")
	tok := e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
		"client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1:6000/cb"}})
	if tok.status != 200 || tok.json(t)["scope"] != "notes:read" {
		t.Fatalf("%d %s", tok.status, tok.body)
	}
	// It did not register the device grant.
	wantOAuthError(t, e.post("/device_authorization", url.Values{"client_id": {reg.ClientID}}), 400, "unauthorized_client")
}

// TestRegisterCap: when all maxRegistered registrations have been used to
// sign in, none gives way, and a new one is refused.
func TestRegisterCap(t *testing.T) {
	e := newEnv(t)
	for range maxRegistered {
		e.signInAs(e.register(`{"redirect_uris":["http://127.0.0.1/cb"]}`), "")
	}
	wantOAuthError(t, e.postRaw("/register", "application/json", `{"redirect_uris":["http://127.0.0.1/cb"]}`), 429, "temporarily_unavailable")
}
