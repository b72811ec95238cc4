package main

// Fault injection through a relay process: the authorization server or the
// backend failing (down, slow, 5xx, garbage, huge answers), the OS keychain
// locked or hanging (a private gnome-keyring on a private D-Bus), and the
// data directory full or read-only (real tmpfs mounts; needs root).

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/internal/testkit/faultfs"
)

// Fault modes of a failingFront.
const (
	modeNone    = ""
	mode500     = "500"
	modeHang    = "hang"    // never answers until the client gives up
	modeGarbage = "garbage" // 200 with a body that is not JSON
	modeHuge    = "huge"    // 200 with hugeBody bytes
	modeDown    = "down"    // the whole chain refuses connections
)

// hugeBody is the size of a modeHuge answer: far over the relay's cap.
const hugeBody = 64 << 20

// failingFront sits in front of a chain (chain.Options.Wrap) and makes its
// token endpoint or its tool calls fail, one mode at a time.
type failingFront struct {
	c       *chain.Server
	down    bool // set took the chain down
	next    http.Handler
	token   atomic.Value // fault mode of POST /token
	tools   atomic.Value // fault mode of POST /mcp/tools/...
	tokenN  atomic.Int64 // /token requests that reached the front
	hugeOut atomic.Int64 // bytes of the last huge answer the relay accepted
	release chan struct{}
}

// newFailingChain starts a chain behind a failingFront. Chain.Down and Up
// refuse connections, then take them again.
func newFailingChain(t *testing.T) (*chain.Server, *failingFront) {
	t.Helper()
	f := &failingFront{release: make(chan struct{})}
	f.token.Store(modeNone)
	f.tools.Store(modeNone)
	f.c = chain.Start(t, chain.Options{Wrap: func(h http.Handler) http.Handler { f.next = h; return f }})
	t.Cleanup(func() { close(f.release) }) // before the chain stops
	return f.c, f
}

// set puts what (f.token or f.tools) in mode; modeDown takes the whole
// chain down instead, and the next mode brings it back.
func (f *failingFront) set(t *testing.T, what *atomic.Value, mode string) {
	t.Helper()
	if mode == modeDown {
		f.c.Down()
	} else if f.down {
		f.c.Up(t)
	}
	f.down = mode == modeDown
	what.Store(mode)
}

