package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// resourceWellKnown is the RFC 9728 well-known path.
const resourceWellKnown = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the part of an RFC 9728 protected resource metadata
// document that the relay uses.
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
}

// DiscoverResource fetches the protected resource metadata of resource, the
// backend's canonical URL (RFC 9728). When challengeURL is not empty (the
// resource_metadata parameter of the backend's 401 WWW-Authenticate
// challenge), only that URL is fetched, as the MCP specification says.
// Otherwise the well-known URL is tried with the resource's path inserted
// (https://host/.well-known/oauth-protected-resource/path), then at the
// root; a 4xx answer moves on, any other failure stops. When no URL served
// a document, the error is ErrNoResourceMetadata, and also ErrNotFound when
// every URL answered 404 (the server publishes none).
//
// The document's resource must be identical to the identifier the URL it
// came from was built from (RFC 9728 §3.3): resource for the URL with the
// path inserted, and for a challenge URL (§3.3 again: the URL of the
// request the client made). The root URL is built from the origin, so a
// document there may name the origin, https://host, and the caller then
// uses it as its resource; it may also name resource itself, as servers
// that publish one document for their one MCP endpoint do. A challenge URL
// that is exactly one of the two well-known URLs is treated as that URL. A
// URL with an empty path and the same URL with "/" are the same URI (RFC
// 3986 §6.2.3); "https://h/mcp" and "https://h/mcp/" differ. Anything else,
// another origin above all, is ErrResourceMismatch.
//
// Every URL fetched must be https unless its host is loopback
// (ErrInsecureURL); a redirect to another host is refused (ErrRedirect), and
// so is a document over 1 MiB (ErrTooLarge) or one whose Content-Type is
// not JSON (ErrBadMetadata). hc may be nil; a redirect policy is added to a
// copy of it. The challenge URL may be on another host than the resource:
// the document it serves must still name resource.
func DiscoverResource(ctx context.Context, hc *http.Client, resource, challengeURL string) (*ResourceMetadata, error) {
	urls, err := resourceMetadataURLs(resource, challengeURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = defaultHTTPClient()
	}
	var last, notFound error
	for _, u := range urls {
		var raw json.RawMessage
		err := getJSON(ctx, hc, u.url, &raw)
		if isClientError(err) {
			// Keep a 4xx other than 404 over a 404, so that ErrNotFound
			// means every URL answered 404.
			if errors.Is(err, ErrNotFound) {
				notFound = err
			} else if last == nil {
				last = err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return parseResourceMetadata(raw, u)
	}
	if last == nil {
		last = notFound
	}
	return nil, fmt.Errorf("%w for %s: %w", ErrNoResourceMetadata, sanitize(resource, 256), last)
}

// AuthorizationServer returns the first authorization server the document
// lists, the one the relay uses (RFC 9728 lets the client choose; the MCP
// specification leaves the choice to it too). It must be https unless on a
// loopback host. None listed is ErrNoResourceMetadata.
func (rm *ResourceMetadata) AuthorizationServer() (string, error) {
	if len(rm.AuthorizationServers) == 0 || rm.AuthorizationServers[0] == "" {
		return "", fmt.Errorf("%w: %s lists no authorization server", ErrNoResourceMetadata, sanitize(rm.Resource, 256))
	}
	as := rm.AuthorizationServers[0]
	if _, err := secureURL(as); err != nil {
		return "", err
	}
	return as, nil
}

// metadataURL is a URL to fetch protected resource metadata from, with
// the resource identifiers its document may name (RFC 9728 §3.3).
type metadataURL struct {
	url  string
	want []string
}

// resourceMetadataURLs lists the URLs to try, in order.
func resourceMetadataURLs(resource, challengeURL string) ([]metadataURL, error) {
	u, err := secureURL(resource)
	if err != nil {
		return nil, err
	}
	origin := u.Scheme + "://" + u.Host
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	query := ""
	if u.RawQuery != "" {
		query = "?" + u.RawQuery
	}
	root := metadataURL{origin + resourceWellKnown, []string{resource}}
	var urls []metadataURL
	if path != "" || query != "" {
		// The root URL is built from the origin (§3.1): its document may
		// name the origin, or the resource as before.
		root.want = []string{origin, resource}
		urls = append(urls, metadataURL{origin + resourceWellKnown + path + query, []string{resource}})
	}
	if path != "" {
		urls = append(urls, root)
	} else if query == "" {
		urls = []metadataURL{root}
	}
	if challengeURL == "" {
		return urls, nil
	}
	if _, err := secureURL(challengeURL); err != nil {
		return nil, err
	}
	for _, w := range urls {
		if w.url == challengeURL {
			return []metadataURL{w}, nil
		}
	}
	return []metadataURL{{challengeURL, []string{resource}}}, nil
}

// parseResourceMetadata decodes a document fetched from from.url and
// checks that it names one of from.want. Nothing from the body reaches an
// error except a sanitised, capped resource value.
func parseResourceMetadata(body []byte, from metadataURL) (*ResourceMetadata, error) {
	var rm ResourceMetadata
	if err := json.Unmarshal(body, &rm); err != nil {
		return nil, fmt.Errorf("%w: protected resource metadata at %s is not the expected JSON object", ErrBadMetadata, sanitize(from.url, 256))
	}
	if rm.Resource == "" {
		return nil, fmt.Errorf("%w: protected resource metadata at %s has no resource", ErrBadMetadata, sanitize(from.url, 256))
	}
	for _, w := range from.want {
		if sameResource(rm.Resource, w) {
			return &rm, nil
		}
	}
	want := make([]string, len(from.want))
	for k, w := range from.want {
		want[k] = strconv.Quote(sanitize(w, 256))
	}
	return nil, fmt.Errorf("%w: %s names %q, want %s", ErrResourceMismatch, sanitize(from.url, 256), sanitize(rm.Resource, 256), strings.Join(want, " or "))
}

// sameResource is an exact compare, except that an origin with an empty
// path equals the same origin with "/".
func sameResource(got, want string) bool {
	if got == want {
		return true
	}
	return originOnly(got) && originOnly(want) && strings.TrimSuffix(got, "/") == strings.TrimSuffix(want, "/")
}

// originOnly reports whether s is scheme://host[:port] with an empty path
// or "/", and no query or fragment.
func originOnly(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawPath == "" &&
		u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.User == nil && !strings.Contains(s, "#")
}
