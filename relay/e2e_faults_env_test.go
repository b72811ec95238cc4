package main

// Fault injection through a relay process: the authorization server or the
// backend failing (down, slow, 5xx, garbage, huge answers), the OS keychain
// locked or hanging (a private gnome-keyring on a private D-Bus), and the
// data directory full or read-only (real tmpfs mounts; needs root).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/godbus/dbus/v5"

	"github.com/keyrelay/keyrelay/backend/authserver"
	"github.com/keyrelay/keyrelay/backend/bearer"
	"github.com/keyrelay/keyrelay/backend/example"
	"github.com/keyrelay/keyrelay/backend/tool"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
)

// Fault modes of a envFaultChain endpoint.
const (
	envFaultNone    = ""
	envFault500     = "500"
	envFaultHang    = "hang"    // never answers until the client gives up
	envFaultGarbage = "garbage" // 200 with a body that is not JSON
	envFaultHuge    = "huge"    // 200 with envHugeBody bytes
)

// envHugeBody is the size of a envFaultHuge answer: far over the relay's cap.
const envHugeBody = 64 << 20

// envFaultChain is a chain (backend and authorization server on one loopback
// address, the issuer) whose listener can be closed and reopened on the
// same address, and whose token endpoint and tool calls can be made to
// fail, one mode at a time.
type envFaultChain struct {
	*chain
	addr    string
	inner   http.Handler
	token   atomic.Value // fault mode of POST /token
	tools   atomic.Value // fault mode of POST /mcp/tools/...
	tokenN  atomic.Int64 // /token requests that reached the front
	hugeOut atomic.Int64 // bytes of the last huge answer the relay accepted
	release chan struct{}

	mu  sync.Mutex
	srv *http.Server
}

