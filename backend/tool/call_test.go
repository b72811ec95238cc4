package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestListTools(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "GET", "/mcp/tools", "", "")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	var got struct {
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
			Meta        struct {
				RequiresAuth *bool    `json:"requiresAuth"`
				Scopes       []string `json:"scopes"`
			} `json:"_meta"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil || len(got.Tools) != 5 {
		t.Fatalf("bad listing %s", r.raw)
	}
	w := got.Tools[2]
	if w.Name != "write" || w.Meta.RequiresAuth == nil || !*w.Meta.RequiresAuth || w.Meta.Scopes[0] != "notes:write" {
		t.Fatalf("scoped tool listed wrong: %+v", w)
	}
	if e := got.Tools[0]; *e.Meta.RequiresAuth || e.Meta.Scopes == nil || !strings.Contains(string(e.InputSchema), `"object"`) {
		t.Fatalf("public tool listed wrong: %+v", e)
	}
	// A bad token does not break the public listing.
	if r := f.do(t, "GET", "/mcp/tools", "", "", "Bearer junk"); r.status != 200 {
		t.Fatalf("listing with a bad token: %d", r.status)
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	r := newFixture(t).do(t, "GET", "/.well-known/oauth-protected-resource", "", "")
	if r.status != 200 || r.body["resource"] != aud {
		t.Fatalf("bad metadata: %s", r.raw)
	}
	testkit.Contains(t, "metadata lacks fields", r.raw, `"authorization_servers":["`+iss+`"]`, `"bearer_methods_supported":["header"]`, `"notes:write"`)
}

func TestPublicToolWithoutToken(t *testing.T) {
	r := newFixture(t).call(t, "echo", `{"arguments":{"message":"hi"}}`)
	if r.status != 200 || r.body["isError"] != false || !strings.Contains(r.raw, `"text":"hi"`) {
		t.Fatalf("echo: %d %s", r.status, r.raw)
	}
}

func TestPublicToolAcceptsToken(t *testing.T) {
	r := newFixture(t).call(t, "echo", `{"arguments":{"message":"hi"}}`, "Bearer "+token(t, nil))
	if r.status != 200 || !strings.Contains(r.raw, "user:alice:hi") {
		t.Fatalf("echo with token: %d %s", r.status, r.raw)
	}
}

func TestB1_NoTokenOnAuthTool(t *testing.T) {
	f := newFixture(t)
	wantChallenge(t, f.call(t, "whoami", `{}`), 401, "")
	ok := f.call(t, "whoami", `{}`, "Bearer "+token(t, nil))
	if ok.status != 200 || !strings.Contains(ok.raw, "alice") {
		t.Fatalf("valid token refused: %d %s", ok.status, ok.raw)
	}
}

func TestB2_MalformedAuthorizationOverHTTP(t *testing.T) {
	f := newFixture(t)
	good := token(t, nil)
	for name, hdrs := range map[string][]string{
		"basic":       {"Basic YWxpY2U6cHc="},
		"empty":       {"Bearer "},
		"two parts":   {"Bearer a b"},
		"two headers": {"Bearer " + good, "Bearer " + good},
	} {
		t.Run(name, func(t *testing.T) { wantChallenge(t, f.call(t, "whoami", `{}`, hdrs...), 401, "invalid_token") })
	}
	if r := f.call(t, "whoami", `{}`, "bearer "+good); r.status != 200 {
		t.Fatalf("lowercase scheme refused: %d", r.status)
	}
}

func TestB3_TokenInQueryOrBodyIgnored(t *testing.T) {
	f := newFixture(t)
	good := token(t, nil)
	wantChallenge(t, f.do(t, "POST", "/mcp/tools/whoami?access_token="+good, "application/json", `{}`), 401, "")
	wantChallenge(t, f.call(t, "whoami", `{"access_token":"`+good+`","arguments":{}}`), 401, "")
}

func TestB4_OversizedTokenOverHTTP(t *testing.T) {
	wantChallenge(t, newFixture(t).call(t, "whoami", `{}`, "Bearer "+strings.Repeat("a", 9000)), 401, "invalid_token")
}

func TestB21_MissingScope(t *testing.T) {
	f := newFixture(t)
	r := f.call(t, "write", `{}`, "Bearer "+token(t, nil))
	wantChallenge(t, r, 403, "insufficient_scope")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="notes:write"`) {
		t.Fatalf("challenge lacks scope: %q", r.header.Get("WWW-Authenticate"))
	}
	ok := f.call(t, "write", `{}`, "Bearer "+token(t, func(c jwt.MapClaims) { c["scope"] = "notes:read notes:write" }))
	if ok.status != 200 {
		t.Fatalf("scoped call refused: %d %s", ok.status, ok.raw)
	}
}

