package main

import (
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// withVars is base with each pair of kv set (to "" too).
func withVars(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestIntrospectionSettings(t *testing.T) {
	secretFile := testkit.WriteTemp(t, "secret", "backend-secret-0123456789\n", 0o600)
	base := map[string]string{"AUTH_SERVER_URL": "https://idp.example", "BACKEND_INTROSPECTION": "1",
		"BACKEND_CLIENT_ID": "backend", "BACKEND_CLIENT_SECRET_FILE": secretFile}
	with := func(kv ...string) map[string]string { return withVars(base, kv...) }
	c, err := parseConfig(nil, env(base))
	testkit.NoErr(t, err)
	if !c.Introspection || c.ClientSecret.Reveal() != "backend-secret-0123456789" || c.IntrospectionTTL != 60*time.Second {
		t.Fatalf("introspection settings: %+v", c)
	}
	if c, err := parseConfig(nil, env(with("BACKEND_INTROSPECTION_CACHE", "0"))); err != nil || c.IntrospectionTTL >= 0 {
		t.Fatalf("cache 0: %v %v", c.IntrospectionTTL, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{with("BACKEND_CLIENT_ID", ""), "BACKEND_INTROSPECTION=1 needs BACKEND_CLIENT_ID and BACKEND_CLIENT_SECRET_FILE"},
		{with("BACKEND_CLIENT_SECRET_FILE", ""), "BACKEND_INTROSPECTION=1 needs BACKEND_CLIENT_ID and BACKEND_CLIENT_SECRET_FILE"},
		{with("BACKEND_CLIENT_SECRET_FILE", secretFile+".missing"), "BACKEND_CLIENT_SECRET_FILE:"},
		{with("BACKEND_INTROSPECTION_CACHE", "2h"), "BACKEND_INTROSPECTION_CACHE: want 0 (no cache) or a duration between 1s and 1h"},
		{with("BACKEND_INTROSPECTION_URL", "http://idp.example/introspect"), "BACKEND_INTROSPECTION_URL"},
		{with("BACKEND_INTROSPECTION", "", "BACKEND_INTROSPECT_ALL", "1"), "need BACKEND_INTROSPECTION=1"},
		{with("AUTH_TOKEN_FORMAT", "opaque"), "AUTH_TOKEN_FORMAT=opaque needs --auth-server and BACKEND_INTROSPECTION=1"},
		{with("AUTH_TOKEN_FORMAT", "paseto"), "AUTH_TOKEN_FORMAT: want jwt or opaque"},
	} {
		_, err := parseConfig(nil, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
	if runtime.GOOS == "windows" {
		return // file modes are not checked there
	}
	loose := testkit.WriteTemp(t, "loose", "backend-secret-0123456789", 0o644)
	if _, err := parseConfig(nil, env(with("BACKEND_CLIENT_SECRET_FILE", loose))); err == nil {
		t.Error("a secret file readable by others was accepted")
	}
}
