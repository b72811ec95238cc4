package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/keyrelay/keyrelay/backend/bearer"
)

// call serves POST /mcp/tools/{name}: authenticate, then read and check the
// body, then run the tool. No body byte is read before the token passes.
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("name")
	log := s.cfg.Logger.With("request_id", RequestID(r.Context()), "tool", safeLog(name))
	t := s.lookup(name)
	if t == nil {
		bearer.WriteJSONError(w, http.StatusNotFound, "not_found", "unknown tool")
		log.Info("tool call", "status", http.StatusNotFound)
		return
	}
	user, ch := s.authenticate(r, t)
	if ch != nil {
		ch.Write(w)
		log.Info("tool call", "status", ch.Status, "error", ch.Error, "reason", ch.Description)
		return
	}
	if user != nil {
		log = log.With("sub", user.Subject, "client_id", user.ClientID, "jti", user.TokenID)
	}
	args, herr := decodeArgs(w, r, t.schema)
	if herr != nil {
		bearer.WriteJSONError(w, herr.status, herr.code, herr.desc)
		log.Info("tool call", "status", herr.status, "error", herr.code, "reason", herr.desc)
		return
	}
	res, ok := s.run(r.Context(), t, args, user, log)
	if !ok {
		bearer.WriteJSONError(w, http.StatusInternalServerError, "server_error", "the tool failed unexpectedly")
		return
	}
	writeJSON(w, http.StatusOK, res)
	log.Info("tool call", "status", http.StatusOK, "is_error", res.IsError, "dur", time.Since(start))
}

// authenticate returns the caller, or the challenge to send instead.
func (s *Server) authenticate(r *http.Request, t *entry) (*User, *bearer.Challenge) {
	md := s.ResourceMetadataURL()
	d := s.cfg.DPoP
	raw, scheme, err := bearer.Credentials(r)
	switch {
	case errors.Is(err, bearer.ErrNoToken):
		if !t.RequiresAuth {
			return nil, nil
		}
		return nil, &bearer.Challenge{Status: http.StatusUnauthorized, Description: "authentication required", ResourceMetadata: md, DPoP: d.Part("")}
	case err == nil && scheme == bearer.SchemeDPoP && (d == nil || d.Verifier == nil):
		err = bearer.ErrMalformedHeader // DPoP is off: an unknown scheme
		fallthrough
	case err != nil:
		return nil, d.ChallengeFor(err, scheme, md)
	case s.cfg.Validator == nil:
		return nil, d.ChallengeFor(errors.New("tokens are not accepted by this server"), scheme, md)
	}
	tok, err := s.cfg.Validator.Validate(r.Context(), raw)
	if errors.Is(err, bearer.ErrUnavailable) {
		// Fail closed: the token could not be checked, so it is not accepted.
		return nil, &bearer.Challenge{Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable",
			Description: "the token could not be checked; try again", RetryAfter: 5}
	}
	if err == nil {
		err = d.Check(r, scheme, raw, tok, s.cfg.PublicURL)
	}
	if err != nil {
		return nil, d.ChallengeFor(err, scheme, md)
	}
	if missing := tok.Missing(t.Scopes); len(missing) > 0 {
		return nil, &bearer.Challenge{Status: http.StatusForbidden, Error: "insufficient_scope",
			Description: "the token lacks a required scope", Scope: t.Scopes, ResourceMetadata: md, DPoP: d.Part(scheme)}
	}
	return &User{Subject: tok.Subject, ClientID: tok.ClientID, Issuer: tok.Issuer,
		Scopes: tok.Scopes, Expiry: tok.Expiry, TokenID: tok.ID}, nil
}

type httpError struct {
	status     int
	code, desc string
}

func badRequest(desc string) *httpError {
	return &httpError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

// decodeArgs reads {"arguments":{...}} and checks it against the schema.
func decodeArgs(w http.ResponseWriter, r *http.Request, sc *schema) (map[string]any, *httpError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, badRequest("content type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: "body over 1 MiB"}
		}
		return nil, badRequest("could not read body")
	}
	var req struct {
		Arguments json.RawMessage `json:"arguments"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("body is not a JSON object")
	}
	if dec.More() {
		return nil, badRequest("trailing data after JSON body")
	}
	args := map[string]any{}
	if len(req.Arguments) > 0 && !bytes.Equal(req.Arguments, []byte("null")) {
		if req.Arguments[0] != '{' || json.Unmarshal(req.Arguments, &args) != nil {
			return nil, badRequest("arguments must be a JSON object")
		}
	}
	if err := sc.validate(args, ""); err != nil {
		return nil, badRequest(err.Error())
	}
	return args, nil
}

// run calls the handler, turning an error into an isError result and a
// panic into ok=false.
func (s *Server) run(ctx context.Context, t *entry, args map[string]any, u *User, log *slog.Logger) (res *Result, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("tool panicked", "panic", p, "stack", string(debug.Stack()))
			res, ok = nil, false
		}
	}()
	res, err := t.Handler(ctx, args, u)
	if err != nil {
		log.Warn("tool failed", "err", err)
		return Errorf("%s", err.Error()), true
	}
	if res == nil {
		res = &Result{}
	}
	if res.Content == nil {
		res.Content = []Content{}
	}
	return res, true
}

// safeLog shortens a client-chosen string before it is logged.
func safeLog(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
