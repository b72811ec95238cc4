package oauth

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const fuzzResource = "https://backend.example/mcp"

// FuzzResourceMetadata: an accepted document names the resource asked for
// (allowing only the origin-slash equivalence), and a refusal is printable,
// bounded text.
func FuzzResourceMetadata(f *testing.F) {
	f.Add([]byte(`{"resource":"https://backend.example/mcp","authorization_servers":["https://as.example"],"bearer_methods_supported":["header"]}`))
	f.Add([]byte(`{"resource":"https://backend.example/mcp/"}`))
	f.Add([]byte(`{"resource":"https://evil.example/mcp","authorization_servers":["http://169.254.169.254"]}`))
	f.Add([]byte(`{"resource":"https://backend.example/mcp","resource":"https://evil.example"}`))
	f.Add([]byte(`{"resource":"\u001b[2Jhttps://backend.example/mcp"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rm, err := parseResourceMetadata(body, metadataURL{"https://backend.example/.well-known/oauth-protected-resource/mcp", []string{fuzzResource}})
		if err != nil {
			if rm != nil || !printable(err.Error()) || len(err.Error()) > 1200 {
				t.Fatalf("bad error: %q", err)
			}
			return
		}
		if rm.Resource != fuzzResource {
			t.Fatalf("accepted resource %q", rm.Resource)
		}
		if as, err := rm.AuthorizationServer(); err == nil {
			if _, err := secureURL(as); err != nil {
				t.Fatalf("insecure authorization server %q accepted", as)
			}
		}
	})
}

// FuzzDeviceAuthorization: an accepted answer carries a device code, a
// printable user code, a secure printable verification URI and sane
// times; a refusal is printable, bounded text.
func FuzzDeviceAuthorization(f *testing.F) {
	f.Add([]byte(`{"device_code":"d","user_code":"BCDF-GHJK","verification_uri":"https://as.example/device","verification_uri_complete":"https://as.example/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}`), 200)
	f.Add([]byte(`{"device_code":"d","user_code":"U","verification_url":"https://accounts.example/device","expires_in":"1800"}`), 200)
	f.Add([]byte(`{"error":"invalid_client","error_description":"unknown"}`), 401)
	f.Add([]byte(`{"device_code":"d","user_code":"\u001b]8;;x\u0007","verification_uri":"javascript:alert(1)","expires_in":600}`), 200)
	f.Add([]byte(`{"device_code":"d","user_code":"U","verification_uri":"https://a.example","expires_in":600,"interval":9223372036854775807}`), 200)
	f.Add([]byte(`<html>`), 502)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		d, err := decodeDevice(status, body, now)
		if err != nil {
			if d != nil || !printable(err.Error()) || len(err.Error()) > 600 {
				t.Fatalf("bad error: %q", err)
			}
			return
		}
		if status != 200 || d.deviceCode.IsZero() || d.UserCode == "" || len(d.UserCode) > maxUserCodeLen || !printable(d.UserCode) {
			t.Fatalf("accepted a bad answer: status %d, user code %q", status, d.UserCode)
		}
		for _, u := range []string{d.VerificationURI, d.VerificationURIComplete} {
			if u == d.VerificationURIComplete && u == "" {
				continue
			}
			if _, err := secureURL(u); err != nil || !printable(u) || strings.Contains(u, " ") {
				t.Fatalf("accepted verification URI %q", u)
			}
		}
		if !d.Expiry.After(now) || d.Expiry.After(now.Add(maxDeviceExpiresIn)) || d.Interval < time.Second || d.Interval > maxDeviceInterval {
			t.Fatalf("expiry %v, interval %v out of range", d.Expiry, d.Interval)
		}
	})
}

// FuzzAuthServerMetadata: an accepted RFC 8414 document names exactly the
// issuer asked for, advertises S256 and has only secure endpoints; a
// refusal is printable, bounded text.
func FuzzAuthServerMetadata(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"]}`))
	f.Add([]byte(`{"issuer":"https://as.example/","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["plain"]}`))
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"http://evil.example/t","code_challenge_methods_supported":["S256"]}`))
	f.Add([]byte(`{"issuer":"https://as.example","issuer":"https://evil.example","token_endpoint":"https://as.example/t"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		const issuer = "https://as.example"
		var md Metadata
		if json.Unmarshal(body, &md) != nil {
			return
		}
		err := md.check(issuer, "https://as.example/.well-known/oauth-authorization-server")
		if err != nil {
			if !printable(err.Error()) || len(err.Error()) > 1200 {
				t.Fatalf("bad error: %q", err)
			}
			return
		}
		if md.Issuer != issuer || !slices.Contains(md.CodeChallengeMethodsSupported, "S256") || md.TokenEndpoint == "" {
			t.Fatalf("accepted %+v", md)
		}
		for _, e := range []string{md.AuthorizationEndpoint, md.TokenEndpoint, md.RevocationEndpoint, md.RegistrationEndpoint, md.DeviceAuthorizationEndpoint} {
			if e == "" {
				continue
			}
			if u, err := url.Parse(e); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
				t.Fatalf("insecure endpoint %q accepted", e)
			}
		}
	})
}
