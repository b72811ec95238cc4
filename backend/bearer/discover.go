package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/keyrelay/keyrelay/internal/wellknown"
)

// ErrDiscovery means no usable authorization-server metadata was found.
var ErrDiscovery = errors.New("bearer: metadata discovery failed")

// MetadataURLs returns, in the order the MCP authorization spec gives, the
// URLs at which an issuer's metadata may live: RFC 8414 with the path
// inserted, OIDC with the path inserted, OIDC with the path appended. For an
// issuer without a path the list is the RFC 8414 and the OIDC root URLs.
func MetadataURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: issuer is not an absolute URL", ErrDiscovery)
	}
	return wellknown.AuthServerURLs(u), nil
}

// DiscoverJWKS finds the issuer's jwks_uri. Each metadata document's issuer
// must equal issuer exactly (RFC 8414 §3.3).
func DiscoverJWKS(ctx context.Context, c *http.Client, issuer string) (string, error) {
	return discover(ctx, c, issuer, "jwks_uri")
}

// DiscoverIntrospection finds the issuer's introspection_endpoint
// (RFC 8414 §2), with the checks of DiscoverJWKS.
func DiscoverIntrospection(ctx context.Context, c *http.Client, issuer string) (string, error) {
	return discover(ctx, c, issuer, "introspection_endpoint")
}

func discover(ctx context.Context, c *http.Client, issuer, member string) (string, error) {
	urls, err := MetadataURLs(issuer)
	if err != nil {
		return "", err
	}
	var errs []error
	for _, u := range urls {
		v, err := fetchMetadataURL(ctx, c, u, issuer, member)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("%w: %w", ErrDiscovery, errors.Join(errs...))
}

// fetchMetadataURL returns the URL in member of the metadata at u.
func fetchMetadataURL(ctx context.Context, c *http.Client, u, issuer, member string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return "", fmt.Errorf("%s: bad metadata: %w", u, err)
	}
	if got, _ := md["issuer"].(string); got != issuer {
		return "", fmt.Errorf("%s: issuer %q does not match %q", u, got, issuer)
	}
	v, _ := md[member].(string)
	if v == "" {
		return "", fmt.Errorf("%s: no %s", u, member)
	}
	if err := CheckURL(v); err != nil {
		return "", fmt.Errorf("%s: %s: %w", u, member, err)
	}
	return v, nil
}

// CheckURL accepts an absolute https URL, or http on a loopback host.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopback(u.Hostname()):
		return nil
	}
	return errors.New("must be https unless on a loopback host")
}

// IsLoopback reports whether host is localhost or a loopback IP literal.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
