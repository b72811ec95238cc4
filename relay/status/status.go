// Package status builds the report of `relay status`: whether the person
// is signed in, as whom, with which scopes until when, the vault's key
// source and data directory, the configured servers, the administrator's
// policy, and what is wrong, including whatever would make a login fail
// with the key source (vault.Status). It prints the report as text or
// JSON. It never prompts: a passphrase vault without a passphrase file is
// reported locked.
//
// Security properties: a Report never holds a token. Build copies only the
// subject, scopes and expiry of the stored record, and the JSON form has
// no field that could carry one. The URLs it shows are given to it
// without their userinfo and query (Sources).
//
// Non-goals: checking the tokens with the server (no network call is
// made: an expired token is reported as such, and the next call refreshes
// it), and repairing what it reports.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/vault"
)

// Report is `relay status --json`. It never holds a token.
type Report struct {
	LoggedIn bool `json:"logged_in"`
	// State is LoggedIn, LoggedOut, Locked or Unreadable.
	State      string    `json:"state"`
	Subject    string    `json:"subject,omitempty"`
	Scopes     []string  `json:"scopes,omitempty"`
	Expiry     time.Time `json:"expiry,omitzero"`
	Expired    bool      `json:"expired,omitempty"`
	KeySource  string    `json:"key_source"`
	Protects   string    `json:"protects,omitempty"`
	KeyNote    string    `json:"key_note,omitempty"`
	DataDir    string    `json:"data_dir"`
	AuthServer string    `json:"auth_server"`
	// AuthServerFound: AuthServer was not configured; the stored sign-in
	// found it through the backend.
	AuthServerFound bool     `json:"auth_server_found,omitempty"`
	Backend         string   `json:"backend"`
	Problem         string   `json:"problem,omitempty"`
	ConfigProblem   string   `json:"config_problem,omitempty"`
	Policy          []string `json:"policy,omitempty"`
	// PKCE: issuers for which PKCE S256 is assumed, and who named each.
	PKCE []Assumption `json:"pkce_s256_assumed,omitempty"`
	// ClientCredentials is the client id when the relay signs in with
	// the client_credentials grant (RELAY_CLIENT_CREDENTIALS), not a person.
	ClientCredentials string `json:"client_credentials,omitempty"`
	// IdP is the identity provider session of cross-app access
	// (RELAY_IDP_ISSUER).
	IdP *IdP `json:"idp,omitempty"`
	// TokenType is the held tokens' type: Bearer, or DPoP when they are
	// bound to the vault's key, whose RFC 7638 thumbprint (cnf.jkt) is
	// DPoPKey. Never the key itself.
	TokenType string `json:"token_type,omitempty"`
	DPoPKey   string `json:"dpop_jkt,omitempty"`
}

// IdP is the identity provider session of cross-app access: never a
// token.
type IdP struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// Source is "RELAY_IDP_ID_TOKEN_FILE" or "sign-in".
	Source   string    `json:"source"`
	SignedIn bool      `json:"signed_in"` // an ID token is held
	Subject  string    `json:"subject,omitempty"`
	Expiry   time.Time `json:"expiry,omitzero"`
	Expired  bool      `json:"expired,omitempty"`
	Problem  string    `json:"problem,omitempty"`
}

// Assumption is an issuer for which PKCE with S256 is assumed, and who
// named it (policy.Assumption, as status prints it).
type Assumption struct {
	Issuer string `json:"issuer"`
	By     string `json:"by"` // a setting's name, or "assume_pkce_s256 of PATH"
}

// The states of a Report.
const (
	LoggedIn  = "logged_in"
	LoggedOut = "logged_out" // no tokens for this configuration are stored
	// Locked: tokens are stored under a passphrase, and status never
	// prompts for it.
	Locked = "locked"
	// Unreadable: tokens are stored but cannot be read now (Problem says
	// why).
	Unreadable = "unreadable"
)

