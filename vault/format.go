package vault

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// formatVersion is the version of both vault.json and the plaintext inside
// tokens.age.
const formatVersion = 1

// state is the decrypted content of tokens.age.
type state map[Account]*Record

// The types below are the plaintext serialisation inside tokens.age. They
// hold the real token strings: secret.Value marshals as REDACTED on purpose,
// so the values are copied here, and only here, with Reveal.
type fileState struct {
	Version  int          `json:"version"`
	Accounts []fileRecord `json:"accounts"`
}

type fileRecord struct {
	Issuer       string            `json:"issuer"`
	ClientID     string            `json:"client_id,omitempty"`
	Resource     string            `json:"resource,omitempty"`
	Server       string            `json:"server,omitempty"`
	AccessToken  string            `json:"access_token,omitempty"`
	RefreshToken string            `json:"refresh_token,omitempty"`
	IDToken      string            `json:"id_token,omitempty"`
	TokenType    string            `json:"token_type,omitempty"`
	Scopes       []string          `json:"scopes,omitempty"`
	Subject      string            `json:"subject,omitempty"`
	Expiry       time.Time         `json:"expiry,omitzero"`
	Registration *fileRegistration `json:"registration,omitempty"`
	Updated      time.Time         `json:"updated,omitzero"`
	SignedIn     time.Time         `json:"signed_in,omitzero"`
	// The DPoP key (omitted when there is none, so that an older vault,
	// without it, opens as before).
	DPoPKey string `json:"dpop_key,omitempty"`
	DPoPAlg string `json:"dpop_alg,omitempty"`
}

type fileRegistration struct {
	ClientID                string    `json:"client_id"`
	ClientSecret            string    `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   time.Time `json:"client_secret_expires_at,omitzero"`
	RegistrationAccessToken string    `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string    `json:"registration_client_uri,omitempty"`
	RedirectURIs            []string  `json:"redirect_uris,omitempty"`
	IssuedAt                time.Time `json:"issued_at,omitzero"`
	TokenEndpointAuthMethod string    `json:"token_endpoint_auth_method,omitempty"`
}

// encodeState serialises s deterministically (accounts sorted).
func encodeState(s state) ([]byte, error) {
	fs := fileState{Version: formatVersion, Accounts: make([]fileRecord, 0, len(s))}
	for a, r := range s {
		fs.Accounts = append(fs.Accounts, toFile(a, r))
	}
	slices.SortFunc(fs.Accounts, func(x, y fileRecord) int {
		return cmp.Or(cmp.Compare(x.Issuer, y.Issuer), cmp.Compare(x.ClientID, y.ClientID), cmp.Compare(x.Resource, y.Resource), cmp.Compare(x.Server, y.Server))
	})
	return json.Marshal(fs)
}

// decodeState parses the plaintext of tokens.age. Errors are *FormatError
// and never contain the input.
func decodeState(b []byte) (state, error) {
	var fs fileState
	if err := decodeStrict(b, &fs); err != nil {
		return nil, err
	}
	if err := checkVersion(fs.Version); err != nil {
		return nil, err
	}
	s := make(state, len(fs.Accounts))
	for _, fr := range fs.Accounts {
		a, r := fromFile(fr)
		if a.Issuer == "" {
			return nil, &FormatError{Offset: -1, Reason: "account without issuer"}
		}
		if _, dup := s[a]; dup {
			return nil, &FormatError{Offset: -1, Reason: "duplicate account"}
		}
		if !timesInRange(fr) {
			return nil, &FormatError{Offset: -1, Reason: "time out of range"}
		}
		s[a] = r
	}
	return s, nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data, and reducing every error to an offset and a fixed reason.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The content is authenticated (tokens.age) or written by the
		// relay alone (vault.json): a member this relay does not know
		// comes from a newer one. encoding/json has no error type for it.
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return &NewerError{Reason: "a field this relay does not know"}
		}
		return jsonFormatError(err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FormatError{Offset: dec.InputOffset(), Reason: "trailing data"}
	}
	return nil
}

// checkVersion refuses a format version other than formatVersion: a
// higher one as a newer relay's.
func checkVersion(v int) error {
	switch {
	case v > formatVersion:
		return &NewerError{Reason: fmt.Sprintf("format version %d; this relay reads %d", v, formatVersion)}
	case v != formatVersion:
		return &FormatError{Offset: -1, Reason: "unsupported version"}
	}
	return nil
}

