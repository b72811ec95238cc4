package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// stack is the project's authorization server, its issuer at the server's
// URL plus path, and the example backend, wired as in production: the
// backend names the server in its protected resource metadata and accepts
// its tokens. The server also issues 5-minute tokens for itResource, has
// these pre-registered clients (nil: authserver.DefaultClients), and runs
// on the stack's fake clock.
type stack struct {
	issuer, backend string
	clock           *testkit.StepClock // shared by the servers and the client
}

func startStack(t *testing.T, path string, clients []authserver.Client) *stack {
	t.Helper()
	st := &stack{clock: testkit.NewStepClock(time.Now())}
	var h atomic.Value
	asSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().(http.Handler).ServeHTTP(w, r) }))
	t.Cleanup(asSrv.Close)
	beSrv := httptest.NewUnstartedServer(nil)
	st.issuer, st.backend = asSrv.URL+path, "http://"+beSrv.Listener.Addr().String()
	as, err := authserver.New(authserver.Config{Issuer: st.issuer, Resources: []string{st.backend, itResource}, Users: []authserver.User{testUser(t)},
		TokenTTL: 5 * time.Minute, Clients: clients, Now: st.clock.Now})
	testkit.NoErr(t, err)
	h.Store(as.Handler())
	v, err := bearer.NewStaticKeySet(bearer.Config{Issuer: st.issuer, Audience: st.backend, Now: st.clock.Now}, as.JWKS())
	testkit.NoErr(t, err)
	ts := tool.NewServer(tool.Config{PublicURL: st.backend, AuthServers: []string{st.issuer}, Validator: v})
	testkit.NoErr(t, example.Register(ts, example.NewMemoryStore(), nil))
	beSrv.Config.Handler = ts.Handler()
	beSrv.Start()
	t.Cleanup(beSrv.Close)
	return st
}

// metadata is the stack's authorization server metadata.
func (st *stack) metadata(t *testing.T) *oauth.Metadata {
	t.Helper()
	md, err := oauth.Discover(context.Background(), nil, st.issuer)
	testkit.NoErr(t, err, "Discover")
	return md
}