// Vault is the vault's side of the report; *vault.Vault implements it.
// Status must not fail: it reports problems in the result.
type Vault interface {
	Status(ctx context.Context) vault.Status
}

// Tokens gives the stored tokens without any network call or sign-in;
// *broker.Broker implements it. Cached returns an error wrapping
// broker.ErrLoginRequired when none are stored, and may wait for the
// vault's lock.
type Tokens interface {
	Cached(ctx context.Context) (vault.Record, error)
}

var (
	_ Vault  = (*vault.Vault)(nil)
	_ Tokens = (*broker.Broker)(nil)
)

// Sources are what a Report is built from.
type Sources struct {
	// The URLs as configured, as they may be printed: without userinfo or
	// query (config.RedactURL). "" for AuthServer = discovered.
	AuthServer string
	Backend    string   // the backend or MCP server URL
	Policy     []string // the administrator's policy, summarised (policy.Policy.Summary)
	// PKCE: issuers for which PKCE S256 is assumed (config.Config.AssumedPKCE).
	PKCE []Assumption
	// ClientCredentials: the client id of the client_credentials mode, or "".
	ClientCredentials string
	// IdP, if set, reads the identity provider session of cross-app
	// access, with no network call; asked only when the configuration is
	// good and the vault is not locked.
	IdP func(ctx context.Context) *IdP
	// ConfigErr says why the configuration or the policy refuses it; then
	// the tokens are not read.
	ConfigErr error
	Vault     Vault
	Tokens    Tokens // read only when the vault holds tokens that can be read, and ConfigErr is nil
	// Issuer, if set, returns the authorization server of the stored
	// sign-in, as it may be printed, or "". It is asked only after the
	// tokens were read, when it is known without a network call, and only
	// when AuthServer is "".
	Issuer func(ctx context.Context) string
	// Waiting, if set, is called when reading the tokens must wait for
	// the vault's lock, held by another process (a relay waiting for a
	// sign-in), and the stop it returns once the wait is over
	// (vault.WithLockWait). A read that is merely slow calls nothing.
	Waiting func() (stop func())
	Now     func() time.Time // nil: time.Now
}

// Build makes the report. It makes no network call.
func Build(ctx context.Context, s Sources) Report {
	r := Report{State: LoggedOut, AuthServer: s.AuthServer, Backend: s.Backend, Policy: s.Policy, PKCE: s.PKCE,
		ClientCredentials: s.ClientCredentials}
	if s.ConfigErr != nil {
		r.ConfigProblem = s.ConfigErr.Error()
	}
	st := s.Vault.Status(ctx)
	r.KeySource, r.Protects, r.KeyNote, r.DataDir, r.Problem = string(st.KeySource), st.Protects, st.KeyNote, st.Dir, st.Problem
	if s.IdP != nil && s.ConfigErr == nil && !st.Locked {
		if r.IdP = s.IdP(ctx); r.IdP != nil {
			r.IdP.Expired = !r.IdP.Expiry.IsZero() && now(s.Now).After(r.IdP.Expiry)
		}
	}
	switch {
	case !st.HasTokens || s.ConfigErr != nil:
		return r
	case st.Locked:
		r.State = Locked
		return r
	case st.Problem != "":
		r.State = Unreadable
		return r
	}
	if s.Waiting != nil {
		ctx = vault.WithLockWait(ctx, s.Waiting)
	}
	rec, err := s.Tokens.Cached(ctx)
	switch {
	case err == nil:
		r.LoggedIn, r.State, r.Subject, r.Scopes, r.Expiry = true, LoggedIn, rec.Subject, rec.Scopes, rec.Expiry
		r.Expired = !rec.Expiry.IsZero() && now(s.Now).After(rec.Expiry)
		if jkt := broker.Thumbprint(&rec); jkt != "" {
			r.TokenType, r.DPoPKey = rec.TokenType, jkt
		}
		if r.AuthServer == "" && s.Issuer != nil {
			r.AuthServer = s.Issuer(ctx)
			r.AuthServerFound = r.AuthServer != ""
		}
	case !errors.Is(err, broker.ErrLoginRequired):
		r.State, r.Problem = Unreadable, err.Error()
	}
	return r
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now()
}

