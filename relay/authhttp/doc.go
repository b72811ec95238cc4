// Package authhttp is the relay's one authorization policy towards a
// protected resource (the backend's tool API, or a remote MCP server), as
// an http.RoundTripper that both upstreams put under their HTTP clients.
//
// The policy, for a request that may sign in (Mode SignIn, the default for
// a POST):
//   - while the authorization server is not known yet (Transport.Resolved),
//     or no token is held (Holder), the request goes first without a
//     token, so that the resource's 401 names its protected resource
//     metadata (RFC 9728 §5), which Hint passes on to discovery, and the
//     scope to sign in for (Challenger: the MCP authorization
//     specification's scope selection strategy); a resource that needs no
//     token just answers. Once a token is held, requests go with it at
//     once;
//   - the request goes with the broker's token (memory, vault, refresh, or
//     an interactive sign-in);
//   - a 401 leads to one new token (a refresh, or a sign-in again after
//     invalid_grant, for the scope the 401 names) and one retry;
//   - a 403 insufficient_scope leads to one step-up sign-in for the union
//     of the scopes held and the scopes the challenge names, and one retry;
//   - a 401 or 403 that the retry still gets is an *AuthError; a 403
//     insufficient_scope then marks the scopes as not granted, so that the
//     next call does not open another browser tab for them.
//
// Other modes, set per request with WithMode: Anonymous (first without a
// token, then as SignIn: a backend tool that needs no sign-in), Cached
// (the cached token only, never a sign-in or a refresh: background
// streams, the end of a session), Probe (as Cached, failing with
// ErrNoCachedToken when no token is held: a start-up probe), None (never
// a token: the backend's public tool list).
//
// The sign-in UI of the request (signin.FromContext) is passed to the
// broker, so a sign-in shows its URL to the person who asked.
//
// Security properties: the token goes only in the Authorization header of
// the request the caller built, never in a URL or an error; a retry sends
// the same body again (http.Request.GetBody); no 401 or 403 is retried
// more than once, so a hostile resource cannot make the relay loop or
// open browser tabs; errors carry the challenge's error code, never a
// body. Which URLs may get the token is the caller's business: the Base
// under this transport refuses every other URL (the backend's client
// builds every URL from its base; mcphttp's transport.Guard checks them).
//
// Which scopes a sign-in asks for is the broker's choice (RELAY_SCOPES,
// else the challenge's, else the protected resource metadata's
// scopes_supported); this package only passes the challenge's on.
//
// Non-goals: DPoP.
package authhttp
