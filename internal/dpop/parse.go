package dpop

import (
	"bytes"
	"crypto"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// MaxProofSize is the largest proof read; anything longer is refused
// before decoding. An RSA-8192 proof is under 4 KiB.
const MaxProofSize = 8 << 10

// proof is a decoded, not yet verified, DPoP proof.
type proof struct {
	header  *header
	claims  proofClaims
	signing string // header.payload, as signed
	sig     []byte
}

// header is a proof's JOSE header once checked: its alg (one of Algs),
// the public key of its jwk, checked for the alg, and the key's RFC 7638
// thumbprint. It depends on the header's bytes alone, so a Verifier keeps
// the headers it has seen (headerCache): a client sends the same header
// with every proof of its key.
type header struct {
	alg string
	pub crypto.PublicKey
	jkt string
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
// header (parseHeader) and the claims' types. It checks no signature.
func parseProof(s string) (*proof, error) { return parseProofWith(s, parseHeader) }

// parseProofWith is parseProof with the header checked by headerOf: a
// Verifier's cache, or parseHeader itself.
func parseProofWith(s string, headerOf func(string) (*header, error)) (*proof, error) {
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
	hd, err := headerOf(h)
	if err != nil {
		return nil, err
	}
	pb, err1 := b64.DecodeString(pl)
	sig, err2 := b64.DecodeString(sg)
	if err1 != nil || err2 != nil || len(sig) == 0 {
		return nil, invalid("proof is not base64url")
	}
	p := &proof{header: hd, signing: s[:len(h)+1+len(pl)], sig: sig}
	if err := strictDecode(pb, &p.claims); err != nil {
		return nil, invalid("proof claims are not a JSON object of the right types")
	}
	return p, nil
}

// parseHeader decodes and checks a proof's header segment: a JSON object
// without duplicate members, typ dpop+jwt, an alg of Algs, no crit, a jwk
// that is a public key of that alg and no other key reference.
func parseHeader(seg string) (*header, error) {
	hb, err := b64.DecodeString(seg)
	if err != nil {
		return nil, invalid("proof is not base64url")
	}
	var h proofHeader
	if err := strictDecode(hb, &h); err != nil {
		return nil, invalid("proof header is not a JSON object")
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	if !slices.Contains(Algs, h.Alg) {
		return nil, invalid("alg not allowed")
	}
	pub, err := h.jwk.key(h.Alg)
	if err != nil {
		return nil, err
	}
	return &header{alg: h.Alg, pub: pub, jkt: h.jwk.thumbprint()}, nil
}

// maxHeaders bounds a headerCache: at most this many headers (each under
// MaxProofSize) are kept, and all are dropped when it is full.
const maxHeaders = 512

// headerCache keeps the checked headers a Verifier has seen, by their
// encoded segment: a header seen before costs a map lookup, not its
// decoding, its key's and its thumbprint. Only headers that passed every
// check are kept; the signature is checked on every proof regardless.
type headerCache struct {
	mu sync.Mutex
	m  map[string]*header
}

func (c *headerCache) get(seg string) (*header, error) {
	c.mu.Lock()
	h := c.m[seg]
	c.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := parseHeader(seg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxHeaders {
		c.m = make(map[string]*header)
	}
	c.m[seg] = h
	return h, nil
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
	var j struct {
		jwk
		// The members of a private or symmetric key (RFC 7518 §6.2.2,
		// §6.3.2, §6.4; RFC 8037 §2): refused if present at all.
		D, P, Q, DP, DQ, QI, Oth, K json.RawMessage
	}
	if err := json.Unmarshal(h.JWK, &j); err != nil {
		return invalid("jwk members of the wrong type")
	}
	if j.D != nil || j.P != nil || j.Q != nil || j.DP != nil || j.DQ != nil || j.QI != nil || j.Oth != nil || j.K != nil {
		return invalid("jwk holds a private key")
	}
	h.jwk = j.jwk
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
	errName      = jsonError("member name not plain ASCII")
)

// maxDepth bounds the nesting noDuplicates follows; a proof has two levels.
const maxDepth = 16

// noDuplicates scans b and fails on a member name that an object repeats,
// compared as encoding/json matches names to fields: without regard to
// ASCII case ("typ" and "TYP" would both set typ). A name with an escape
// or a byte outside printable ASCII is refused, so that no Unicode folding
// (the Kelvin sign, the long s) can make two names one. It checks only
// what json.Unmarshal, run afterwards, does not: the syntax is left to it,
// and anything noDuplicates cannot follow is an error.
func noDuplicates(b []byte) error {
	type frame struct {
		obj   bool
		names []string
		key   bool // an object expects a member name next
	}
	var stack []frame
	for i := 0; i < len(b); i++ {
		c := b[i]
		var top *frame
		if n := len(stack); n > 0 {
			top = &stack[n-1]
		}
		switch c {
		case ' ', '\t', '\r', '\n', ':':
		case '{', '[':
			if top != nil {
				top.key = false
			}
			if len(stack) == maxDepth {
				return errSyntax
			}
			stack = append(stack, frame{obj: c == '{', key: c == '{'})
		case '}', ']':
			if top == nil {
				return errSyntax
			}
			stack = stack[:len(stack)-1]
		case ',':
			if top != nil && top.obj {
				top.key = true
			}
		case '"':
			end := i + 1
			for end < len(b) && b[end] != '"' {
				if b[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(b) {
				return errSyntax
			}
			if top != nil && top.obj && top.key {
				name := string(b[i+1 : end])
				for j := 0; j < len(name); j++ {
					if name[j] < 0x20 || name[j] > 0x7e || name[j] == '\\' {
						return errName
					}
				}
				for _, seen := range top.names {
					if strings.EqualFold(seen, name) {
						return errDuplicate
					}
				}
				top.names = append(top.names, name)
				top.key = false
			}
			i = end
		default:
			if top != nil {
				top.key = false
			}
		}
	}
	if len(stack) != 0 {
		return errSyntax
	}
	return nil
}
