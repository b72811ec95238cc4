package dpop

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// MaxProofSize is the largest proof read; anything longer is refused
// before decoding. An RSA-8192 proof is under 4 KiB.
const MaxProofSize = 8 << 10

// proof is a decoded, not yet verified, DPoP proof.
type proof struct {
	header  proofHeader
	claims  proofClaims
	signing string // header.payload, as signed
	sig     []byte
}

type proofHeader struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  json.RawMessage `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
	// Other ways to name a key: a proof's key is its jwk and nothing else.
	Kid json.RawMessage `json:"kid"`
	X5c json.RawMessage `json:"x5c"`
	X5u json.RawMessage `json:"x5u"`
	Jku json.RawMessage `json:"jku"`
	jwk jwk
}

type proofClaims struct {
	Jti   *string  `json:"jti"`
	Htm   *string  `json:"htm"`
	Htu   *string  `json:"htu"`
	Iat   *float64 `json:"iat"`
	Ath   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// parseProof decodes a compact JWS into a proof, checking its structure:
// three base64url segments, JSON objects without duplicate members, the
// header's typ, a jwk that is a public key and no other key reference, no
// crit, and the claims' types. It checks no signature.
func parseProof(s string) (*proof, error) {
	if s == "" {
		return nil, invalid("empty proof")
	}
	if len(s) > MaxProofSize {
		return nil, invalid("proof too large")
	}
	h, rest, ok1 := strings.Cut(s, ".")
	pl, sg, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sg, ".") {
		return nil, invalid("proof is not a compact JWS")
	}
	hb, err1 := b64.DecodeString(h)
	pb, err2 := b64.DecodeString(pl)
	sig, err3 := b64.DecodeString(sg)
	if err1 != nil || err2 != nil || err3 != nil || len(sig) == 0 {
		return nil, invalid("proof is not base64url")
	}
	p := &proof{signing: s[:len(h)+1+len(pl)], sig: sig}
	if err := strictDecode(hb, &p.header); err != nil {
		return nil, invalid("proof header is not a JSON object")
	}
	if err := p.header.check(); err != nil {
		return nil, err
	}
	if err := strictDecode(pb, &p.claims); err != nil {
		return nil, invalid("proof claims are not a JSON object of the right types")
	}
	return p, nil
}

func (h *proofHeader) check() error {
	switch {
	case h.Typ != "dpop+jwt":
		return invalid("typ is not dpop+jwt")
	case h.Crit != nil:
		return invalid("crit is not supported")
	case h.Kid != nil || h.X5c != nil || h.X5u != nil || h.Jku != nil:
		return invalid("the key must be in jwk only")
	case len(h.JWK) == 0 || h.JWK[0] != '{':
		return invalid("jwk missing")
	}
	var members map[string]json.RawMessage
	if err := strictDecode(h.JWK, &members); err != nil {
		return invalid("jwk is not a JSON object")
	}
	for _, m := range privateMembers {
		if _, ok := members[m]; ok {
			return invalid("jwk holds a private key")
		}
	}
	if err := json.Unmarshal(h.JWK, &h.jwk); err != nil {
		return invalid("jwk members of the wrong type")
	}
	return nil
}

// strictDecode unmarshals a JSON object into v after checking that no
// object in it repeats a member name (RFC 7515 §5.2, RFC 8725 §3.11) and
// nothing follows it.
func strictDecode(b []byte, v any) error {
	if err := noDuplicates(b); err != nil {
		return err
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errNotObject
	}
	return json.Unmarshal(b, v)
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const (
	errNotObject = jsonError("not a JSON object")
	errDuplicate = jsonError("duplicate member")
	errSyntax    = jsonError("bad JSON")
)

// noDuplicates walks b's tokens and fails on a repeated member name at any
// depth. Depth is bounded by the input size (MaxProofSize).
func noDuplicates(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		names map[string]bool
		isObj bool
		key   bool // the next token in this object is a member name
	}
	var stack []frame
	for {
		t, err := d.Token()
		if err != nil {
			if len(stack) == 0 && errors.Is(err, io.EOF) {
				return nil
			}
			return errSyntax
		}
		if n := len(stack); n > 0 && stack[n-1].isObj {
			top := &stack[n-1]
			if top.key {
				if name, ok := t.(string); ok {
					if top.names[name] {
						return errDuplicate
					}
					top.names[name] = true
					top.key = false
					continue
				}
			} else {
				top.key = true
			}
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, frame{names: map[string]bool{}, isObj: true, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if d.More() {
					return errSyntax
				}
				if _, err := d.Token(); err == nil {
					return errSyntax
				}
				return nil
			}
		}
	}
}