func TestBadTokenOnPublicToolIsRefused(t *testing.T) {
	r := newFixture(t).call(t, "echo", `{"arguments":{"message":"x"}}`, "Bearer "+token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	wantChallenge(t, r, 401, "invalid_token")
}

func TestB26_NoTokenInResponsesOrLogs(t *testing.T) {
	f := newFixture(t)
	expired := token(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	good := token(t, nil)
	var all strings.Builder
	for _, r := range []response{
		f.call(t, "whoami", `{}`, "Bearer "+expired),
		f.call(t, "whoami", `{}`, "Bearer "+expired+"x"),
		f.call(t, "write", `{}`, "Bearer "+good),
		f.call(t, "whoami", `{}`, "Bearer "+good),
		f.call(t, "nope", `{}`, "Bearer "+good),
		f.call(t, "echo", `{"arguments":{}}`, "Bearer "+good),
	} {
		all.WriteString(r.raw)
		all.WriteString(r.header.Get("WWW-Authenticate"))
	}
	all.WriteString(f.logs.String())
	for _, tok := range []string{good, expired} {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(all.String(), part) {
				t.Fatalf("token material found in responses or logs")
			}
		}
	}
	testkit.Contains(t, "logs lack identifiers", f.logs.String(), "sub=alice", "request_id=")
}

func TestB27_HandlerNeverSeesRawToken(t *testing.T) {
	// The handler gets a User holding claims; no field of it, and nothing
	// in its context, carries the raw token, so a tool cannot forward it.
	var seen *User
	var ctxTok any
	spy := Tool{Name: "spy", RequiresAuth: true, InputSchema: json.RawMessage(`{"type":"object"}`),
		Handler: func(ctx context.Context, _ map[string]any, u *User) (*Result, error) {
			seen, ctxTok = u, ctx.Value("token")
			return Text("ok"), nil
		}}
	good := token(t, nil)
	r := newFixture(t, spy).call(t, "spy", `{}`, "Bearer "+good)
	if r.status != 200 || seen == nil || ctxTok != nil {
		t.Fatalf("spy: %d %s", r.status, r.raw)
	}
	v := reflect.ValueOf(*seen)
	for i := 0; i < v.NumField(); i++ {
		if s := fmt.Sprint(v.Field(i).Interface()); strings.Contains(s, strings.Split(good, ".")[2]) {
			t.Fatalf("User.%s holds token material", v.Type().Field(i).Name)
		}
	}
	if seen.Subject != "alice" || seen.TokenID != "j1" {
		t.Fatalf("claims not passed: %+v", seen)
	}
}

func TestCallErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, tool, ctype, body string
		status                  int
		descPart                string
	}{
		{"unknown tool", "nope", "application/json", `{}`, 404, "unknown tool"},
		{"missing required", "echo", "application/json", `{"arguments":{}}`, 400, `"message"`},
		{"wrong type", "echo", "application/json", `{"arguments":{"message":5}}`, 400, `"message"`},
		{"text/plain", "echo", "text/plain", `{"arguments":{"message":"x"}}`, 400, "content type"},
		{"no content type", "echo", "", `{"arguments":{"message":"x"}}`, 400, "content type"},
		{"malformed", "echo", "application/json", `{"arguments":`, 400, "JSON"},
		{"trailing", "echo", "application/json", `{"arguments":{"message":"x"}} {}`, 400, "trailing"},
		{"arguments array", "echo", "application/json", `{"arguments":["x"]}`, 400, "object"},
		{"body array", "echo", "application/json", `[1]`, 400, "JSON"},
		{"too large", "echo", "application/json", `{"arguments":{"message":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, "1 MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(t, "POST", "/mcp/tools/"+c.tool, c.ctype, c.body)
			desc, _ := r.body["error_description"].(string)
			if r.status != c.status || !strings.Contains(desc, c.descPart) {
				t.Fatalf("got %d %s, want %d with %q", r.status, r.raw, c.status, c.descPart)
			}
		})
	}
	if r := f.do(t, "GET", "/mcp/tools/echo", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET on a tool: %d", r.status)
	}
	if r := f.do(t, "POST", "/mcp/tools/echo", "application/json; charset=utf-8", `{"arguments":{"message":"x"}}`); r.status != 200 {
		t.Fatalf("charset parameter refused: %d", r.status)
	}
}

func TestToolFailureIsErrorResult(t *testing.T) {
	f := newFixture(t)
	r := f.call(t, "fails", `{}`)
	if r.status != 200 || r.body["isError"] != true || !strings.Contains(r.raw, "database is unreachable") {
		t.Fatalf("tool failure: %d %s", r.status, r.raw)
	}
	p := f.call(t, "panics", `{}`)
	if p.status != 500 || p.body["error"] != "server_error" {
		t.Fatalf("panic: %d %s", p.status, p.raw)
	}
	if r := f.call(t, "echo", `{"arguments":{"message":"still up"}}`); r.status != 200 {
		t.Fatalf("server down after a panic: %d", r.status)
	}
}

func TestRegisterRefusesBadTools(t *testing.T) {
	s := NewServer(Config{PublicURL: aud})
	ok := Tool{Name: "a", InputSchema: json.RawMessage(`{"type":"object"}`), Handler: echoHandler}
	testkit.NoErr(t, s.Register(ok))
	bad := []Tool{
		ok, // duplicate
		{Name: "has space", InputSchema: ok.InputSchema, Handler: echoHandler},
		{Name: "", InputSchema: ok.InputSchema, Handler: echoHandler},
		{Name: "b", InputSchema: ok.InputSchema},
		{Name: "c", InputSchema: json.RawMessage(`{"type":"string"}`), Handler: echoHandler},
		{Name: "d", InputSchema: json.RawMessage(`{"type":"object","oneOf":[]}`), Handler: echoHandler},
		{Name: "e", InputSchema: json.RawMessage(`{"type":"object","properties":{"x":{"$ref":"#"}}}`), Handler: echoHandler},
		{Name: "f", InputSchema: json.RawMessage(`not json`), Handler: echoHandler},
		{Name: "g", InputSchema: json.RawMessage(`{"type":"object","properties":{"x":{"pattern":"("}}}`), Handler: echoHandler},
	}
	for _, b := range bad {
		if err := s.Register(b); err == nil {
			t.Errorf("registered bad tool %q", b.Name)
		}
	}
}

// FuzzCallBody feeds arbitrary bodies to the tool-call decoder: it must
// answer 200 only for arguments that pass the schema, and 400 or 413
// otherwise, without panicking.
func FuzzCallBody(f *testing.F) {
	for _, s := range []string{`{"arguments":{"message":"hi"}}`, `{}`, `{"arguments":null}`, `{"arguments":[1]}`, `{"arguments":{"message":5}}`, `[`, `{"arguments":{"message":"x","n":1e999}}`} {
		f.Add(s)
	}
	sc, err := compileSchema(json.RawMessage(`{"type":"object","properties":{"message":{"type":"string","maxLength":50},"n":{"type":"integer"}},"required":["message"]}`))
	testkit.NoErr(f, err)
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/mcp/tools/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		args, herr := decodeArgs(w, r, sc)
		if herr != nil {
			if herr.status != http.StatusBadRequest && herr.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", herr.status)
			}
			return
		}
		if _, ok := args["message"].(string); !ok {
			t.Fatalf("accepted arguments without a string message: %q", body)
		}
	})
}

func echoHandler(context.Context, map[string]any, *User) (*Result, error) { return Text(""), nil }

func TestSchemaValidation(t *testing.T) {
	sc, err := compileSchema(json.RawMessage(`{
		"type":"object",
		"properties":{
			"name":{"type":"string","minLength":2,"maxLength":5,"pattern":"^[a-z]+$"},
			"n":{"type":"integer","minimum":1,"maximum":10},
			"kind":{"enum":["a","b"]},
			"tags":{"type":"array","items":{"type":"string"},"maxItems":2},
			"opt":{"type":["string","null"]},
			"inner":{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"],"additionalProperties":false}
		},
		"required":["name"],
		"additionalProperties":false}`))
	testkit.NoErr(t, err)
	cases := []struct {
		args  string
		field string // "" = valid
	}{
		{`{"name":"abc"}`, ""},
		{`{"name":"abc","n":3,"kind":"a","tags":["x"],"opt":null,"inner":{"x":true}}`, ""},
		{`{}`, "name"},
		{`{"name":"a"}`, "name"},
		{`{"name":"abcdef"}`, "name"},
		{`{"name":"AB"}`, "name"},
		{`{"name":"abc","n":1.5}`, "n"},
		{`{"name":"abc","n":11}`, "n"},
		{`{"name":"abc","kind":"c"}`, "kind"},
		{`{"name":"abc","tags":["x",1]}`, "tags[1]"},
		{`{"name":"abc","tags":["x","y","z"]}`, "tags"},
		{`{"name":"abc","opt":5}`, "opt"},
		{`{"name":"abc","inner":{}}`, "inner.x"},
		{`{"name":"abc","inner":{"x":true,"y":1}}`, "inner.y"},
		{`{"name":"abc","extra":1}`, "extra"},
	}
	for _, c := range cases {
		var args map[string]any
		testkit.NoErr(t, json.Unmarshal([]byte(c.args), &args))
		err := sc.validate(args, "")
		var ae *ArgError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: unexpected %v", c.args, err)
		case c.field != "" && (!errors.As(err, &ae) || ae.Field != c.field):
			t.Errorf("%s: got %v, want field %q", c.args, err, c.field)
		}
	}
}
