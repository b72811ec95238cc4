package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"

	"github.com/golang-jwt/jwt/v5"
)

// Load-test sizes and bounds. The test logs the figures to compare with.
const (
	loadClients   = 200
	loadRequests  = 100_000 // HS256 phase
	loadKeySetReq = 10_000  // ES256 key-set phase
	loadIssuer    = "https://issuer.example"
	// loadPeakHeap bounds HeapInuse during the run. Each of the 200
	// connections holds about 12 KiB of buffers (the server's bufio reader
	// and writer, the client's reader); each request in flight at most one
	// header the server reads whole, under 68 KiB, held about twice while it
	// is parsed; and the GC lets the heap grow to twice the live data:
	// 200 × (12 + 136) KiB × 2 ≈ 58 MiB in the worst case, plus about 8 MiB
	// of pre-built requests. The measured peak is about 25 MiB.
	loadPeakHeap = 96 << 20
	// loadHeapDelta bounds the growth of HeapInuse from before the first
	// phase to after the last, both measured after GC.
	loadHeapDelta = 4 << 20
	// loadGoroutineMargin allows for runtime and testing goroutines that
	// come and go on their own.
	loadGoroutineMargin = 2
)

// loadCase is one request and the one right answer to it.
type loadCase struct {
	class   int
	tool    string
	auth    string // Authorization header value; "" sends none
	body    string
	status  int
	errCode string // the error= of WWW-Authenticate; "" for none
	subject string // whoami: the subject the body must name
	echo    string // echo: the text the body must hold
	raw     []byte // the request on the wire
}

// loadClass is a kind of request with its share of the plan, per mille.
type loadClass struct {
	name   string
	weight int
	cases  []loadCase
}

// loadMix builds the classes of a phase and the plan: n requests, each one
// of a class's cases, in a fixed pseudo-random order.
type loadMix struct {
	classes []loadClass
	plan    []*loadCase
}

func (m *loadMix) add(name string, weight, variants int, mk func(i int) loadCase) {
	c := loadClass{name: name, weight: weight}
	for i := range variants {
		lc := mk(i)
		lc.class = len(m.classes)
		c.cases = append(c.cases, lc)
	}
	m.classes = append(m.classes, c)
}

func (m *loadMix) makePlan(t *testing.T, host string, n int, seed uint64) {
	var wheel []int
	for i, c := range m.classes {
		for j := range c.cases {
			c.cases[j].raw = c.cases[j].request(host)
		}
		for range c.weight {
			wheel = append(wheel, i)
		}
	}
	if len(wheel) != 1000 {
		t.Fatalf("weights sum to %d, want 1000", len(wheel))
	}
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m.plan = make([]*loadCase, n)
	for i := range m.plan {
		c := &m.classes[wheel[r.IntN(len(wheel))]]
		m.plan[i] = &c.cases[r.IntN(len(c.cases))]
	}
}

// tokenMaker signs load-test tokens for one audience.
type tokenMaker struct {
	t                *testing.T
	issuer, audience string
	now              time.Time
}

// claims returns valid claims for sub; edit them to make a bad token.
func (tm tokenMaker) claims(sub, scope string) jwt.MapClaims {
	return jwt.MapClaims{"iss": tm.issuer, "aud": tm.audience, "sub": sub, "client_id": "load",
		"scope": scope, "jti": "jti-" + sub, "iat": tm.now.Unix(), "exp": tm.now.Add(time.Hour).Unix()}
}

func (tm tokenMaker) sign(m jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	tok := jwt.NewWithClaims(m, c)
	tok.Header["typ"] = "at+jwt"
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	testkit.NoErr(tm.t, err)
	return s
}

