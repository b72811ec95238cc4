package bearer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// precheck does what golang-jwt does not: it bounds the size, rejects
// duplicate JSON members in the header and the payload (RFC 8725 §3.11 asks
// for one meaning per token), checks typ and crit, refuses ID tokens, and
// insists that the date claims are JSON numbers (golang-jwt also accepts
// numeric strings).
func precheck(raw string) error {
	if len(raw) > MaxTokenSize {
		return invalid("token too large")
	}
	if strings.Count(raw, ".") != 2 {
		return invalid("not a signed JWT")
	}
	h, p, _ := strings.Cut(raw, ".")
	p, _, _ = strings.Cut(p, ".")
	header, err := decodeSegment(h)
	if err != nil {
		return invalid("header is not base64url")
	}
	if err := scanObject(header, checkHeaderMember); err != nil {
		return err
	}
	payload, err := decodeSegment(p)
	if err != nil {
		return invalid("payload is not base64url")
	}
	return scanObject(payload, checkClaimMember)
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

func checkHeaderMember(key string, val json.RawMessage) error {
	switch key {
	case "typ":
		var typ string
		if json.Unmarshal(val, &typ) != nil || !allowedTyp(typ) {
			return invalid("typ is not JWT or at+jwt")
		}
	case "crit":
		// No JWS extension is understood here, so any crit is unknown.
		return invalid("unsupported critical header")
	}
	return nil
}

func allowedTyp(typ string) bool {
	t := strings.ToLower(typ)
	return t == "jwt" || t == "at+jwt" || t == "application/at+jwt"
}

func checkClaimMember(key string, val json.RawMessage) error {
	switch key {
	case "nonce", "at_hash", "c_hash":
		// Claims only ID tokens carry (OpenID Connect Core §2, §3.3.2.11).
		// With BACKEND_AUDIENCE set to the client id, an ID token has the
		// right iss and aud; these claims are what tell it apart (B20).
		return invalid("an ID token is not an access token")
	case "exp", "nbf", "iat":
		if len(val) == 0 || !(val[0] == '-' || (val[0] >= '0' && val[0] <= '9')) {
			return invalid(key + " is not a number")
		}
	}
	return nil
}

// scanObject walks the members of one JSON object, calling fn for each, and
// fails on a duplicate name, a non-object or trailing data.
func scanObject(b []byte, fn func(string, json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return invalid("segment is not a JSON object")
	}
	seen := make(map[string]bool, 8)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return invalid("segment is not valid JSON")
		}
		key, _ := t.(string)
		if seen[key] {
			return invalid("duplicate member " + safeName(key))
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return invalid("segment is not valid JSON")
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return invalid("segment is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("trailing data after JSON object")
	}
	return nil
}

// safeName returns a claim name fit for an error message: short and plain.
func safeName(s string) string {
	if len(s) > 32 {
		return "(long name)"
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "(unprintable name)"
		}
	}
	return s
}
