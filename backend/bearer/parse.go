package bearer

import (
	"encoding/base64"
	"strings"
)

// segmentEncoding is the only base64 a JWS compact serialisation may use:
// base64url, no padding, no stray bits.
var segmentEncoding = base64.RawURLEncoding.Strict()

func decodeSegment(s string) ([]byte, error) {
	return segmentEncoding.DecodeString(s)
}

// parsed is a token after one pass over its segments: each is
// base64url-decoded once and its JSON read once, by members.
type parsed struct {
	signing string // header "." payload: the signed input
	sig     string // the signature segment, still base64url
	header  header
	claims  claims
}

// header is what Validate reads from the JOSE header.
type header struct {
	alg   string
	algOK bool // alg is present and a string
	kid   kidHeader
}

// kidHeader is the kid header as a key lookup needs it.
type kidHeader struct {
	value    string
	present  bool
	isString bool // RFC 7515 §4.1.4: a kid that is not a string finds no key
}

// parse does what golang-jwt does not, then decodes what Validate needs, in
// this order: the size, the three segments, the header (duplicate members,
// typ, crit) and the payload (duplicate members, ID-token claims, numeric
// dates). golang-jwt accepted numeric strings as dates; those are refused.
func (t *parsed) parse(raw string) error {
	if len(raw) > MaxTokenSize {
		return invalid("token too large")
	}
	if strings.Count(raw, ".") != 2 {
		return invalid("not a signed JWT")
	}
	i := strings.IndexByte(raw, '.')
	j := strings.LastIndexByte(raw, '.')
	h, p := raw[:i], raw[i+1:j]
	t.signing, t.sig = raw[:j], raw[j+1:]

	// One buffer and one string for both segments: names and values are
	// substrings of it.
	buf := make([]byte, segmentEncoding.DecodedLen(len(h))+segmentEncoding.DecodedLen(len(p)))
	nh, err := segmentEncoding.Decode(buf, []byte(h))
	if err != nil {
		return invalid("header is not base64url")
	}
	np, perr := segmentEncoding.Decode(buf[nh:], []byte(p))
	text := string(buf[:nh+np])
	if err := members(text[:nh], t.header.member); err != nil {
		return err
	}
	if perr != nil {
		return invalid("payload is not base64url")
	}
	return members(text[nh:], t.claims.member)
}

// member checks one header member and keeps alg and kid.
func (h *header) member(name, val string) error {
	switch name {
	case "typ":
		if typ, ok := stringValue(val); !ok || !allowedTyp(typ) {
			return invalid("typ is not JWT or at+jwt")
		}
	case "crit":
		// No JWS extension is understood here, so any crit is unknown.
		return invalid("unsupported critical header")
	case "alg":
		h.alg, h.algOK = stringValue(val)
	case "kid":
		h.kid.present = true
		h.kid.value, h.kid.isString = stringValue(val)
	}
	return nil
}

func allowedTyp(typ string) bool {
	t := strings.ToLower(typ)
	return t == "jwt" || t == "at+jwt" || t == "application/at+jwt"
}