func newEnvFaultChain(t *testing.T) *envFaultChain {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	u, err := authserver.NewUser(testUser, testPass)
	if err != nil {
		t.Fatal(err)
	}
	c := &chain{url: base, revoked: map[string]bool{}, seen: map[string]bool{}}
	c.as, err = authserver.New(authserver.Config{Issuer: base, Resources: []string{base}, Users: []authserver.User{u},
		Scopes: []string{example.ScopeNotesRead, example.ScopeNotesWrite, example.ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := bearer.NewStaticKeySet(bearer.Config{Issuer: base, Audience: base}, c.as.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	ts := tool.NewServer(tool.Config{PublicURL: base, AuthServers: []string{base}, Validator: recordingValidator{c, v}})
	if err := example.Register(ts, example.NewMemoryStore(), nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp/", ts.Handler())
	mux.Handle("/.well-known/oauth-protected-resource", ts.Handler())
	mux.Handle("/", c.spy(c.as.Handler()))
	f := &envFaultChain{chain: c, addr: ln.Addr().String(), inner: mux, release: make(chan struct{})}
	f.token.Store(envFaultNone)
	f.tools.Store(envFaultNone)
	f.serve(ln)
	t.Cleanup(func() { close(f.release); f.down() })
	return f
}

func (f *envFaultChain) serve(ln net.Listener) {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: connections are refused.
func (f *envFaultChain) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		_ = f.srv.Close()
		f.srv = nil
	}
}

// up listens again on the same address.
func (f *envFaultChain) up(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", f.addr)
		if err == nil {
			f.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen again on %s: %v", f.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *envFaultChain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := envFaultNone
	switch {
	case r.URL.Path == "/token":
		f.tokenN.Add(1)
		mode = f.token.Load().(string)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/mcp/tools/"):
		mode = f.tools.Load().(string)
	}
	switch mode {
	case envFault500:
		// An HTML error page echoing the bearer token: neither may reach
		// the person.
		http.Error(w, "<html>internal error "+r.Header.Get("Authorization")+"</html>", http.StatusInternalServerError)
	case envFaultHang:
		select {
		case <-f.release:
		case <-r.Context().Done():
		}
	case envFaultGarbage:
		_, _ = w.Write([]byte(`{"content": [not json`))
	case envFaultHuge:
		f.writeHuge(w)
	default:
		f.inner.ServeHTTP(w, r)
	}
}

// writeHuge streams a JSON-looking answer of envHugeBody bytes and records
// how much of it the client accepted before it hung up.
func (f *envFaultChain) writeHuge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	n, _ := w.Write([]byte(`{"content":[{"type":"text","text":"`))
	total := int64(n)
	for total < envHugeBody {
		n, err := w.Write(chunk)
		total += int64(n)
		if err != nil {
			break
		}
	}
	f.hugeOut.Store(total)
}

// envSecretsIn reports whether text holds a token, code or verifier that
// crossed the authorization server, or anything that looks like a JWT.
func (c *chain) envSecretsIn(text string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.secrets {
		if strings.Contains(text, s) {
			return true
		}
	}
	return strings.Contains(text, "eyJ")
}

// envTokensFile returns the bytes of tokens.age.
func (e *relayEnv) envTokensFile() []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "tokens.age"))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// TestFault_AuthServerDuringRefresh: the authorization server answers 500,
// is down (connection refused) or hangs past the relay's token request
// timeout (RELAY_AUTH_TIMEOUT, 2 s here) while the relay refreshes an expired
// token mid-session. The call fails with a clear error and no token in it,
// the stored tokens are kept as they were, no browser opens, and once the
// server is back the next call refreshes and works.
func TestFault_AuthServerDuringRefresh(t *testing.T) {
	cases := []struct {
		mode, want string
		max        time.Duration // how long the failed call may take
	}{
		{envFault500, "HTTP 500", 15 * time.Second},
		{"down", "connection refused", 15 * time.Second},
		{envFaultHang, "Client.Timeout", 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			f := newEnvFaultChain(t)
			e := newRelayEnv(t, f.chain)
			e.vars["RELAY_AUTH_TIMEOUT"] = "2s"
			s := e.start()
			s.mustCall(t, "whoami", nil)
			e.expireStored()
			before, err := e.vault().Get(context.Background(), e.account())
			if err != nil {
				t.Fatal(err)
			}
			file, opens, hits := e.envTokensFile(), e.opens(), f.tokenN.Load()

			if tc.mode == "down" {
				f.down()
			} else {
				f.token.Store(tc.mode)
			}
			start := time.Now()
			text, isErr := s.call(t, "whoami", nil)
			took := time.Since(start)
			if !isErr || !strings.Contains(text, "refresh failed") || !strings.Contains(text, "kept") || !strings.Contains(text, tc.want) {
				t.Fatalf("failed refresh gave isError=%v %q; want a clear error mentioning %q", isErr, text, tc.want)
			}
			if f.envSecretsIn(text) || strings.Contains(text, "<html>") {
				t.Fatalf("the error leaks a token or the server's page: %q", text)
			}
			t.Logf("%s: %q after %v", tc.mode, text, took)
			if took > tc.max {
				t.Fatalf("the failed refresh took %v, want under %v", took, tc.max)
			}
			if tc.mode != "down" && f.tokenN.Load() == hits {
				t.Fatal("no refresh reached the authorization server; the test proves nothing")
			}
			if e.opens() != opens {
				t.Fatalf("a browser opened on a transient refresh failure (%d opens, had %d)", e.opens(), opens)
			}
			if !bytes.Equal(e.envTokensFile(), file) {
				t.Fatal("tokens.age changed on a failed refresh")
			}
			after, err := e.vault().Get(context.Background(), e.account())
			if err != nil || !after.RefreshToken.Equal(before.RefreshToken) {
				t.Fatalf("stored refresh token lost or changed: %v", err)
			}

			if tc.mode == "down" {
				f.up(t)
			} else {
				f.token.Store(envFaultNone)
			}
			refreshes := f.refresh.Load()
			if out := s.mustCall(t, "whoami", nil); !strings.Contains(out, testUser) {
				t.Fatalf("after recovery: %s", out)
			}
			if f.refresh.Load() != refreshes+1 || e.opens() != opens {
				t.Fatalf("after recovery: %d refreshes (want %d), %d opens (want %d)", f.refresh.Load(), refreshes+1, e.opens(), opens)
			}
			if r, err := e.vault().Get(context.Background(), e.account()); err != nil || !r.Expiry.After(time.Now()) {
				t.Fatalf("after recovery the vault holds no fresh token: %v", err)
			}
		})
	}
}

// TestFault_BackendFailuresInOneSession: one relay session meets every
// backend failure in turn, each followed by a good call: a 500 echoing the
// token in an HTML page, a hang past RELAY_BACKEND_TIMEOUT, a refused
// connection, garbage JSON and a 64 MiB answer (read no further than the
// cap). Each is a tool error with a clear text and no token; the relay
// keeps serving and never opens a browser for it.
func TestFault_BackendFailuresInOneSession(t *testing.T) {
	f := newEnvFaultChain(t)
	e := newRelayEnv(t, f.chain)
	s := e.start("RELAY_BACKEND_TIMEOUT=1s")
	s.mustCall(t, "whoami", nil)
	opens := e.opens()
	cases := []struct {
		mode, want string
	}{
		{envFault500, "the backend answered 500"},
		{envFaultHang, "the backend did not answer in time"},
		{"down", "the backend is unreachable"},
		{envFaultGarbage, "the backend's response is not valid JSON"},
		{envFaultHuge, "the backend's response is over"},
	}
	for _, tc := range cases {
		if tc.mode == "down" {
			f.down()
		} else {
			f.tools.Store(tc.mode)
		}
		start := time.Now()
		text, isErr := s.call(t, "whoami", nil)
		took := time.Since(start)
		if tc.mode == "down" {
			f.up(t)
		} else {
			f.tools.Store(envFaultNone)
		}
		if !isErr || !strings.Contains(text, tc.want) {
			t.Fatalf("%s: isError=%v %q; want %q", tc.mode, isErr, text, tc.want)
		}
		if f.envSecretsIn(text) || strings.Contains(text, "<html>") || len(text) > 300 {
			t.Fatalf("%s: the error leaks the token or the answer: %.300q", tc.mode, text)
		}
		t.Logf("%s: %q after %v", tc.mode, text, took)
		if took > 20*time.Second {
			t.Fatalf("%s: the failed call took %v", tc.mode, took)
		}
		if tc.mode == envFaultHuge {
			// The fake backend notices the hang-up after the relay answered.
			envPoll(t, 10*time.Second, "the huge answer to end", func() bool { return f.hugeOut.Load() != 0 })
			if n := f.hugeOut.Load(); n >= envHugeBody {
				t.Fatalf("the relay accepted %d bytes of a %d-byte answer; want it to stop at its cap", n, envHugeBody)
			}
		}
		if out := s.mustCall(t, "whoami", nil); !strings.Contains(out, testUser) {
			t.Fatalf("after %s: %s", tc.mode, out)
		}
	}
	if e.opens() != opens || f.refresh.Load() != 0 {
		t.Fatalf("backend failures caused %d browser opens and %d refreshes", e.opens()-opens, f.refresh.Load())
	}
}

// envKeyring is a gnome-keyring Secret Service on a private D-Bus
// session bus, so it can be locked or frozen without touching any other
// test's keyring.
type envKeyring struct {
	addr string
	gk   *exec.Cmd
	conn *dbus.Conn
}

const envLoginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")

func startEnvKeyring(t *testing.T) *envKeyring {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := bin + " not found: the keychain fault tests need a real Secret Service (apt-get install dbus gnome-keyring)"
			if os.Getenv("KEYRELAY_SECRET_SERVICE") == "1" {
				t.Fatal(msg)
			}
			testkit.SkipOrFail(t, msg)
		}
	}
	// A short directory: a unix socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "kr-ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := "unix:path=" + filepath.Join(dir, "bus")
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+addr)
	envStartKilled(t, bus)
	var conn *dbus.Conn
	envPoll(t, 10*time.Second, "the private D-Bus to accept connections", func() bool {
		conn, err = dbus.Connect(addr)
		return err == nil
	})
	t.Cleanup(func() { conn.Close() })
	gk := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	gk.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+addr, "XDG_RUNTIME_DIR="+run,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "HOME="+dir)
	gk.Stdin = strings.NewReader("fake-keyring-password") // the throwaway login keyring's password
	envStartKilled(t, gk)
	k := &envKeyring{addr: addr, gk: gk, conn: conn}
	envPoll(t, 10*time.Second, "gnome-keyring to unlock its login collection", func() bool {
		locked, err := k.locked()
		return err == nil && !locked
	})
	return k
}