// unsigned returns an alg=none token with claims c.
func (tm tokenMaker) unsigned(c jwt.MapClaims) string {
	p, err := json.Marshal(c)
	testkit.NoErr(tm.t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + enc(p) + "."
}

// padded returns claims whose token is about size bytes long.
func (tm tokenMaker) padded(sub string, size int) jwt.MapClaims {
	c := tm.claims(sub, "notes:read")
	c["pad"] = strings.Repeat("x", size*3/4)
	return c
}

func bearerOf(tok string) string { return "Bearer " + tok }

// Request bodies and the expected answers shared by both phases.
const (
	noArgs = `{"arguments":{}}`
	scopes = "notes:read notes:write"
)

func whoamiCase(auth string, status int, errCode, sub string) loadCase {
	return loadCase{tool: "whoami", auth: auth, body: noArgs, status: status, errCode: errCode, subject: sub}
}

func echoCase(auth string, i int, status int, errCode string) loadCase {
	msg := fmt.Sprintf("m-%d", i)
	return loadCase{tool: "echo", auth: auth, body: `{"arguments":{"message":"` + msg + `"}}`, status: status, errCode: errCode, echo: msg}
}

func rejected(tool, auth string) loadCase {
	return loadCase{tool: tool, auth: auth, body: noArgs, status: 401, errCode: "invalid_token"}
}

// hmacMix is the HS256 phase: every decision the backend makes, in
// proportions loosely like an exposed service's.
func hmacMix(t *testing.T, audience string) *loadMix {
	tm := tokenMaker{t: t, issuer: loadIssuer, audience: audience, now: time.Now()}
	key, wrongKey := []byte(goodSecret), []byte("another-test-secret-0123456789-abcdef")
	hs := func(c jwt.MapClaims) string { return bearerOf(tm.sign(jwt.SigningMethodHS256, key, c, "")) }
	m := &loadMix{}
	m.add("valid/whoami", 320, 2000, func(i int) loadCase {
		sub := fmt.Sprintf("user-%04d", i)
		return whoamiCase(hs(tm.claims(sub, scopes)), 200, "", sub)
	})
	m.add("valid/echo", 50, 100, func(i int) loadCase { return echoCase(hs(tm.claims("echoer", scopes)), i, 200, "") })
	m.add("valid/admin", 20, 20, func(i int) loadCase {
		return loadCase{tool: "admin_stats", auth: hs(tm.claims(fmt.Sprintf("admin-%d", i), "admin")), body: noArgs, status: 200}
	})
	m.add("no-token/echo", 100, 100, func(i int) loadCase { return echoCase("", i, 200, "") })
	m.add("no-token/whoami", 50, 1, func(int) loadCase { return whoamiCase("", 401, "", "") })
	m.add("missing-scope/admin", 80, 100, func(i int) loadCase {
		return loadCase{tool: "admin_stats", auth: hs(tm.claims(fmt.Sprintf("user-%04d", i), scopes)), body: noArgs,
			status: 403, errCode: "insufficient_scope"}
	})
	m.add("expired", 80, 100, func(i int) loadCase {
		c := tm.claims(fmt.Sprintf("late-%d", i), scopes)
		c["iat"], c["exp"] = tm.now.Add(-2*time.Hour).Unix(), tm.now.Add(-time.Hour).Unix()
		return rejected("whoami", hs(c))
	})
	m.add("forged/bad-signature", 60, 100, func(i int) loadCase {
		return rejected("whoami", bearerOf(tm.sign(jwt.SigningMethodHS256, wrongKey, tm.claims(fmt.Sprintf("user-%04d", i), scopes), "")))
	})
	m.add("forged/wrong-issuer", 40, 100, func(i int) loadCase {
		c := tm.claims(fmt.Sprintf("user-%04d", i), scopes)
		c["iss"] = "https://evil.example"
		return rejected("whoami", hs(c))
	})
	m.add("forged/wrong-audience", 40, 100, func(i int) loadCase {
		c := tm.claims(fmt.Sprintf("user-%04d", i), scopes)
		c["aud"] = "https://other-api.example"
		return rejected("whoami", hs(c))
	})
	m.add("forged/alg-none", 30, 100, func(i int) loadCase {
		return rejected("whoami", bearerOf(tm.unsigned(tm.claims(fmt.Sprintf("user-%04d", i), scopes))))
	})
	m.add("forged/alg-HS512", 20, 100, func(i int) loadCase {
		return rejected("whoami", bearerOf(tm.sign(jwt.SigningMethodHS512, key, tm.claims(fmt.Sprintf("user-%04d", i), scopes), "")))
	})
	m.add("forged/on-public-tool", 20, 100, func(i int) loadCase {
		return echoCase(bearerOf(tm.unsigned(tm.claims("x", scopes))), i, 401, "invalid_token")
	})
	m.add("malformed-header", 20, 1, func(int) loadCase { return rejected("whoami", "Basic dXNlcjpwYXNzd29yZA==") })
	sizes := []int{9 << 10, 32 << 10, 60 << 10}
	m.add("oversized/8KiB-64KiB", 60, len(sizes), func(i int) loadCase {
		return rejected("whoami", hs(tm.padded("big", sizes[i])))
	})
	big := []int{80 << 10, 96 << 10}
	m.add("oversized/over-64KiB-header", 10, len(big), func(i int) loadCase {
		return loadCase{tool: "whoami", auth: hs(tm.padded("huge", big[i])), body: noArgs, status: 431}
	})
	return m
}

// keySetMix is the ES256 phase, against keys discovered over HTTP.
func keySetMix(t *testing.T, issuer, audience string, key *ecdsa.PrivateKey, kid string, pubDER, jwks []byte) *loadMix {
	tm := tokenMaker{t: t, issuer: issuer, audience: audience, now: time.Now()}
	other := testkit.ECKey(t)
	es := func(k *ecdsa.PrivateKey, c jwt.MapClaims, kid string) string {
		return bearerOf(tm.sign(jwt.SigningMethodES256, k, c, kid))
	}
	sub := func(i int) string { return fmt.Sprintf("es-user-%03d", i) }
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confusion := [][]byte{pubPEM, pubDER, jwks}
	m := &loadMix{}
	m.add("valid/whoami", 450, 300, func(i int) loadCase { return whoamiCase(es(key, tm.claims(sub(i), scopes), kid), 200, "", sub(i)) })
	m.add("no-token/echo", 100, 20, func(i int) loadCase { return echoCase("", i, 200, "") })
	m.add("missing-scope/admin", 100, 20, func(i int) loadCase {
		return loadCase{tool: "admin_stats", auth: es(key, tm.claims(sub(i), scopes), kid), body: noArgs, status: 403, errCode: "insufficient_scope"}
	})
	m.add("expired", 100, 20, func(i int) loadCase {
		c := tm.claims(sub(i), scopes)
		c["iat"], c["exp"] = tm.now.Add(-2*time.Hour).Unix(), tm.now.Add(-time.Hour).Unix()
		return rejected("whoami", es(key, c, kid))
	})
	m.add("forged/bad-signature", 100, 20, func(i int) loadCase { return rejected("whoami", es(other, tm.claims(sub(i), scopes), kid)) })
	m.add("forged/unknown-kid", 50, 20, func(i int) loadCase {
		return rejected("whoami", es(other, tm.claims(sub(i), scopes), fmt.Sprintf("rotated-%d", i)))
	})
	m.add("forged/alg-confusion-HS256", 50, len(confusion), func(i int) loadCase {
		return rejected("whoami", bearerOf(tm.sign(jwt.SigningMethodHS256, confusion[i], tm.claims(sub(i), scopes), kid)))
	})
	m.add("forged/alg-none", 50, 20, func(i int) loadCase { return rejected("whoami", bearerOf(tm.unsigned(tm.claims(sub(i), scopes)))) })
	return m
}

// loadTally counts answers by class, and by status.
type loadTally struct {
	ok, wrong []int
	status    map[int]int
}

func newTally(classes int) *loadTally {
	return &loadTally{ok: make([]int, classes), wrong: make([]int, classes), status: map[int]int{}}
}

// request returns c as HTTP/1.1 bytes for host.
func (c *loadCase) request(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /mcp/tools/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
		c.tool, host, len(c.body))
	if c.auth != "" {
		b.WriteString("Authorization: " + c.auth + "\r\n")
	}
	b.WriteString("\r\n" + c.body)
	return b.Bytes()
}

