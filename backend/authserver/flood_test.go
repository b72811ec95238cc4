package authserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// flood sends n requests straight to the handler, the i-th from
// remote(i) (a RemoteAddr), as fast as the handler answers, and counts the
// answers by status.
func (e *env) flood(n int, remote func(i int) string, method, path, ctype, body string) map[int]int {
	e.t.Helper()
	h, got := e.s.Handler(), map[int]int{}
	for i := range n {
		r := httptest.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		r.RemoteAddr = remote(i)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got[w.Code]++
	}
	return got
}

func oneAddr(ip string) func(int) string { return func(int) string { return ip + ":40000" } }

// manyAddrs spreads requests over 1,000 addresses of 198.18.0.0/15.
func manyAddrs(i int) string { return fmt.Sprintf("198.18.%d.%d:40000", i%1000/250, i%250+1) }

func (e *env) pending() (requests, devices int) {
	e.s.store.mu.Lock()
	defer e.s.store.mu.Unlock()
	return len(e.s.store.requests), len(e.s.store.devices)
}

// TestF2_AuthorizeFloodCostsOnlyTheFlooder: 10,000 GET /authorize used to
// fill the server-wide cap, and every sign-in answered 503 Busy for 10
// minutes (issue 14, F2). Now each client and each source address keeps
// only its newest pending requests: a flood evicts the flooder's own.
func TestF2_AuthorizeFloodCostsOnlyTheFlooder(t *testing.T) {
	e := newEnv(t)
	authorize := "/authorize?" + authQuery().Encode()
	inFlight := e.startAuthorize(authQuery()) // alice's sign-in, half done

	t.Run("from another address", func(t *testing.T) {
		if got := e.flood(10000, oneAddr("192.0.2.1"), "GET", authorize, "", ""); got[http.StatusSeeOther] != 10000 {
			t.Fatalf("flood answers %v, want 10000 × 303", got)
		}
		if n, _ := e.pending(); n > maxPendingPerAddr+1 {
			t.Fatalf("%d pending requests after the flood, want the flooder's %d and alice's", n, maxPendingPerAddr)
		}
		e.tokens() // a new sign-in
		code := e.consent(e.login(inFlight, "alice", alicePW), "allow").location(t).Query().Get("code")
		if code == "" {
			t.Fatal("the sign-in in flight did not survive the flood")
		}
	})
	t.Run("from alice's own address", func(t *testing.T) {
		e.flood(10000, oneAddr("127.0.0.1"), "GET", authorize, "", "")
		e.tokens() // the newest request is never the one that gives way
	})
	t.Run("from many addresses", func(t *testing.T) {
		// A client's pending requests are bounded too: spread over 1,000
		// addresses, a flood of "relay" evicts requests of "relay", but not
		// the sign-in of another client, and a new sign-in still works.
		id := e.register(`{"redirect_uris":["http://127.0.0.1/cb"]}`)
		q := authQuery()
		q.Set("client_id", id)
		q.Set("redirect_uri", "http://127.0.0.1:6000/cb")
		other := e.startAuthorize(q)
		e.flood(10000, manyAddrs, "GET", authorize, "", "")
		if n, _ := e.pending(); n > maxPendingPerClient+1 {
			t.Fatalf("%d pending requests, want at most %d for relay and one for %s", n, maxPendingPerClient, id)
		}
		if e.consent(e.login(other, "alice", alicePW), "allow").location(t).Query().Get("code") == "" {
			t.Fatal("another client's sign-in in flight did not survive")
		}
		e.tokens()
	})
}

// TestF2_DeviceAuthorizationFlood: 10,000 POST /device_authorization used
// to block the device grant for everyone (issue 14, F2).
func TestF2_DeviceAuthorizationFlood(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"client_id": {"relay"}}.Encode()
	for _, remote := range []func(int) string{oneAddr("192.0.2.1"), oneAddr("127.0.0.1"), manyAddrs} {
		if got := e.flood(10000, remote, "POST", "/device_authorization", "application/x-www-form-urlencoded", form); got[http.StatusOK] != 10000 {
			t.Fatalf("flood answers %v, want 10000 × 200", got)
		}
		if _, n := e.pending(); n > maxPendingPerClient {
			t.Fatalf("%d pending device grants for one client, want at most %d", n, maxPendingPerClient)
		}
		da := e.deviceStart()
		if r := e.verify(da["user_code"].(string), "allow"); !strings.Contains(r.header.Get("Location"), "status=approved") {
			t.Fatalf("device consent: %d %q", r.status, r.header.Get("Location"))
		}
		if tok := e.poll(da["device_code"].(string)); tok.status != 200 {
			t.Fatalf("device token after a flood: %d %s", tok.status, tok.body)
		}
		e.clock.Advance(time.Minute)
	}
}

// TestF2_RegisterFlood: 100 POST /register used to block registration
// until a restart, and a default relay then failed (issue 14, F2). Now an
// unused registration gives way to a newer one, the flooder's own first;
// a registration used to sign in never does.
func TestF2_RegisterFlood(t *testing.T) {
	e := newEnv(t)
	const reg = `{"redirect_uris":["http://127.0.0.1/cb"]}`
	refresh := map[string]string{} // client id -> refresh token
	signIn := func(id string) { refresh[id] = e.signInAs(id, "")["refresh_token"].(string) }
	signIn(e.register(reg))
	fresh := e.register(reg) // registered, not used yet

	// One address: it keeps only its own newest unused registrations.
	if got := e.flood(1000, oneAddr("192.0.2.1"), "POST", "/register", "application/json", reg); got[http.StatusCreated] != 1000 {
		t.Fatalf("flood answers %v, want 1000 × 201", got)
	}
	signIn(fresh) // untouched by another address's flood
	signIn(e.register(reg))

	// Many addresses: unused registrations give way, oldest first, and the
	// cap holds; used ones stay.
	e.flood(1000, manyAddrs, "POST", "/register", "application/json", reg)
	if n := len(e.s.store.dynamic); n > maxRegistered {
		t.Fatalf("%d registrations, want at most %d", n, maxRegistered)
	}
	for id, rt := range refresh {
		r := e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}})
		if r.status != 200 {
			t.Fatalf("used registration %s dropped: %d %s", id, r.status, r.body)
		}
	}
	signIn(e.register(reg))
}

// TestF2_DroppedClientTakesItsPendingWithIt: a registration that gives way
// leaves no pending request behind, so new registrations cannot pile up
// pending requests past the per-client bounds.
func TestF2_DroppedClientTakesItsPendingWithIt(t *testing.T) {
	e := newEnv(t)
	const reg = `{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["authorization_code","` + DeviceCodeGrantType + `"]}`
	for range 3 * maxUnusedPerAddr {
		id := e.register(reg)
		q := authQuery()
		q.Set("client_id", id)
		q.Set("redirect_uri", "http://127.0.0.1:6000/cb")
		e.get("/authorize?" + q.Encode())
		e.post("/device_authorization", url.Values{"client_id": {id}})
	}
	st := e.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range st.requests {
		if _, ok := st.clients[r.clientID]; !ok {
			t.Fatalf("a pending request of dropped client %s remains", r.clientID)
		}
	}
	for _, d := range st.devices {
		if _, ok := st.clients[d.clientID]; !ok {
			t.Fatalf("a device grant of dropped client %s remains", d.clientID)
		}
	}
	if len(st.requests) > maxUnusedPerAddr || len(st.devices) > maxUnusedPerAddr {
		t.Fatalf("%d requests and %d device grants pending, want at most %d each", len(st.requests), len(st.devices), maxUnusedPerAddr)
	}
}
