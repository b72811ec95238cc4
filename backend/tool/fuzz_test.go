package tool

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

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