// Print writes the report to w, as indented JSON or as text.
func (r Report) Print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "status:      %s\n", r.stateText())
	if r.LoggedIn {
		exp := fmtTime(r.Expiry)
		if r.Expired {
			exp += " (expired; the next call refreshes it)"
		}
		fmt.Fprintf(w, "scopes:      %s\nexpires:     %s\n", joinScopes(r.Scopes), exp)
		if r.DPoPKey != "" {
			bound := "bearer tokens (the server did not bind them)"
			if strings.EqualFold(r.TokenType, "DPoP") {
				bound = "tokens bound to it"
			}
			fmt.Fprintf(w, "dpop key:    jkt %s; %s\n", r.DPoPKey, bound)
		}
	}
	fmt.Fprintf(w, "key source:  %s\nprotects:    %s\ndata dir:    %s\nauth server: %s\nbackend:     %s\n",
		orUnknown(r.KeySource), orUnknown(r.Protects), r.DataDir, r.authServerText(), orUnknown(r.Backend))
	if r.ClientCredentials != "" {
		fmt.Fprintf(w, "sign-in:     client credentials of %s (no person signs in; RELAY_CLIENT_CREDENTIALS)\n", r.ClientCredentials)
	}
	if r.IdP != nil {
		fmt.Fprintf(w, "sign-in:     cross-app access through %s\nidp:         %s\n", r.IdP.Issuer, r.IdP.text())
	}
	for _, a := range r.PKCE {
		fmt.Fprintf(w, "pkce:        S256 assumed for %s (%s)\n", a.Issuer, a.By)
	}
	for i, l := range r.Policy {
		if i == 0 {
			fmt.Fprintln(w, "policy:")
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
	if r.KeyNote != "" {
		fmt.Fprintf(w, "note:        %s\n", r.KeyNote)
	}
	for _, p := range []string{r.ConfigProblem, r.Problem} {
		if p != "" {
			fmt.Fprintf(w, "problem:     %s\n", p)
		}
	}
	return nil
}

// text is the identity provider session in one line.
func (p *IdP) text() string {
	var s string
	switch {
	case p.SignedIn:
		s = "signed in as " + orUnknown(p.Subject) + ", ID token until " + fmtTime(p.Expiry)
		if p.Expired {
			s += " (expired)"
		}
	case p.Source == "sign-in":
		s = "not signed in (the next call signs in at the identity provider)"
	default:
		s = "no ID token"
	}
	s += "; from " + p.Source + ", client " + p.ClientID
	if p.Problem != "" {
		s += "; problem: " + p.Problem
	}
	return s
}

func (r Report) stateText() string {
	switch {
	case r.LoggedIn:
		return "logged in as " + orUnknown(r.Subject)
	case r.State == Locked:
		return "locked: needs the passphrase"
	case r.State == Unreadable:
		return "unknown: the stored tokens cannot be read (see the problem)"
	}
	return "logged out"
}

func (r Report) authServerText() string {
	switch {
	case r.AuthServer == "" && r.LoggedIn:
		return "(unknown)"
	case r.AuthServer == "":
		return "(found through the backend at sign-in)"
	case r.AuthServerFound:
		return r.AuthServer + " (found through the backend)"
	}
	return r.AuthServer
}

// SignedIn describes a sign-in for `relay login`: "signed in as alice
// (scopes: notes:read; expires ...)". It shows no token.
func SignedIn(r vault.Record) string {
	return fmt.Sprintf("signed in as %s (scopes: %s; expires %s)", orUnknown(r.Subject), joinScopes(r.Scopes), fmtTime(r.Expiry))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.Local().Format(time.RFC1123)
}

func joinScopes(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}