func jsonFormatError(err error, off int64) *FormatError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &FormatError{Offset: syn.Offset, Reason: "syntax error"}
	case errors.As(err, &typ):
		return &FormatError{Offset: typ.Offset, Reason: "wrong type"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FormatError{Offset: off, Reason: "truncated"}
	default: // unknown fields, bad times: their messages quote the input
		return &FormatError{Offset: off, Reason: "invalid value"}
	}
}

// timesInRange rejects times json.Marshal cannot write back (years outside
// 0..9999 once in UTC), so that every decoded state can be re-encoded.
func timesInRange(fr fileRecord) bool {
	ts := []time.Time{fr.Expiry, fr.Updated, fr.SignedIn}
	if fr.Registration != nil {
		ts = append(ts, fr.Registration.ClientSecretExpiresAt, fr.Registration.IssuedAt)
	}
	for _, t := range ts {
		if y := t.UTC().Year(); !t.IsZero() && (y < 0 || y > 9999) {
			return false
		}
	}
	return true
}

func toFile(a Account, r *Record) fileRecord {
	fr := fileRecord{
		Issuer: a.Issuer, ClientID: a.ClientID, Resource: a.Resource, Server: a.Server,
		AccessToken:  r.AccessToken.Reveal(),
		RefreshToken: r.RefreshToken.Reveal(),
		IDToken:      r.IDToken.Reveal(),
		TokenType:    r.TokenType, Scopes: r.Scopes, Subject: r.Subject,
		Expiry: r.Expiry.UTC(), Updated: r.Updated.UTC(), SignedIn: r.SignedIn.UTC(),
		DPoPKey: r.DPoPKey.Reveal(), DPoPAlg: r.DPoPAlg,
	}
	if g := r.Registration; g != nil {
		fr.Registration = &fileRegistration{
			ClientID: g.ClientID, ClientSecret: g.ClientSecret.Reveal(),
			ClientSecretExpiresAt:   g.ClientSecretExpiresAt.UTC(),
			RegistrationAccessToken: g.RegistrationAccessToken.Reveal(),
			RegistrationClientURI:   g.RegistrationClientURI,
			RedirectURIs:            g.RedirectURIs, IssuedAt: g.IssuedAt.UTC(),
			TokenEndpointAuthMethod: g.TokenEndpointAuthMethod,
		}
	}
	return fr
}

func fromFile(fr fileRecord) (Account, *Record) {
	r := &Record{
		AccessToken:  secret.New(fr.AccessToken),
		RefreshToken: secret.New(fr.RefreshToken),
		IDToken:      secret.New(fr.IDToken),
		TokenType:    fr.TokenType, Scopes: fr.Scopes, Subject: fr.Subject,
		Expiry: utc(fr.Expiry), Updated: utc(fr.Updated), SignedIn: utc(fr.SignedIn),
		DPoPKey: secret.New(fr.DPoPKey), DPoPAlg: fr.DPoPAlg,
	}
	if g := fr.Registration; g != nil {
		r.Registration = &Registration{
			ClientID: g.ClientID, ClientSecret: secret.New(g.ClientSecret),
			ClientSecretExpiresAt:   utc(g.ClientSecretExpiresAt),
			RegistrationAccessToken: secret.New(g.RegistrationAccessToken),
			RegistrationClientURI:   g.RegistrationClientURI,
			RedirectURIs:            g.RedirectURIs, IssuedAt: utc(g.IssuedAt),
			TokenEndpointAuthMethod: g.TokenEndpointAuthMethod,
		}
	}
	return Account{Issuer: fr.Issuer, ClientID: fr.ClientID, Resource: fr.Resource, Server: fr.Server}, r
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// sameRecord reports whether a and b would be stored identically, ignoring
// the Updated stamp. It decides whether Update needs to write at all.
func sameRecord(acct Account, a, b *Record) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	fa, fb := toFile(acct, a), toFile(acct, b)
	fa.Updated, fb.Updated = time.Time{}, time.Time{}
	ja, errA := json.Marshal(fa)
	jb, errB := json.Marshal(fb)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
