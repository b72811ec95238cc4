package login

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/vault"
)

// TestRegistrationRefusedNamesTheWayOut: when the authorization server
// refuses the dynamic registration (here as the built-in server does when
// every registration it has room for is in use), the relay says that
// the server refused it and names RELAY_CLIENT_ID as the way out, in the
// error and in the text the person sees (issue 14, F2: it said only
// "dynamic client registration: oauth: authorization server returned
// temporarily_unavailable: too many registered clients").
func TestRegistrationRefusedNamesTheWayOut(t *testing.T) {
	user, err := authserver.NewUser("alice", "fake-password-for-tests")
	testkit.NoErr(t, err)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{Issuer: issuer, Users: []authserver.User{user}})
	testkit.NoErr(t, err)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/register" {
			as.Handler().ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable","error_description":"too many registered clients"}`)
	})
	srv.Start()
	defer srv.Close()
	v, err := vault.Open(context.Background(), vault.Options{Dir: t.TempDir(), Keychain: vault.NewMemKeychain()})
	testkit.NoErr(t, err)

	err = (&Interactive{Issuer: issuer, Registry: v}).Prepare(context.Background())
	if err == nil {
		t.Fatal("a refused registration was not an error")
	}
	shown := err.Error()
	var texter interface{ UserText() string }
	if errors.As(err, &texter) {
		shown = texter.UserText()
	}
	for name, text := range map[string]string{"error": err.Error(), "text shown": shown} {
		for _, want := range []string{"refused to register", "too many registered clients", "RELAY_CLIENT_ID", `"relay"`} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q: %s", name, want, text)
			}
		}
	}
}