var reResourceMetadata = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// TestIntegrationDiscoverResourceFromBackend: the real backend's 401
// challenge leads to its RFC 9728 document, which names the real
// authorization server, whose metadata Discover accepts.
func TestIntegrationDiscoverResourceFromBackend(t *testing.T) {
	st := startStack(t, "", nil)
	ctx := context.Background()
	resp, _ := testkit.PostTool(t, st.backend, "whoami", "{}", "")
	m := reResourceMetadata.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != 401 || m == nil {
		t.Fatalf("whoami without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for name, challenge := range map[string]string{"from the challenge": m[1], "well-known": ""} {
		t.Run(name, func(t *testing.T) {
			rm, err := oauth.DiscoverResource(ctx, nil, st.backend, challenge)
			testkit.NoErr(t, err)
			as, err := rm.AuthorizationServer()
			if err != nil || as != st.issuer || rm.Resource != st.backend || !slices.Contains(rm.ScopesSupported, "notes:read") ||
				!slices.Equal(rm.BearerMethodsSupported, []string{"header"}) {
				t.Fatalf("%+v %q %v", rm, as, err)
			}
			md, err := oauth.Discover(ctx, nil, as)
			if err != nil || md.RegistrationEndpoint == "" || md.DeviceAuthorizationEndpoint == "" {
				t.Fatalf("Discover: %v %+v", err, md)
			}
		})
	}
	t.Run("trailing slash on the backend URL", func(t *testing.T) {
		if _, err := oauth.DiscoverResource(ctx, nil, st.backend+"/", ""); err != nil {
			t.Fatalf("an origin with and without / is one resource: %v", err)
		}
	})
	t.Run("another resource path", func(t *testing.T) {
		// The document is only at the root, which is built from the
		// origin: it may name the origin (RFC 9728 §3.3).
		rm, err := oauth.DiscoverResource(ctx, nil, st.backend+"/mcp", "")
		if err != nil || rm.Resource != st.backend {
			t.Fatalf("the backend's root document for %s/mcp: %+v %v", st.backend, rm, err)
		}
	})
	t.Run("another resource path, the root URL named by a challenge", func(t *testing.T) {
		rm, err := oauth.DiscoverResource(ctx, nil, st.backend+"/mcp", st.backend+"/.well-known/oauth-protected-resource")
		if err != nil || rm.Resource != st.backend {
			t.Fatalf("%+v %v", rm, err)
		}
	})
}

// deviceDriver runs DeviceLogin.Wait in a goroutine whose sleeps the test
// releases one by one, advancing the shared fake clock.
type deviceDriver struct {
	t      *testing.T
	asked  chan time.Duration
	resume chan struct{}
	done   chan waited
}

func driveDevice(t *testing.T, dl *oauth.DeviceLogin) *deviceDriver {
	dd := &deviceDriver{t: t, asked: make(chan time.Duration), resume: make(chan struct{}), done: make(chan waited, 1)}
	dl.Sleep = func(ctx context.Context, d time.Duration) error {
		select {
		case dd.asked <- d:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-dd.resume:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	go func() {
		tok, err := dl.Wait(ctx)
		dd.done <- waited{tok, err}
	}()
	return dd
}

// sleep returns the duration Wait wants to sleep next.
func (dd *deviceDriver) sleep() time.Duration {
	dd.t.Helper()
	select {
	case d := <-dd.asked:
		return d
	case w := <-dd.done:
		dd.t.Fatalf("Wait returned early: %v", w.err)
	case <-time.After(20 * time.Second):
		dd.t.Fatal("Wait did not sleep")
	}
	return 0
}

// poll lets one poll happen after advancing the clock by d.
func (dd *deviceDriver) poll(clock *testkit.StepClock, d time.Duration) {
	clock.Advance(d)
	dd.resume <- struct{}{}
}

func (dd *deviceDriver) result() waited {
	dd.t.Helper()
	select {
	case w := <-dd.done:
		return w
	case <-time.After(20 * time.Second):
		dd.t.Fatal("Wait did not return")
		return waited{}
	}
}

// approveDevice is the person's browser: the verification page with the
// code filled in, the login, then the consent.
func approveDevice(t *testing.T, dl *oauth.DeviceLogin, action string) (*http.Response, string) {
	t.Helper()
	b := newBrowser(t)
	page, body := b.get(dl.VerificationURIComplete)
	if page.StatusCode != 200 || !strings.Contains(body, `value="`+dl.UserCode+`"`) {
		t.Fatalf("device page: status %d", page.StatusCode)
	}
	page, body = b.submit(page, body, url.Values{"user_code": {dl.UserCode}})
	return b.approve(page, body, action)
}

// TestIntegrationRegisterAndDeviceLogin drives the whole chain against the
// project's servers: resource discovery from the backend, metadata,
// dynamic registration with the device grant, a device login through the
// real pages with authorization_pending and slow_down on the way, a tool
// call with the token, and a refresh with the registered client.
func TestIntegrationRegisterAndDeviceLogin(t *testing.T) {
	st := startStack(t, "", nil)
	ctx := context.Background()
	rm, err := oauth.DiscoverResource(ctx, nil, st.backend, "")
	testkit.NoErr(t, err)
	as, _ := rm.AuthorizationServer()
	md, err := oauth.Discover(ctx, nil, as)
	testkit.NoErr(t, err)
	reg, err := oauth.Register(ctx, nil, md, oauth.RegistrationRequest{ClientName: "keyrelay test", DeviceGrant: true})
	testkit.NoErr(t, err, "Register")
	if !strings.HasPrefix(reg.ClientID, "dyn-") || !slices.Contains(reg.GrantTypes, oauth.DeviceCodeGrantType) ||
		!slices.Equal(reg.RedirectURIs, []string{oauth.DefaultRedirectURI}) || reg.TokenEndpointAuthMethod != "none" || !reg.ClientSecret.IsZero() {
		t.Fatalf("registration %+v", reg)
	}
	var logs bytes.Buffer
	c := &oauth.Client{ClientID: reg.ClientID, Scopes: []string{"notes:read"}, Resource: st.backend, Metadata: md, Now: st.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	dl, err := c.StartDevice(ctx)
	testkit.NoErr(t, err, "StartDevice")
	if dl.VerificationURI != st.issuer+"/device" || dl.Interval != 5*time.Second || len(dl.UserCode) != 9 {
		t.Fatalf("device login %+v", dl)
	}
	dd := driveDevice(t, dl)
	dd.poll(st.clock, dd.sleep())  // authorization_pending
	dd.sleep()                     // polling after 1 s instead of 5 s ...
	dd.poll(st.clock, time.Second) // ... earns slow_down
	if d := dd.sleep(); d != 10*time.Second {
		t.Fatalf("after slow_down Wait sleeps %v, want 10s", d)
	}
	page, body := approveDevice(t, dl, "allow")
	if page.StatusCode != 200 || !strings.Contains(body, "Device connected") {
		t.Fatalf("after consent: status %d at %s", page.StatusCode, page.Request.URL)
	}
	dd.poll(st.clock, 10*time.Second)
	w := dd.result()
	if w.err != nil {
		t.Fatalf("Wait: %v", w.err)
	}
	cl := testkit.PeekJWT(t, w.tok.AccessToken.Reveal(), 1)
	if cl["aud"] != st.backend || cl["sub"] != itUser || cl["client_id"] != reg.ClientID || cl["scope"] != "notes:read" {
		t.Fatalf("claims aud=%v sub=%v client_id=%v scope=%v", cl["aud"], cl["sub"], cl["client_id"], cl["scope"])
	}
	if resp, body := testkit.PostTool(t, st.backend, "whoami", "{}", w.tok.AccessToken.Reveal()); resp.StatusCode != 200 || !strings.Contains(body, itUser) {
		t.Fatalf("whoami with the device token: %d", resp.StatusCode)
	}
	tok2, err := c.Refresh(ctx, w.tok.RefreshToken)
	if err != nil || tok2.RefreshToken.Equal(w.tok.RefreshToken) {
		t.Fatalf("Refresh: %v", err)
	}
	for _, s := range []string{w.tok.AccessToken.Reveal(), w.tok.RefreshToken.Reveal(), tok2.AccessToken.Reveal(), tok2.RefreshToken.Reveal()} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a token reached the debug log")
		}
	}
}

func TestIntegrationDeviceRefusals(t *testing.T) {
	st := startStack(t, "", nil)
	ctx := context.Background()
	md := st.metadata(t)
	client := func(id string) *oauth.Client {
		return &oauth.Client{ClientID: id, Scopes: []string{"notes:read"}, Resource: st.backend, Metadata: md, Now: st.clock.Now}
	}
	t.Run("denied", func(t *testing.T) {
		dl, err := client("relay").StartDevice(ctx)
		testkit.NoErr(t, err)
		dd := driveDevice(t, dl)
		if page, body := approveDevice(t, dl, "deny"); page.StatusCode != 200 || !strings.Contains(body, "Request denied") {
			t.Fatalf("after deny: status %d", page.StatusCode)
		}
		dd.poll(st.clock, dd.sleep())
		if w := dd.result(); !errors.Is(w.err, oauth.ErrAccessDenied) {
			t.Fatalf("Wait: %v, want ErrAccessDenied", w.err)
		}
	})
	t.Run("expired at the server", func(t *testing.T) {
		c := client("relay")
		c.Now = nil // the relay's clock says the code is fresh; the server's has moved on
		dl, err := c.StartDevice(ctx)
		testkit.NoErr(t, err)
		dd := driveDevice(t, dl)
		dd.poll(st.clock, dd.sleep()+11*time.Minute)
		if w := dd.result(); !errors.Is(w.err, oauth.ErrDeviceExpired) {
			t.Fatalf("Wait: %v, want ErrDeviceExpired", w.err)
		}
	})
	t.Run("registered without the device grant", func(t *testing.T) {
		reg, err := oauth.Register(ctx, nil, md, oauth.RegistrationRequest{ClientName: "no device"})
		testkit.NoErr(t, err)
		var oe *oauth.Error
		if _, err := client(reg.ClientID).StartDevice(ctx); !errors.As(err, &oe) || oe.Code != "unauthorized_client" {
			t.Fatalf("StartDevice: %v, want unauthorized_client", err)
		}
	})
	t.Run("stale client is ErrInvalidClient", func(t *testing.T) {
		c := client("dyn-forgotten-by-the-server")
		testkit.WantIs(t, testkit.ErrOf(c.StartDevice(ctx)), oauth.ErrInvalidClient, "StartDevice")
		testkit.WantIs(t, testkit.ErrOf(c.Refresh(ctx, secret.New("fake-refresh-token-0123456789"))), oauth.ErrInvalidClient, "Refresh")
	})
	t.Run("registration refused", func(t *testing.T) {
		var oe *oauth.Error
		_, err := oauth.Register(ctx, nil, md, oauth.RegistrationRequest{RedirectURIs: []string{"https://app.example/cb"}})
		if !errors.As(err, &oe) || oe.Code != "invalid_redirect_uri" {
			t.Fatalf("Register: %v, want invalid_redirect_uri", err)
		}
	})
}