// envStartKilled starts cmd and kills it (by its pid) when the test ends.
func envStartKilled(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func (k *envKeyring) locked() (bool, error) {
	v, err := k.conn.Object("org.freedesktop.secrets", envLoginCollection).GetProperty("org.freedesktop.Secret.Collection.Locked")
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("Locked is %T", v.Value())
	}
	return b, nil
}

// lock locks the login collection, as the desktop does on screen lock.
func (k *envKeyring) lock(t *testing.T) {
	t.Helper()
	err := k.conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
		Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{envLoginCollection}).Err
	if err != nil {
		t.Fatal(err)
	}
	if locked, err := k.locked(); err != nil || !locked {
		t.Fatalf("the login collection did not lock: %v", err)
	}
}

// freeze stops the daemon: it keeps its bus name and answers nothing.
func (k *envKeyring) freeze(t *testing.T) {
	t.Helper()
	if err := k.gk.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

func envPoll(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// envUseKeychain points e at k with the default key source (the keychain)
// and a passphrase file configured, the one fallback the vault has: it
// must never be taken for a locked or silent keychain.
func (e *relayEnv) envUseKeychain(k *envKeyring) {
	delete(e.vars, "RELAY_VAULT_KEY")
	pass := filepath.Join(filepath.Dir(e.keyFile), "passphrase")
	if err := os.WriteFile(pass, []byte("fake passphrase for a fallback\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	e.vars["DBUS_SESSION_BUS_ADDRESS"] = k.addr
}

// envDataFiles maps each file of the data directory to its content, but
// for the filler of envFill.
func (e *relayEnv) envDataFiles() map[string]string {
	e.t.Helper()
	ents, err := os.ReadDir(e.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ent := range ents {
		if ent.Name() == faultfs.FillerName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.dir, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out[ent.Name()] = string(b)
	}
	return out
}

func envSameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func envNames(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestFault_KeychainLockedOrSilent, through relay processes and a real
// gnome-keyring: a vault whose key is in the keychain, then the keychain
// locked, then frozen (a D-Bus name that never answers). A new relay's
// tool call fails within the keychain timeout (3 s) with a clear error;
// nothing is written to the data directory (no key.age, no passphrase
// vault), no browser opens. A first login against the locked keychain
// fails the same way and creates no vault at all, although a passphrase
// file is configured.
func TestFault_KeychainLockedOrSilent(t *testing.T) {
	k := startEnvKeyring(t)
	c := newChain(t, 0)
	e := newRelayEnv(t, c)
	e.envUseKeychain(k)
	if _, stderr, code := e.runCLI("login"); code != 0 {
		t.Fatalf("login with an unlocked keychain: %d\n%s", code, stderr)
	}
	files := e.envDataFiles()
	if _, ok := files["tokens.age"]; !ok || files["key.age"] != "" || files["vault.json"] == "" {
		t.Fatalf("the keychain vault holds %v", envNames(files))
	}
	opens := e.opens()

	check := func(what, want string) {
		t.Helper()
		s := e.start()
		start := time.Now()
		text, isErr := s.call(t, "whoami", nil)
		if took := time.Since(start); took > 8*time.Second {
			t.Fatalf("%s: the call took %v; the keychain timeout is 3 s", what, took)
		}
		if !isErr || !strings.Contains(text, "keychain") || !strings.Contains(text, want) {
			t.Fatalf("%s: isError=%v %q; want a keychain error mentioning %q", what, isErr, text, want)
		}
		t.Logf("%s: %q", what, text)
		if c.envSecretsIn(text) {
			t.Fatalf("%s: the error leaks a token: %q", what, text)
		}
		if now := e.envDataFiles(); !envSameFiles(now, files) {
			t.Fatalf("%s: the data directory changed from %v to %v", what, envNames(files), envNames(now))
		}
		if e.opens() != opens {
			t.Fatalf("%s: a browser opened", what)
		}
	}
	k.lock(t)
	check("locked", "unlock refused")

	// A first login on the locked keychain: no vault, no fallback.
	e2 := newRelayEnv(t, c)
	e2.envUseKeychain(k)
	start := time.Now()
	_, stderr, code := e2.runCLI("login")
	if code == 0 || !strings.Contains(stderr, "relay: error: ") || !strings.Contains(stderr, "locked") || time.Since(start) > 8*time.Second {
		t.Fatalf("first login on a locked keychain: exit %d after %v\n%s", code, time.Since(start), stderr)
	}
	if got := envNames(e2.envDataFiles()); len(got) > 1 || (len(got) == 1 && got[0] != "vault.lock") {
		t.Fatalf("a failed first login left %v", got)
	}
	if e2.opens() != 0 {
		t.Fatal("a browser opened for tokens that could not be stored")
	}

	k.freeze(t)
	check("silent", "no answer within")
}

// envDecrypts reports whether tokens.age decrypts, with the key file and
// without the vault's lock (which a read-only directory refuses), to a
// plaintext holding want.
func (e *relayEnv) envDecrypts(want string) bool {
	e.t.Helper()
	kb, err := os.ReadFile(e.keyFile)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(kb)))
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(e.envTokensFile()), id)
	if err != nil {
		return false
	}
	plain, err := io.ReadAll(r)
	return err == nil && bytes.Contains(plain, []byte(want))
}

// envErrorLine returns the one "relay: error:" line of stderr.
func envErrorLine(t *testing.T, stderr string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "relay: error: ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one relay: error: line, got %d in\n%s", len(found), stderr)
	}
	return found[0]
}

// TestFault_DataDirReadOnlyThenFull: `relay login` must refresh an expired
// token, first with the data directory mounted read-only, then with it
// full. Each fails with a one-line error naming the cause, tokens.age and
// vault.json stay byte-identical and decryptable with the old refresh
// token, no temporary file is left and no browser opens. With space again,
// `relay login` works.
func TestFault_DataDirReadOnlyThenFull(t *testing.T) {
	c := newChain(t, 0)
	e := newRelayEnv(t, c)
	faultfs.MountTmpfs(t, e.dir)
	e.vars["RELAY_LOG_LEVEL"] = "error"
	if _, stderr, code := e.runCLI("login"); code != 0 {
		t.Fatalf("login: %d\n%s", code, stderr)
	}
	e.expireStored()
	before, err := e.vault().Get(context.Background(), e.account())
	if err != nil {
		t.Fatal(err)
	}
	files := e.envDataFiles()
	check := func(what, want string) {
		t.Helper()
		_, stderr, code := e.runCLI("login")
		if code == 0 {
			t.Fatalf("%s: login succeeded\n%s", what, stderr)
		}
		line := envErrorLine(t, stderr)
		if !strings.Contains(line, want) || c.envSecretsIn(stderr) {
			t.Fatalf("%s: error line %q; want it to say %q, without a token", what, line, want)
		}
		t.Logf("%s: %s", what, line)
		if now := e.envDataFiles(); !envSameFiles(now, files) {
			t.Fatalf("%s: the data directory changed from %v to %v", what, envNames(files), envNames(now))
		}
		if !e.envDecrypts(before.RefreshToken.Reveal()) {
			t.Fatalf("%s: tokens.age no longer decrypts to the old refresh token", what)
		}
		if e.opens() != 1 {
			t.Fatalf("%s: a browser opened", what)
		}
	}

	faultfs.Remount(t, e.dir, "ro")
	check("read-only", "read-only file system")
	faultfs.Remount(t, e.dir, "rw")
	if r, err := e.vault().Get(context.Background(), e.account()); err != nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatalf("read-write again: the old vault is not readable with its refresh token: %v", err)
	}

	refreshes := c.refresh.Load()
	unfill := faultfs.Fill(t, e.dir)
	check("full", "no space left on device")
	unfill()
	if r, err := e.vault().Get(context.Background(), e.account()); err != nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatalf("after the disk-full refresh: the old vault is not readable with its refresh token: %v", err)
	}
	// The vault is probed before the refresh: a refresh that rotated the
	// refresh token at the server and could not store the new one would
	// cost the sign-in (the old one is then a reused token).
	if n := c.refresh.Load() - refreshes; n != 0 {
		t.Fatalf("%d refreshes reached the server on a full disk, want 0", n)
	}
	if _, stderr, code := e.runCLI("login"); code != 0 {
		t.Fatalf("login with space again: %d\n%s", code, stderr)
	}
	if n := c.refresh.Load() - refreshes; n != 1 || e.opens() != 1 {
		t.Fatalf("with space again: %d refreshes (want 1), %d browser opens (want 1, the first login)", n, e.opens())
	}
}
