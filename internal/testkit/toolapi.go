package testkit

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// PostTool calls a tool of the backend's tool API at base directly: POST
// /mcp/tools/{name} with {"arguments": args} and, unless token is empty,
// the bearer token. It returns the response and its body (up to 1 MiB),
// read and closed.
func PostTool(t testing.TB, base, name, args, token string) (*http.Response, string) {
	t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	return PostToolAuth(t, base, name, args, auth, "")
}

// PostToolAuth is PostTool with the request's Authorization header (and
// DPoP proof, if proof is set) as given: for DPoP-bound tokens
// ("DPoP <token>") and malformed presentations.
func PostToolAuth(t testing.TB, base, name, args, authorization, proof string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/mcp/tools/"+name, strings.NewReader(`{"arguments":`+args+`}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
