package bearer

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// reasonCase is the one answer Validate may give where the reference did
// not: a payload member whose name folds to a claim Validate reads ("ISS",
// "ſub") used to be decoded as that claim by encoding/json.
const reasonCase = "claim name in the wrong case"

// sameAsReference fails t unless v and ref give the same Token, or the same
// reason, for tok.
func sameAsReference(t *testing.T, v *Validator, ref *refValidator, tok string) {
	t.Helper()
	got, gerr := v.Validate(bg, tok)
	want, werr := ref.Validate(bg, tok)
	if reasonOf(gerr) == reasonCase {
		return
	}
	if reasonOf(gerr) != reasonOf(werr) || (gerr == nil) != (werr == nil) {
		t.Fatalf("token %q:\n got  %v\n want %v", tok, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("token %q:\n got  %+v\n want %+v", tok, got, want)
	}
}

func reasonOf(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

type refPair struct {
	v   *Validator
	ref *refValidator
}

func refPairs(t testing.TB) (hmacPair, keySetPair refPair) {
	hv, kv := hmacValidator(t), keySetValidator(t)
	return refPair{hv, refFor(t, hv, nil)}, refPair{kv, refFor(t, kv, jwks(t))}
}

// referenceHeaders and referencePayloads are JSON texts that probe the
// parser: odd types, escapes, case variants, duplicates, whitespace,
// numbers at the edge of float64, and broken JSON.
var referenceHeaders = []string{
	`{"alg":"HS256","typ":"at+jwt"}`,
	`{"alg":"ES256","kid":"ec"}`,
	`{"alg":"ES256"}`,
	`{"alg":"EdDSA","kid":"ed","typ":"JWT"}`,
	`{"alg":"RS256","kid":"rsa","typ":"application/at+jwt"}`,
	`{"alg":"HS256","kid":null}`,
	`{"alg":"ES256","kid":null}`,
	`{"alg":"ES256","kid":5}`,
	`{"alg":"ES256","kid":"e\u0063"}`,
	`{"\u0061lg":"HS256"}`,
	`{"alg":"HS\u00325\u0036"}`,
	`{"alg":"HS256","\u0061lg":"HS256"}`,
	`{"alg":null}`,
	`{"alg":5}`,
	`{"alg":"none"}`,
	`{"alg":"HS512"}`,
	`{"alg":"ES384","kid":"ec"}`,
	`{"alg":"PS256","kid":"rsa"}`,
	`{"alg":"RS256","kid":"ec"}`,
	`{"ALG":"HS256"}`,
	`{"alg":"HS256","typ":null}`,
	`{"alg":"HS256","typ":"AT+JWT"}`,
	`{"alg":"HS256","typ":"at+jw\u0074"}`,
	`{"alg":"HS256","typ":"applİcation/at+jwt"}`,
	`{"alg":"HS256","typ":["JWT"]}`,
	`{"alg":"HS256","crit":null}`,
	`{"alg":"HS256","Crit":["b64"],"TYP":"x"}`,
	` {"alg":"HS256"} `,
	"\t{\n\"alg\"\r:\"HS256\"}\n",
	`{"alg":"HS256"}{}`,
	`{"alg":"HS256"}x`,
	`{"alg":"HS256",}`,
	`{"alg":"HS256" "typ":"JWT"}`,
	`{"alg":"HS256","x":01}`,
	`{"alg":"HS256","x":1.}`,
	`{"alg":"HS256","x":-}`,
	`{"alg":"HS256","x":1e}`,
	`{"alg":"HS256","x":1E+5}`,
	`{"alg":"HS256","x":tru}`,
	`{"alg":"HS256","x":truex}`,
	`{"alg":"HS256","x":[1,2,]}`,
	`{"alg":"HS256","x":{"a":1,"a":2}}`,
	`{"alg":"HS256","x":"\x01"}`,
	`{"alg":"HS256","x":"\ud800"}`,
	`{"alg":"HS256","x":"\q"}`,
	"{\"alg\":\"HS256\",\"x\xff\":1,\"x\xfe\":2}",
	"{\"alg\":\"HS256\",\"x\":\"\xff\"}",
	`{"alg":"HS256","kid":"` + strings.Repeat("k", 300) + `"}`,
	`{`, `}`, `[]`, `"x"`, `null`, ``, ` `, `{1:2}`, `{"a"}`, `{"a":}`,
}

var referencePayloads = []string{
	`{"iss":"https://issuer.example","sub":"alice","aud":"http://127.0.0.1:5002","exp":1795609200,"iat":1795608000,"nbf":1795608000,"jti":"jti-1","client_id":"relay","scope":"notes:read notes:write"}`,
	`{"iss":"https://issuer.example","aud":["x","http://127.0.0.1:5002"],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":["x","http://127.0.0.1:5002"],"exp":1795609200.999,"iat":1795608000.5}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"scp":["a","b"]}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"scp":"a b"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"scp":5}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"scp":null,"scope":""}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"azp":"relay","client_id":null}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"sub":5}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"sub":null}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"jti":{}}`,
	`{"iss":null,"aud":"http://127.0.0.1:5002","exp":1795609200}`,
	`{"iss":"https:\/\/issuer.example","aud":"http:\/\/127.0.0.1:5002","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":null,"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":[],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":[""],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":["",""],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":[null],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":["http://127.0.0.1:5002",5],"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":5,"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":{},"exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1e400}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1e300}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":-1e300}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1e-400}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":-0}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":"1795609200"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":null}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":true}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"iat":1795700000}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"nbf":1795700000}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795000000}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1895695600}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1895695600,"nbf":1795608000}`,
	`{"iss":"x","aud":"y","exp":1795000000,"nbf":1795700000}`,
	`{"iss":"x","aud":"y"}`,
	`{"iss":"x","aud":"http://127.0.0.1:5002","exp":1795609200}`,
	`{"iss":"x","aud":"y","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"y","exp":1795609200,"iat":1795608000}`,
	`{"aud":"y","exp":1795609200}`,
	`{"iss":"x","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"nonce":"n"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"Nonce":"n"}`,
	`{"iss":5,"nonce":"n"}`,
	`{"iss":5,"exp":"1"}`,
	`{"iss":"https://issuer.example","iss":"https://issuer.example"}`,
	`{"iss":"https://issuer.example","\u0069ss":"x"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"ISS":"x"}`,
	`{"ISS":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","EXP":"1795609200"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"ſub":"x"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"client?id":"x","sub_":1,"su":1,"i":1}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"x":{"y":[1,{"z":null}]},"e":[]}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"sub":"\u00e9\ud83d\ude00","jti":"\xff\xfe"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"sub":"é"}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"scope":"a\tb\u00a0c"}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"a":19}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"deep":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"deep":` + strings.Repeat(`{"a":[`, 600) + strings.Repeat("]}", 600) + `}`,
	`{"iss":"https://issuer.example","aud":"http://127.0.0.1:5002","exp":1795609200,"deep":` + strings.Repeat(`[{"a":`, 600) + strings.Repeat("]}", 600) + `}`,
	`{"deep":` + strings.Repeat("[", 2000) + strings.Repeat("]", 1999) + `}`,
	`{"x":[1,[2,{"y":[]}],{}],"z":[{"a":{"b":[true,false,null,"s",-1.5e3]}}],"exp":1}`,
	`{"x":[1,[2,{"y":[]}],{}}],"exp":1}`,
	`{"x":{"a":1,},"exp":1}`,
	`{"x":{"a" 1},"exp":1}`,
	`{"x":[,1],"exp":1}`,
	`{}`, `[]`, `{"exp":1}x`, `{"exp":1} `, `{"exp":01}`, `{"exp":-}`, `{"exp":1.5e}`,
}

func TestValidateMatchesReference(t *testing.T) {
	hp, kp := refPairs(t)
	k := getKeys(t)
	outcomes := map[string]int{}
	for _, h := range referenceHeaders {
		for _, p := range referencePayloads {
			signing := b64([]byte(h)) + "." + b64([]byte(p))
			for _, tok := range []string{
				rawJWT(t, h, p, jwt.SigningMethodHS256, testSecret),
				rawJWT(t, h, p, jwt.SigningMethodES256, k.ec),
				rawJWT(t, h, p, jwt.SigningMethodEdDSA, k.ed),
				signing + ".", signing + ".!!", signing + ".AAAA", signing + "==.x",
			} {
				sameAsReference(t, hp.v, hp.ref, tok)
				sameAsReference(t, kp.v, kp.ref, tok)
				_, err := kp.v.Validate(bg, tok)
				if _, err2 := hp.v.Validate(bg, tok); err2 == nil {
					err = nil
				}
				outcomes[reasonOf(err)]++
			}
		}
	}
	// The table must reach every stage, acceptance included.
	for _, r := range []string{"", reasonMalformed, reasonSignature, reasonNoKey, reasonExpired, reasonEarly,
		reasonMissing, reasonIssuer, reasonAudience, reasonLifetime, reasonCase} {
		if outcomes[r] == 0 {
			t.Errorf("no token in the table ends with %q", r)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// FuzzValidateMatchesReference signs fuzzed header and payload JSON, so
// that the fuzzer reaches the claim checks, and holds Validate to the
// answers of the reference validator.
func FuzzValidateMatchesReference(f *testing.F) {
	for i, h := range referenceHeaders {
		f.Add(h, referencePayloads[i%len(referencePayloads)], uint8(i))
	}
	for i, p := range referencePayloads {
		f.Add(referenceHeaders[i%4], p, uint8(i))
	}
	hp, kp := refPairs(f)
	k := getKeys(f)
	f.Fuzz(func(t *testing.T, h, p string, mode uint8) {
		var tok string
		switch mode % 4 {
		case 0:
			tok = rawJWT(t, h, p, jwt.SigningMethodHS256, testSecret)
		case 1:
			tok = rawJWT(t, h, p, jwt.SigningMethodES256, k.ec)
		case 2:
			tok = rawJWT(t, h, p, jwt.SigningMethodEdDSA, k.ed)
		default:
			tok = h + "." + p // raw: structure and base64
		}
		sameAsReference(t, hp.v, hp.ref, tok)
		sameAsReference(t, kp.v, kp.ref, tok)
	})
}
