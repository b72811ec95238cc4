package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func ioNopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }

// revoke revokes a token at the chain's authorization server.
func revokeAt(t *testing.T, base, token string) {
	t.Helper()
	resp, err := http.PostForm(base+"/revoke", url.Values{"token": {token}, "client_id": {"relay"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// TestMain removes the binaries the e2e tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if bins.relay != "" {
		_ = os.RemoveAll(filepath.Dir(bins.relay))
	}
	os.Exit(code)
}