func (f *failingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := modeNone
	switch {
	case r.URL.Path == "/token":
		f.tokenN.Add(1)
		mode = f.token.Load().(string)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/mcp/tools/"):
		mode = f.tools.Load().(string)
	}
	switch mode {
	case mode500:
		// An HTML error page echoing the bearer token: neither may reach
		// the person.
		http.Error(w, "<html>internal error "+r.Header.Get("Authorization")+"</html>", http.StatusInternalServerError)
	case modeHang:
		select {
		case <-f.release:
		case <-r.Context().Done():
		}
	case modeGarbage:
		_, _ = w.Write([]byte(`{"content": [not json`))
	case modeHuge:
		f.writeHuge(w)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// writeHuge streams a JSON-looking answer of hugeBody bytes and records
// how much of it the client accepted before it hung up.
func (f *failingFront) writeHuge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	n, _ := w.Write([]byte(`{"content":[{"type":"text","text":"`))
	total := int64(n)
	for total < hugeBody {
		n, err := w.Write(chunk)
		total += int64(n)
		if err != nil {
			break
		}
	}
	f.hugeOut.Store(total)
}

// tokensFile returns the bytes of tokens.age.
func (e *relayEnv) tokensFile() []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Dir, "tokens.age"))
	testkit.NoErr(e.t, err)
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
		{mode500, "HTTP 500", 15 * time.Second},
		{modeDown, "connection refused", 15 * time.Second},
		{modeHang, "Client.Timeout", 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			c, f := newFailingChain(t)
			e := newRelayEnv(t, c)
			e.Vars["RELAY_AUTH_TIMEOUT"] = "2s"
			s := e.start()
			s.whoami(t)
			e.expireStored()
			before, file, opens, hits := e.stored(t), e.tokensFile(), e.opens(), f.tokenN.Load()
			f.set(t, &f.token, tc.mode)
			start := time.Now()
			text := s.fails(t, "whoami", "refresh failed", "kept", tc.want)
			took := time.Since(start)
			if c.Leaks(text) || strings.Contains(text, "<html>") {
				t.Fatalf("the error leaks a token or the server's page: %q", text)
			}
			t.Logf("%s: %q after %v", tc.mode, text, took)
			if took > tc.max {
				t.Fatalf("the failed refresh took %v, want under %v", took, tc.max)
			}
			if tc.mode != modeDown && f.tokenN.Load() == hits {
				t.Fatal("no refresh reached the authorization server; the test proves nothing")
			}
			if e.opens() != opens {
				t.Fatalf("a browser opened on a transient refresh failure (%d opens, had %d)", e.opens(), opens)
			}
			if !bytes.Equal(e.tokensFile(), file) {
				t.Fatal("tokens.age changed on a failed refresh")
			}
			if after := e.stored(t); after == nil || !after.RefreshToken.Equal(before.RefreshToken) {
				t.Fatal("stored refresh token lost or changed")
			}

			f.set(t, &f.token, modeNone)
			refreshes := c.Refreshes.Load()
			s.whoami(t)
			if c.Refreshes.Load() != refreshes+1 || e.opens() != opens {
				t.Fatalf("after recovery: %d refreshes (want %d), %d opens (want %d)", c.Refreshes.Load(), refreshes+1, e.opens(), opens)
			}
			if r := e.stored(t); r == nil || !r.Expiry.After(time.Now()) {
				t.Fatal("after recovery the vault holds no fresh token")
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
	c, f := newFailingChain(t)
	e := newRelayEnv(t, c)
	s := e.start("RELAY_BACKEND_TIMEOUT=1s")
	s.whoami(t)
	opens := e.opens()
	cases := []struct {
		mode, want string
	}{
		{mode500, "the backend answered 500"},
		{modeHang, "the backend did not answer in time"},
		{modeDown, "the backend is unreachable"},
		{modeGarbage, "the backend's response is not valid JSON"},
		{modeHuge, "the backend's response is over"},
	}
	for _, tc := range cases {
		f.set(t, &f.tools, tc.mode)
		start := time.Now()
		text := s.fails(t, "whoami", tc.want)
		took := time.Since(start)
		f.set(t, &f.tools, modeNone)
		if c.Leaks(text) || strings.Contains(text, "<html>") || len(text) > 300 {
			t.Fatalf("%s: the error leaks the token or the answer: %.300q", tc.mode, text)
		}
		t.Logf("%s: %q after %v", tc.mode, text, took)
		if took > 20*time.Second {
			t.Fatalf("%s: the failed call took %v", tc.mode, took)
		}
		if tc.mode == modeHuge {
			// The fake backend notices the hang-up after the relay answered.
			testkit.Poll(t, 10*time.Second, "the huge answer to end", func() bool { return f.hugeOut.Load() != 0 })
			if n := f.hugeOut.Load(); n >= hugeBody {
				t.Fatalf("the relay accepted %d bytes of a %d-byte answer; want it to stop at its cap", n, hugeBody)
			}
		}
		s.whoami(t)
	}
	if e.opens() != opens || c.Refreshes.Load() != 0 {
		t.Fatalf("backend failures caused %d browser opens and %d refreshes", e.opens()-opens, c.Refreshes.Load())
	}
}

// useKeychain points e at ss with the default key source (the keychain)
// and a passphrase file configured, the one fallback the vault has: it
// must never be taken for a locked or silent keychain.
func (e *relayEnv) useKeychain(ss *testkit.SecretService) {
	delete(e.Vars, "RELAY_VAULT_KEY")
	pass := filepath.Join(e.Home, "passphrase")
	if err := os.WriteFile(pass, []byte("fake passphrase for a fallback\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.Vars["RELAY_VAULT_PASSPHRASE_FILE"] = pass
	e.Vars["DBUS_SESSION_BUS_ADDRESS"] = ss.Addr
}

// dataFiles maps each file of the data directory to its content, but
// for faultfs's filler.
func (e *relayEnv) dataFiles() map[string]string {
	e.t.Helper()
	ents, err := os.ReadDir(e.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ent := range ents {
		if ent.Name() == faultfs.FillerName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.Dir, ent.Name()))
		testkit.NoErr(e.t, err)
		out[ent.Name()] = string(b)
	}
	return out
}

// sameDataFiles fails unless the data directory holds files still.
func (e *relayEnv) sameDataFiles(t *testing.T, what string, files map[string]string) {
	t.Helper()
	if now := e.dataFiles(); !maps.Equal(now, files) {
		t.Fatalf("%s: the data directory changed from %v to %v", what, slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(now)))
	}
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
	ss := testkit.StartSecretService(t)
	c, e := backendEnv(t)
	e.useKeychain(ss)
	e.mustCLI(t, "login") // with an unlocked keychain
	files := e.dataFiles()
	if _, ok := files["tokens.age"]; !ok || files["key.age"] != "" || files["vault.json"] == "" {
		t.Fatalf("the keychain vault holds %v", slices.Sorted(maps.Keys(files)))
	}
	opens := e.opens()

	check := func(what, want string) {
		t.Helper()
		s := e.start()
		start := time.Now()
		text := s.fails(t, "whoami", "keychain", want)
		if took := time.Since(start); took > 8*time.Second {
			t.Fatalf("%s: the call took %v; the keychain timeout is 3 s", what, took)
		}
		t.Logf("%s: %q", what, text)
		if c.Leaks(text) {
			t.Fatalf("%s: the error leaks a token: %q", what, text)
		}
		e.sameDataFiles(t, what, files)
		if e.opens() != opens {
			t.Fatalf("%s: a browser opened", what)
		}
	}
	ss.Lock(t)
	check("locked", "unlock refused")

	// A first login on the locked keychain: no vault, no fallback.
	e2 := newRelayEnv(t, c)
	e2.useKeychain(ss)
	start := time.Now()
	if stderr := e2.Says(t, testkit.Failed, "login", "relay: error: ", "locked"); time.Since(start) > 8*time.Second {
		t.Fatalf("first login on a locked keychain took %v\n%s", time.Since(start), stderr)
	}
	if got := slices.Sorted(maps.Keys(e2.dataFiles())); len(got) > 1 || (len(got) == 1 && got[0] != "vault.lock") {
		t.Fatalf("a failed first login left %v", got)
	}
	if e2.opens() != 0 {
		t.Fatal("a browser opened for tokens that could not be stored")
	}

	ss.Freeze(t)
	check("silent", "no answer within")
}

// decrypts reports whether tokens.age decrypts, with the key file and
// without the vault's lock (which a read-only directory refuses), to a
// plaintext holding want.
func (e *relayEnv) decrypts(want string) bool {
	e.t.Helper()
	kb, err := os.ReadFile(e.KeyFile)
	testkit.NoErr(e.t, err)
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(kb)))
	testkit.NoErr(e.t, err)
	r, err := age.Decrypt(bytes.NewReader(e.tokensFile()), id)
	if err != nil {
		return false
	}
	plain, err := io.ReadAll(r)
	return err == nil && bytes.Contains(plain, []byte(want))
}

