package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/relay/policy"
)

func TestCrossAppSettings(t *testing.T) {
	good := map[string]string{"RELAY_IDP_ISSUER": "https://Login.Corp.test/", "RELAY_IDP_CLIENT_ID": "relay",
		"RELAY_CLIENT_ID": "mcp", "RELAY_CLIENT_SECRET": "s", "RELAY_IDP_ID_TOKEN_FILE": "/run/secrets/id_token"}
	c, err := checked(t, good)
	if err != nil || c.IdPIssuer != "https://login.corp.test" || c.IdPClientID != "relay" || c.IdPTokenFile != "/run/secrets/id_token" {
		t.Fatalf("%v %+v", err, c)
	}
	if c, err := checked(t, map[string]string{"RELAY_CLIENT_ID": "mcp"}, "--idp-issuer", "https://idp.test", "--idp-client-id", "r"); err != nil || c.IdPIssuer != "https://idp.test" {
		t.Fatalf("flags: %v", err)
	}
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"no idp client":      {map[string]string{"RELAY_IDP_ISSUER": "https://idp.test", "RELAY_CLIENT_ID": "mcp"}, "needs RELAY_IDP_CLIENT_ID"},
		"no mcp client":      {map[string]string{"RELAY_IDP_ISSUER": "https://idp.test", "RELAY_IDP_CLIENT_ID": "r"}, "needs RELAY_CLIENT_ID"},
		"http idp":           {map[string]string{"RELAY_IDP_ISSUER": "http://idp.test", "RELAY_IDP_CLIENT_ID": "r", "RELAY_CLIENT_ID": "mcp"}, "must be https"},
		"client id alone":    {map[string]string{"RELAY_IDP_CLIENT_ID": "r"}, "RELAY_IDP_CLIENT_ID needs RELAY_IDP_ISSUER"},
		"token file alone":   {map[string]string{"RELAY_IDP_ID_TOKEN_FILE": "/x"}, "RELAY_IDP_ID_TOKEN_FILE needs RELAY_IDP_ISSUER"},
		"client credentials": {map[string]string{"RELAY_IDP_ISSUER": "https://idp.test", "RELAY_IDP_CLIENT_ID": "r", "RELAY_CLIENT_ID": "mcp", "RELAY_CLIENT_SECRET": "s", "RELAY_CLIENT_CREDENTIALS": "1"}, "do not mix"},
		"metadata document":  {map[string]string{"RELAY_IDP_ISSUER": "https://idp.test", "RELAY_IDP_CLIENT_ID": "r", "RELAY_CLIENT_ID": "mcp", "RELAY_CLIENT_METADATA_URL": "https://c.test/m.json"}, "do not mix"},
		"idp with a query":   {map[string]string{"RELAY_IDP_ISSUER": "https://idp.test/?tenant=x", "RELAY_IDP_CLIENT_ID": "r", "RELAY_CLIENT_ID": "mcp"}, "no query"},
	} {
		if _, err := checked(t, tc.vars); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestCrossAppPolicy(t *testing.T) {
	c, err := checked(t, map[string]string{"RELAY_IDP_ISSUER": "https://idp.test", "RELAY_IDP_CLIENT_ID": "r", "RELAY_CLIENT_ID": "mcp"})
	if err != nil {
		t.Fatal(err)
	}
	for doc, ok := range map[string]bool{
		`{}`: true, `{"allowed_idp_issuers": ["https://idp.test"]}`: true,
		`{"allowed_idp_issuers": ["https://other.test"]}`: false, `{"allowed_idp_issuers": []}`: false,
	} {
		pol, err := policy.Load("", policyFile(t, doc))
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckPolicy(pol)
		if (err == nil) != ok || (err != nil && !errors.Is(err, policy.ErrDenied)) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}
