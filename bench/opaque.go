package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// opaqueAlg is the throughput row of opaque tokens checked by
// introspection (RFC 7662), served from the introspection cache.
const opaqueAlg = "opaque (introspection, cached)"

// opaqueBackend is `backend --auth-server` issuing opaque access tokens
// (AUTH_TOKEN_FORMAT=opaque) and checking them at its own /introspect as
// the resource-server client "backend" (BACKEND_INTROSPECTION=1, the
// default 60 s cache), with a machine client whose token the load uses.
type opaqueBackend struct {
	url, token string
	d          *daemon
}

func startOpaqueBackend(ctx context.Context, bins, tmp string) (*opaqueBackend, error) {
	dir := filepath.Join(tmp, "opaque")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rsSecret, ciSecret := randomString(24), randomString(24)
	clients, err := json.Marshal([]any{
		map[string]any{"client_id": "backend", "client_secret": rsSecret, "introspect": true},
		map[string]any{"client_id": "bench", "client_secret": ciSecret},
	})
	if err != nil {
		return nil, err
	}
	clientsFile, secretFile := filepath.Join(dir, "clients.json"), filepath.Join(dir, "backend-secret")
	for f, b := range map[string][]byte{clientsFile: clients, secretFile: []byte(rsSecret)} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	o := &opaqueBackend{url: "http://" + addr}
	o.d, err = startDaemon(filepath.Join(bins, "backend"), nil, baseEnv(tmp,
		"BACKEND_ADDR="+addr, "BACKEND_AUTH_SERVER=1", "AUTH_MACHINE_CLIENTS_FILE="+clientsFile,
		"AUTH_TOKEN_FORMAT=opaque", "BACKEND_INTROSPECTION=1", "BACKEND_CLIENT_ID=backend",
		"BACKEND_CLIENT_SECRET_FILE="+secretFile, "BACKEND_LOG_LEVEL=warn"))
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, o.url+"/healthz"); err != nil {
		o.close()
		return nil, fmt.Errorf("opaque backend: %w\n%s", err, o.d.stderr)
	}
	if o.token, err = clientCredentials(ctx, o.url, "bench", ciSecret); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *opaqueBackend) close() {
	if o != nil && o.d != nil {
		o.d.stop()
	}
}

// clientCredentials gets an access token for the backend at base from its
// built-in server (client_credentials, client_secret_basic).
func clientCredentials(ctx context.Context, base, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {base}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("client_credentials at %s: %s", base, resp.Status)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		return "", fmt.Errorf("client_credentials at %s: a JWT, not an opaque token", base)
	}
	return tok.AccessToken, nil
}
