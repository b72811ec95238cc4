// Package broker is the relay's token orchestrator: it hands out an access
// token for a tool call, trying in order memory, the vault, a refresh, and
// an interactive login.
//
// One acquisition runs at a time per process (callers that arrive during a
// refresh or login wait and reuse its result) and, through the vault's
// Update, one per data directory across processes: the vault's exclusive
// lock is held across the refresh POST and the login, and the record is
// re-read under it, so a rotating refresh token is never spent twice and two
// relays never open two browser tabs for the same account.
//
// Rules:
//   - a token within its expiry margin is refreshed before use;
//   - a refresh that fails with invalid_grant drops the tokens and leads to
//     one interactive login; any other refresh failure keeps the tokens and
//     returns the error (no browser opens);
//   - after a 401 the caller asks for a token other than the rejected one:
//     one refresh (or login), then the caller retries once;
//   - after a 403 insufficient_scope the caller asks for a step-up: one
//     login for the union of the scopes held and the scopes required.
//
// Revoke asks the authorization server to revoke the stored refresh token
// (logout), through an Auth that implements Revoker. What it reports never
// holds a token: a server error that echoes the token is redacted.
//
// Non-goals: deciding when to retry a tool call (the caller does, once),
// and talking to the backend.
package broker