// loadConn is one client's keep-alive connection. It speaks HTTP/1.1 by
// hand, one request at a time, so that the client costs little next to the
// server under -race and never picks a connection the server is closing,
// as a pooling client can.
type loadConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

func (lc *loadConn) close() {
	if lc.conn != nil {
		lc.conn.Close()
		lc.conn = nil
	}
}

// roundTrip sends req and reads the answer. A large request is written
// while the answer is read: the server answers 431 without reading it all.
func (lc *loadConn) roundTrip(req []byte) (*http.Response, []byte, error) {
	if lc.conn == nil {
		c, err := net.Dial("tcp", lc.addr)
		if err != nil {
			return nil, nil, err
		}
		lc.conn, lc.br = c, bufio.NewReader(c)
	}
	_ = lc.conn.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	if len(req) > 16<<10 {
		go func(c net.Conn) { _, err := c.Write(req); werr <- err }(lc.conn)
	} else if _, err := lc.conn.Write(req); err != nil {
		lc.close()
		return nil, nil, err
	}
	resp, err := http.ReadResponse(lc.br, nil)
	if err != nil {
		lc.close()
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.Close {
		lc.close()
	}
	if len(req) > 16<<10 {
		<-werr // done, or failed on the connection just closed
	}
	return resp, body, err
}

// check sends c and says what, if anything, was wrong with the answer.
// The message never holds the token.
func (c *loadCase) check(lc *loadConn) (int, string) {
	resp, body, err := lc.roundTrip(c.raw)
	if err != nil {
		return 0, "transport: " + err.Error()
	}
	if resp.StatusCode != c.status {
		return resp.StatusCode, fmt.Sprintf("status %d, want %d (%s)", resp.StatusCode, c.status, resp.Header.Get("WWW-Authenticate"))
	}
	return resp.StatusCode, c.checkBody(resp.Header.Get("WWW-Authenticate"), body)
}

func (c *loadCase) checkBody(challenge string, body []byte) string {
	if c.status == 401 || c.status == 403 {
		if got := challengeError(challenge); got != c.errCode || !strings.HasPrefix(challenge, "Bearer") {
			return fmt.Sprintf("challenge error %q, want %q", got, c.errCode)
		}
		return ""
	}
	if c.status != 200 || (c.subject == "" && c.echo == "") {
		return ""
	}
	var res struct {
		Content           []struct{ Text string }  `json:"content"`
		StructuredContent struct{ Subject string } `json:"structuredContent"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return "body is not a tool result"
	}
	if c.subject != "" && res.StructuredContent.Subject != c.subject {
		return fmt.Sprintf("whoami answered for %q, want %q", res.StructuredContent.Subject, c.subject)
	}
	if c.echo != "" && (len(res.Content) != 1 || res.Content[0].Text != c.echo) {
		return fmt.Sprintf("echo answered %q, want %q", res.Content, c.echo)
	}
	return ""
}

// challengeError returns the error parameter of a Bearer challenge, which
// Challenge.Write puts first.
func challengeError(h string) string {
	rest, ok := strings.CutPrefix(h, `Bearer error="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

// runLoad sends the plan from loadClients clients, each on its own
// keep-alive connection to addr, and returns the merged tally and the first few failures.
func runLoad(m *loadMix, addr string) (*loadTally, []string, time.Duration) {
	var next atomic.Int64
	var mu sync.Mutex // guards total and fails
	total := newTally(len(m.classes))
	var fails []string
	var wg sync.WaitGroup
	start := time.Now()
	for range loadClients {
		wg.Go(func() {
			lc := &loadConn{addr: addr}
			defer lc.close()
			for i := next.Add(1) - 1; i < int64(len(m.plan)); i = next.Add(1) - 1 {
				c := m.plan[i]
				st, bad := c.check(lc)
				mu.Lock()
				total.status[st]++
				if bad == "" {
					total.ok[c.class]++
				} else if total.wrong[c.class]++; len(fails) < 10 {
					fails = append(fails, m.classes[c.class].name+": "+bad)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total, fails, time.Since(start)
}

// logScan is the backend's stderr: it counts records and any that hold
// what looks like a JWT, and keeps nothing.
type logScan struct {
	lines, leaks atomic.Int64
}

func (l *logScan) Write(p []byte) (int, error) {
	l.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	if bytes.Contains(p, []byte("eyJ")) {
		l.leaks.Add(1)
	}
	return len(p), nil
}

// memPeak samples the heap until stop is called, and returns the peaks.
func memPeak() (stop func() (heapInuse, sys uint64)) {
	done := make(chan struct{})
	var peakHeap, peakSys uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peakHeap, peakSys = max(peakHeap, ms.HeapInuse), max(peakSys, ms.Sys)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() (uint64, uint64) { close(done); wg.Wait(); return peakHeap, peakSys }
}

func heapAfterGC() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// fakeIssuer serves RFC 8414 metadata and a JWK Set holding key as kid,
// counting JWKS fetches.
func fakeIssuer(t *testing.T, key *ecdsa.PrivateKey, kid string) (srv *httptest.Server, jwks []byte, fetches *atomic.Int64) {
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	testkit.NoErr(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	jwks = []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"` + kid + `","use":"sig","alg":"ES256","x":"` +
		enc(pub[1:33]) + `","y":"` + enc(pub[33:]) + `"}]}`)
	fetches = new(atomic.Int64)
	mux := http.NewServeMux()
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/jwks")
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	return srv, jwks, fetches
}

type loadPhase struct {
	name string
	mix  *loadMix
	addr string
	env  map[string]string
}

// runPhase starts a backend, loads it, stops it, and fails the test on any
// wrong decision or transport error.
func runPhase(t *testing.T, p loadPhase, logs *logScan) {
	stop := runBackend(t, p.addr, nil, p.env, logs)
	tally, fails, wall := runLoad(p.mix, p.addr)
	if err := stop(); err != nil {
		t.Errorf("%s: graceful stop: %v", p.name, err)
	}
	n := len(p.mix.plan)
	t.Logf("%s: %d requests from %d clients in %v: %.0f requests/s; statuses %v", // a map prints sorted
		p.name, n, loadClients, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), tally.status)
	right, wrong := 0, 0
	for i, c := range p.mix.classes {
		t.Logf("  %-28s want %d: %6d right, %d wrong", c.name, c.cases[0].status, tally.ok[i], tally.wrong[i])
		right, wrong = right+tally.ok[i], wrong+tally.wrong[i]
	}
	if wrong > 0 || right != n {
		t.Errorf("%s: %d right and %d wrong decisions of %d; first: %s", p.name, right, wrong, n, strings.Join(fails, "; "))
	}
}

// TestLoad_BackendMixedTokens runs the backend exactly as main builds it on
// a loopback listener, and sends it 100,000 HS256-mode requests and then
// 10,000 in ES256 key-set mode from 200 concurrent clients, each on its own
// keep-alive connection: valid, expired, forged, oversized and missing tokens
// against public, authenticated and scoped tools. Every answer must be the one right status
// (whoami must name the token's own subject), no token may reach the log,
// the goroutines must return to the baseline, and the heap must stay
// bounded.
func TestLoad_BackendMixedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("load test; runs without -short")
	}
	g0 := runtime.NumGoroutine()
	ecKey := testkit.ECKey(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	testkit.NoErr(t, err)
	idp, jwks, fetches := fakeIssuer(t, ecKey, "load-ec")
	hsAddr, esAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	phases := []loadPhase{
		{name: "HS256", addr: hsAddr, mix: hmacMix(t, "http://"+hsAddr),
			env: map[string]string{"JWT_SECRET": goodSecret, "AUTH_SERVER_URL": loadIssuer}},
		{name: "ES256 key set", addr: esAddr, mix: keySetMix(t, idp.URL, "http://"+esAddr, ecKey, "load-ec", pubDER, jwks),
			env: map[string]string{"AUTH_SERVER_URL": idp.URL}},
	}
	phases[0].mix.makePlan(t, hsAddr, loadRequests, 1)
	phases[1].mix.makePlan(t, esAddr, loadKeySetReq, 2)
	before := heapAfterGC()
	stopMem := memPeak()
	logs := &logScan{}
	start := time.Now()
	for _, p := range phases {
		runPhase(t, p, logs)
	}
	wall := time.Since(start)
	peakHeap, peakSys := stopMem()
	idp.Close()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	after := heapAfterGC()
	runtime.KeepAlive(phases)

	const mib = 1 << 20
	t.Logf("total %d requests in %v; backend log: %d lines, %d with a token; JWKS fetches: %d",
		loadRequests+loadKeySetReq, wall.Round(time.Millisecond), logs.lines.Load(), logs.leaks.Load(), fetches.Load())
	t.Logf("heap in use: before %.1f MiB, peak %.1f MiB, after %.1f MiB; sys: before %.1f MiB, peak %.1f MiB, after %.1f MiB",
		float64(before.HeapInuse)/mib, float64(peakHeap)/mib, float64(after.HeapInuse)/mib,
		float64(before.Sys)/mib, float64(peakSys)/mib, float64(after.Sys)/mib)
	if logs.leaks.Load() > 0 {
		t.Errorf("%d log records hold a token", logs.leaks.Load())
	}
	if peakHeap > loadPeakHeap {
		t.Errorf("peak heap in use %.1f MiB, bound %d MiB", float64(peakHeap)/mib, loadPeakHeap/mib)
	}
	if after.HeapInuse > before.HeapInuse+loadHeapDelta {
		t.Errorf("heap in use grew from %.1f to %.1f MiB", float64(before.HeapInuse)/mib, float64(after.HeapInuse)/mib)
	}
	testkit.SettleGoroutines(t, g0, loadGoroutineMargin)
}