// errorLine returns the one "relay: error:" line of stderr.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	return lineOf(t, stderr, "relay: error: ")
}

// lineOf returns the one line of stderr that starts with prefix.
func lineOf(t *testing.T, stderr, prefix string) string {
	t.Helper()
	var found []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, prefix) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %q line, got %d in\n%s", prefix, len(found), stderr)
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
	c, e := backendEnv(t)
	faultfs.MountTmpfs(t, e.Dir)
	e.Vars["RELAY_LOG_LEVEL"] = "error"
	e.mustCLI(t, "login")
	e.expireStored()
	before, files := e.stored(t), e.dataFiles()
	check := func(what, want string) {
		t.Helper()
		stderr := e.Says(t, testkit.Failed, "login")
		line := errorLine(t, stderr)
		if !strings.Contains(line, want) || c.Leaks(stderr) {
			t.Fatalf("%s: error line %q; want it to say %q, without a token", what, line, want)
		}
		t.Logf("%s: %s", what, line)
		e.sameDataFiles(t, what, files)
		if !e.decrypts(before.RefreshToken.Reveal()) {
			t.Fatalf("%s: tokens.age no longer decrypts to the old refresh token", what)
		}
		if e.opens() != 1 {
			t.Fatalf("%s: a browser opened", what)
		}
	}

	faultfs.Remount(t, e.Dir, "ro")
	check("read-only", "read-only file system")
	faultfs.Remount(t, e.Dir, "rw")
	if r := e.stored(t); r == nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatal("read-write again: the old vault is not readable with its refresh token")
	}

	refreshes := c.Refreshes.Load()
	unfill := faultfs.Fill(t, e.Dir)
	check("full", "no space left on device")
	unfill()
	if r := e.stored(t); r == nil || !r.RefreshToken.Equal(before.RefreshToken) {
		t.Fatal("after the disk-full refresh: the old vault is not readable with its refresh token")
	}
	// The vault is probed before the refresh: a refresh that rotated the
	// refresh token at the server and could not store the new one would
	// cost the sign-in (the old one is then a reused token).
	if n := c.Refreshes.Load() - refreshes; n != 0 {
		t.Fatalf("%d refreshes reached the server on a full disk, want 0", n)
	}
	e.mustCLI(t, "login") // with space again
	if n := c.Refreshes.Load() - refreshes; n != 1 || e.opens() != 1 {
		t.Fatalf("with space again: %d refreshes (want 1), %d browser opens (want 1, the first login)", n, e.opens())
	}
}
