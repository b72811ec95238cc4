package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// dpopAlgs reads the built-in server's dpop_signing_alg_values_supported
// (RFC 9449 §5.1): the relay binds its tokens to a DPoP key when the list
// is there, which it is by default.
func dpopAlgs(ctx context.Context, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var md struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return nil, fmt.Errorf("the authorization server's metadata: %w", err)
	}
	return md.Algs, nil
}

// dpopLine says whether the demo's tokens will be DPoP-bound.
func dpopLine(algs []string) string {
	if len(algs) == 0 {
		return "   DPoP is off (AUTH_DPOP=0): the tokens are bearer tokens, usable by whoever copies them"
	}
	return "   DPoP is on (" + strings.Join(algs, ", ") + "): the relay binds the tokens to a key kept in its vault,\n" +
		"   so a copied access or refresh token is refused without that key (relay status shows its jkt)"
}
