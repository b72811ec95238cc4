package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyrelay/keyrelay/backend/bearer"
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

const (
	iss = "http://127.0.0.1:9999"
	aud = "http://127.0.0.1:5002"
)

var secret = []byte("test-secret-0123456789-abcdefghijklmnop")

type fixture struct {
	srv  *httptest.Server
	logs *testkit.Buffer
}

func newFixture(t *testing.T, extra ...Tool) *fixture {
	t.Helper()
	v, err := bearer.NewHMAC(bearer.Config{Issuer: iss, Audience: aud}, secret)
	testkit.NoErr(t, err)
	return newFixtureDPoP(t, v, nil, extra...)
}

// newFixtureDPoP is newFixture with another Validator and DPoP settings
// d (nil: none).
func newFixtureDPoP(t *testing.T, v Validator, d *bearer.DPoP, extra ...Tool) *fixture {
	t.Helper()
	logs := &testkit.Buffer{}
	s := NewServer(Config{PublicURL: aud + "/", AuthServers: []string{iss}, Validator: v, DPoP: d,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tools := append([]Tool{
		{Name: "echo", InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}`),
			Handler: func(_ context.Context, a map[string]any, u *User) (*Result, error) {
				if u != nil {
					return Text("user:" + u.Subject + ":" + a["message"].(string)), nil
				}
				return Text(a["message"].(string)), nil
			}},
		{Name: "whoami", RequiresAuth: true, InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(_ context.Context, _ map[string]any, u *User) (*Result, error) { return JSON(u) }},
		{Name: "write", Scopes: []string{"notes:write"}, InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) { return Text("ok"), nil }},
		{Name: "fails", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) {
				return nil, errors.New("the database is unreachable")
			}},
		{Name: "panics", InputSchema: json.RawMessage(`{"type":"object"}`),
			Handler: func(context.Context, map[string]any, *User) (*Result, error) { panic("boom") }},
	}, extra...)
	for _, tl := range tools {
		testkit.NoErr(t, s.Register(tl))
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, logs: logs}
}

func token(t *testing.T, mut func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": iss, "aud": aud, "sub": "alice", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j1", "client_id": "relay", "scope": "notes:read"}
	if mut != nil {
		mut(c)
	}
	return testkit.SignJWT(t, jwt.SigningMethodHS256, secret, "JWT", c)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, method, path, ctype, body string, auth ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, a := range auth {
		if p, ok := strings.CutPrefix(a, "DPoP-Proof: "); ok {
			req.Header.Add("DPoP", p)
			continue
		}
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.NoErr(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (f *fixture) call(t *testing.T, name, body string, auth ...string) response {
	t.Helper()
	return f.do(t, "POST", "/mcp/tools/"+name, "application/json", body, auth...)
}

func wantChallenge(t *testing.T, r response, status int, errCode string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	ch := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `resource_metadata="`+aud+`/.well-known/oauth-protected-resource"`) {
		t.Fatalf("bad challenge %q", ch)
	}
	if errCode != "" && !strings.Contains(ch, `error="`+errCode+`"`) {
		t.Fatalf("challenge %q lacks error=%q", ch, errCode)
	}
	if r.body["error"] == nil || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("body is not a JSON error: %s", r.raw)
	}
}

const opaqueToken = "opaque-9c1e77a4b2d04f3e"

// introspectingFixture serves the tools with an Introspector asking a
// loopback endpoint that answers with answer, and DPoP settings d (nil:
// none).
func introspectingFixture(t *testing.T, answer http.HandlerFunc, d *bearer.DPoP) *fixture {
	t.Helper()
	as := httptest.NewServer(answer)
	t.Cleanup(as.Close)
	in, err := bearer.NewIntrospector(bearer.IntrospectionConfig{Issuer: iss, Audience: aud, Endpoint: as.URL,
		ClientID: "backend", ClientSecret: "introspection-secret"})
	testkit.NoErr(t, err)
	return newFixtureDPoP(t, in, d)
}

func activeAnswer(scope string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "iss": iss, "aud": aud, "sub": "alice",
			"exp": time.Now().Add(time.Minute).Unix(), "client_id": "relay", "scope": scope, "jti": "j1"})
	}
}

func TestIntrospectedTokenWithInsufficientScopeIs403(t *testing.T) {
	f := introspectingFixture(t, activeAnswer("notes:read"), nil)
	wantChallenge(t, f.call(t, "write", `{}`, "Bearer "+opaqueToken), 403, "insufficient_scope")
}

func TestIntrospectedTokenWhoamiIsTheSameUserAsJWT(t *testing.T) {
	f := introspectingFixture(t, activeAnswer("notes:read"), nil)
	r := f.call(t, "whoami", `{}`, "Bearer "+opaqueToken)
	jf := newFixture(t)
	j := jf.call(t, "whoami", `{}`, "Bearer "+token(t, nil))
	if r.status != 200 || j.status != 200 {
		t.Fatalf("whoami: %d %s / %d %s", r.status, r.raw, j.status, j.raw)
	}
	// Expiry differs by when each token was minted; compare the rest.
	strip := func(s string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(s), &m)
		var u map[string]any
		_ = json.Unmarshal([]byte(m["content"].([]any)[0].(map[string]any)["text"].(string)), &u)
		delete(u, "expiry")
		delete(u, "Expiry")
		b, _ := json.Marshal(u)
		return string(b)
	}
	if a, b := strip(r.raw), strip(j.raw); a != b || !strings.Contains(a, `"alice"`) {
		t.Fatalf("users differ:\nintrospection %s\njwt           %s", a, b)
	}
}

func TestIntrospectionEndpointDownIs503WithRetryAfter(t *testing.T) {
	f := introspectingFixture(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}, nil)
	r := f.call(t, "whoami", `{}`, "Bearer "+opaqueToken)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if strings.Contains(r.raw, opaqueToken) || strings.Contains(f.logs.String(), opaqueToken) {
		t.Fatal("the token is in the response or the log")
	}
}
