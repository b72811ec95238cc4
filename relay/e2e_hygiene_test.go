package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/internal/testkit/chain"
	"github.com/keyrelay/keyrelay/vault"
)

// This file is the secret-hygiene test: one full relay session at debug
// level, with the vault key in the real OS keychain (Secret Service) and a
// confidential client secret, after which every code, verifier, token, the
// client secret and the vault key are searched for in everything the relay
// wrote or handed to others: the stderr of every process, the stdout of
// every CLI command, what the MCP client received, every file under the
// directories it was given, the keychain, and the argv and environment of
// the browser it started.

// leakWindow is the length of the substrings of each secret that are
// searched for besides the whole value: a leak of any 16 characters of a
// secret's random part counts.
const leakWindow = 16

// cannedAnswer is a scripted answer served instead of the real one, once.
type cannedAnswer struct {
	name        string
	status      int
	contentType string
	body        func(form url.Values, bearer string) string
}

// recorder sits at the token and revocation endpoints (chain's Token)
// and in front of the backend: it serves scripted faults, and removes the
// client secret the built-in server (public clients only) does not
// expect, counting the requests that carried it. The chain records the
// secrets.
type recorder struct {
	mu         sync.Mutex
	withSecret int // token and revocation requests that carried client_secret
	without    int // ... that did not
	faults     map[string][]cannedAnswer
	served     []string
}

// arm queues a fault for the next request matching key: "token:" plus a
// grant type, or "tool:" plus a tool name.
func (h *recorder) arm(key string, f ...cannedAnswer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[key] = append(h.faults[key], f...)
}

func (h *recorder) take(key string) (cannedAnswer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.faults[key]
	if len(q) == 0 {
		return cannedAnswer{}, false
	}
	h.faults[key] = q[1:]
	h.served = append(h.served, q[0].name)
	return q[0], true
}

func (h *recorder) servedFaults() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.served...)
}

func (h *recorder) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.faults {
		n += len(q)
	}
	return n
}

func serveCanned(w http.ResponseWriter, f cannedAnswer, form url.Values, bearer string) bool {
	w.Header().Set("Content-Type", f.contentType)
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body(form, bearer))
	return true
}

// token is the chain's Token hook.
func (h *recorder) token(w http.ResponseWriter, r *http.Request, form url.Values) bool {
	h.mu.Lock()
	if form.Get("client_secret") != "" {
		h.withSecret++
	} else {
		h.without++
	}
	h.mu.Unlock()
	form.Del("client_secret")
	if f, ok := h.take("token:" + form.Get("grant_type")); ok && r.URL.Path == "/token" {
		return serveCanned(w, f, form, "")
	}
	return false
}

// postSecretMetadata serves the built-in server's metadata saying that it
// takes the client secret in the form (client_secret_post). The server
// takes public clients only and says so (none), so the relay would not
// send its secret at all; the recorder removes it before the server sees
// it.
func postSecretMetadata(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	var md map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
		http.Error(w, "metadata: "+err.Error(), http.StatusInternalServerError)
		return
	}
	md["token_endpoint_auth_methods_supported"] = []string{"client_secret_post"}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(md)
}

// newRecordingChain is a chain with the recorder at its token endpoint
// and in front of its backend.
func newRecordingChain(t *testing.T) (*chain.Server, *recorder) {
	t.Helper()
	h := &recorder{faults: map[string][]cannedAnswer{}}
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/oauth-authorization-server" {
				postSecretMetadata(w, r, next)
				return
			}
			bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if name, ok := strings.CutPrefix(r.URL.Path, "/mcp/tools/"); ok && r.Method == http.MethodPost {
				if f, ok := h.take("tool:" + name); ok {
					serveCanned(w, f, nil, bearer)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	return chain.Start(t, chain.Options{Token: h.token, Wrap: wrap}), h
}

// secretToolKeychain reads this test's Secret Service through secret-tool: the
// test process's own D-Bus connection is the shared session's.
type secretToolKeychain struct {
	t  *testing.T
	ss *testkit.SecretService
}

func (k secretToolKeychain) Get(_ context.Context, account string) (secret.Value, error) {
	out, err := k.ss.SecretTool(k.t, "lookup", "service", vault.DefaultService, "username", account).Output()
	if err != nil || len(out) == 0 {
		return secret.Value{}, fmt.Errorf("secret-tool lookup: %v: %w", err, vault.ErrNotFound)
	}
	return secret.New(string(out)), nil
}

func (secretToolKeychain) Set(context.Context, string, secret.Value) error {
	return errors.New("secretToolKeychain: read only")
}

func (secretToolKeychain) DeleteAll(context.Context) error {
	return errors.New("secretToolKeychain: read only")
}

// keychainSecrets returns the secrets of every keychain item of the
// keyrelay service, as secret-tool (a client other than the relay) sees
// them, and the whole listing.
func keychainSecrets(t *testing.T, ss *testkit.SecretService) ([]string, string) {
	t.Helper()
	out, err := ss.SecretTool(t, "search", "--all", "service", vault.DefaultService).CombinedOutput()
	if err != nil && len(out) > 0 {
		t.Fatalf("secret-tool search: %v", err)
	}
	var secrets []string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "secret = "); ok {
			secrets = append(secrets, v)
		}
	}
	return secrets, string(out)
}

// vaultID reads the vault id (it names the keychain item) from vault.json.
func vaultID(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "vault.json"))
	testkit.NoErr(t, err)
	var m struct {
		ID        string `json:"id"`
		KeySource string `json:"key_source"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		t.Fatalf("vault.json: %v", err)
	}
	if m.KeySource != "keychain" {
		t.Fatalf("the vault key source is %q, want keychain", m.KeySource)
	}
	return m.ID
}

// keychainVault opens the relay's vault with its key from the keychain
// (in ss), as secret-tool reads it, from the test process.
func keychainVault(t *testing.T, dir string, ss *testkit.SecretService) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), vault.Options{Dir: dir, KeySpec: "keychain", Keychain: secretToolKeychain{t, ss}})
	testkit.NoErr(t, err)
	return v
}

// bech32Bytes decodes the data part of a Bech32 string (an age key)
// without checking the checksum.
func bech32Bytes(s string) ([]byte, error) {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	s = strings.ToLower(s)
	i := strings.LastIndexByte(s, '1')
	if i < 0 || len(s)-i-1 < 6 {
		return nil, errors.New("not bech32")
	}
	var out []byte
	var acc, bits uint
	for _, ch := range s[i+1 : len(s)-6] {
		v := strings.IndexRune(charset, ch)
		if v < 0 {
			return nil, errors.New("not bech32")
		}
		acc, bits = acc<<5|uint(v), bits+5
		for bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
		acc &= 1<<bits - 1
	}
	return out, nil
}

// vaultKeyForms returns an age identity string in every encoding that might
// be stored or printed: as is, lower case, and its raw 32 bytes raw, in
// hex and in base64. It checks the decoding: the raw scalar must give the
// identity's recipient.
func vaultKeyForms(t *testing.T, key string) map[string][]byte {
	t.Helper()
	id, err := age.ParseX25519Identity(strings.TrimSpace(key))
	testkit.NoErr(t, err, "the keychain item is not an age X25519 identity")
	raw, err := bech32Bytes(id.String())
	if err != nil || len(raw) != 32 {
		t.Fatalf("decoding the vault key: %v (%d bytes)", err, len(raw))
	}
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	testkit.NoErr(t, err)
	pub, _ := bech32Bytes(id.Recipient().String())
	if !bytes.Equal(priv.PublicKey().Bytes(), pub) {
		t.Fatal("the decoded vault key does not match its recipient: the decoder is wrong")
	}
	return map[string][]byte{
		"vault key":                 []byte(id.String()),
		"vault key (lower case)":    []byte(strings.ToLower(id.String())),
		"vault key (raw bytes)":     raw,
		"vault key (hex)":           []byte(hex.EncodeToString(raw)),
		"vault key (base64)":        []byte(base64.StdEncoding.EncodeToString(raw)),
		"vault key (base64url)":     []byte(base64.RawURLEncoding.EncodeToString(raw)),
		"vault key (base64, raw)":   []byte(base64.RawStdEncoding.EncodeToString(raw)),
		"vault key (hex, upper)":    []byte(strings.ToUpper(hex.EncodeToString(raw))),
		"vault key (base64url pad)": []byte(base64.URLEncoding.EncodeToString(raw)),
	}
}

// detector finds secrets: whole values, and any leakWindow-byte window
// of each value's random part. It reports kinds and places, never values.
type detector struct {
	full  []needle
	win   map[string]string
	kinds map[string]int
}

type needle struct {
	kind string
	b    []byte
}

func newDetector() *detector {
	return &detector{win: map[string]string{}, kinds: map[string]int{}}
}

// add registers a secret: v is searched for whole, and every window of
// core (v without its public, constant parts) too.
func (d *detector) add(kind string, v, core []byte) {
	if len(v) == 0 {
		return
	}
	d.kinds[kind]++
	d.full = append(d.full, needle{kind, v})
	for i := 0; i+leakWindow <= len(core); i++ {
		d.win[string(core[i:i+leakWindow])] = kind
	}
}

// addToken registers a token, splitting a JWT: its header is public and
// the same for every token, so only the payload and the signature are
// windowed, and the signature alone is searched for too.
func (d *detector) addToken(kind, tok string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		d.add(kind, []byte(tok), []byte(tok))
		return
	}
	d.add(kind, []byte(tok), []byte(parts[1]+"."+parts[2]))
	d.add(kind+" (JWT signature)", []byte(parts[2]), []byte(parts[2]))
}

// addKeyForms registers the vault key's forms (vaultKeyForms); the
// prefix of an age key is the same for every key, so it is not windowed.
func (d *detector) addKeyForms(forms map[string][]byte) {
	for kind, b := range forms {
		core := b
		if len(b) > 16 && bytes.EqualFold(b[:16], []byte("AGE-SECRET-KEY-1")) {
			core = b[16:]
		}
		d.add(kind, b, core)
	}
}

// scan returns one finding per kind found in hay.
func (d *detector) scan(where string, hay []byte) []string {
	found := map[string]int{}
	for _, n := range d.full {
		if _, ok := found[n.kind]; !ok {
			if i := bytes.Index(hay, n.b); i >= 0 {
				found[n.kind] = i
			}
		}
	}
	for i := 0; i+leakWindow <= len(hay); i++ {
		if kind, ok := d.win[string(hay[i:i+leakWindow])]; ok {
			if _, dup := found[kind+" (16-byte part)"]; !dup {
				found[kind+" (16-byte part)"] = i
			}
		}
	}
	var out []string
	for kind, i := range found {
		out = append(out, fmt.Sprintf("%s: %s at byte %d, after %q", where, kind, i, hay[max(0, i-24):i]))
	}
	sort.Strings(out)
	return out
}

// scanTree scans each of files, named after its path with prefix.
func (d *detector) scanTree(prefix string, files map[string][]byte) []string {
	var out []string
	for p, b := range files {
		out = append(out, d.scan(prefix+p, b)...)
	}
	return out
}

// readTree reads every regular file under root. Other kinds of entries
// (sockets, fifos) are listed with empty contents.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case de.IsDir():
			return nil
		case de.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			files[p] = []byte(target)
			return err
		case !de.Type().IsRegular():
			files[p] = nil
			return nil
		}
		b, err := os.ReadFile(p)
		files[p] = b
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}

// randomValue is an obviously fake, unique test value.
func randomValue(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// jsonEscape writes s with every character \u-escaped, as a server may
// legally do: a byte-level scrub of the raw body does not see it.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// markers are unique strings put in error answers; which of them may
// reach the relay's output is checked at the end.
type markers struct {
	html, uri, extra, desc, codeDesc, codeExtra, backendDesc, backendExtra, backend500 string
}

func newMarkers() markers {
	return markers{
		html: randomValue("MARKER-HTML-"), uri: randomValue("MARKER-URI-"), extra: randomValue("MARKER-EXTRA-"),
		desc: randomValue("MARKER-DESC-"), codeDesc: randomValue("MARKER-CODEDESC-"), codeExtra: randomValue("MARKER-CODEEXTRA-"),
		backendDesc: randomValue("MARKER-BACKENDDESC-"), backendExtra: randomValue("MARKER-BACKENDEXTRA-"), backend500: randomValue("MARKER-BACKEND500-"),
	}
}

// tokenFaults are the token endpoint's scripted errors: a non-JSON 502
// that echoes the refresh token, an invalid_grant whose fields carry
// markers, control characters, a forged log line and the refresh token
// and client secret (\u-escaped), and an error for the code exchange that
// echoes the code and the verifier.
func (m markers) tokenFaults(clientSecret string) (refresh []cannedAnswer, code cannedAnswer) {
	refresh = []cannedAnswer{{
		name: "token 502 html", status: http.StatusBadGateway, contentType: "text/html",
		body: func(f url.Values, _ string) string {
			return "<html><body><h1>502</h1>" + m.html + " refresh_token=" + f.Get("refresh_token") + "</body></html>"
		},
	}, {
		name: "token invalid_grant", status: http.StatusBadRequest, contentType: "application/json",
		body: func(f url.Values, _ string) string {
			desc := m.desc + ` \u001b[31mred\u001b[0m\nlevel=ERROR msg=forged rt=` + jsonEscape(f.Get("refresh_token")) +
				` cs=` + jsonEscape(clientSecret)
			return `{"error":"invalid_grant","error_description":"` + desc + `","error_uri":"https://example.invalid/` + m.uri +
				`","trace_id":"` + m.extra + `","refresh_token":"` + f.Get("refresh_token") + `"}`
		},
	}}
	code = cannedAnswer{
		name: "token code error", status: http.StatusBadRequest, contentType: "application/json",
		body: func(f url.Values, _ string) string {
			return `{"error":"invalid_request","error_description":"` + m.codeDesc + ` code=` + f.Get("code") + ` verifier=` +
				f.Get("code_verifier") + `","debug":"` + m.codeExtra + ` ` + f.Get("code") + `"}`
		},
	}
	return refresh, code
}

// backendFaults: a 400 with a marker in its error_description and one
// in another field, and a 500 whose body echoes the access token. (A 400
// that echoes the token is TestHygiene_BackendErrorEchoingTheToken.)
func (m markers) backendFaults() []cannedAnswer {
	return []cannedAnswer{{
		name: "backend 400", status: http.StatusBadRequest, contentType: "application/json",
		body: func(_ url.Values, _ string) string {
			return `{"error":"invalid_request","error_description":"` + m.backendDesc + ` \u001b[2J bad request","detail":"` + m.backendExtra + `"}`
		},
	}, {
		name: "backend 500", status: http.StatusInternalServerError, contentType: "text/plain",
		body: func(_ url.Values, bearer string) string { return m.backend500 + " panic: token " + bearer + "\n" },
	}}
}

// outputLog collects everything the relay wrote or passed on, by place.
type outputLog struct {
	mu    sync.Mutex
	names []string
	data  map[string][]byte
}

func (o *outputLog) put(where string, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.data == nil {
		o.data = map[string][]byte{}
	}
	if _, ok := o.data[where]; !ok {
		o.names = append(o.names, where)
	}
	o.data[where] = append(o.data[where], b...)
}

func (o *outputLog) all() string {
	var b strings.Builder
	for _, n := range o.names {
		b.Write(o.data[n])
		b.WriteByte('\n')
	}
	return b.String()
}

// browserWrapper writes a $BROWSER script that dumps its own argv and
// environment (as the kernel has them, /proc/$$) into dir, then execs the
// fakebrowser with the same arguments and environment.
func browserWrapper(t *testing.T, dir, browser string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "browser.sh")
	text := "#!/bin/sh\ncat /proc/$$/cmdline > '" + dir + "/argv.'$$\ncat /proc/$$/environ > '" + dir + "/environ.'$$\nexec '" + browser + "' \"$@\"\n"
	testkit.NoErr(t, os.WriteFile(script, []byte(text), 0o700))
	return script
}

// leakRun is one hygiene session: the chain, the relay's environment and
// everything the relay wrote or passed on.
type leakRun struct {
	t            *testing.T
	ss           *testkit.SecretService // holds the vault key
	c            *chain.Server
	rec          *recorder
	e            *relayEnv
	m            markers
	clientSecret string
	dirs         []string // every directory the relay was given: HOME (with the data dir), TMPDIR, XDG_RUNTIME_DIR
	dumps        string   // the browser wrapper's dumps
	out          outputLog
	results      strings.Builder // what the MCP client received (serve's stdout)
	sessions     []*session
}

// newLeakRun sets up a relay with the vault key in the OS keychain (ss), a
// confidential client secret, debug logs and private HOME, TMPDIR and
// XDG_RUNTIME_DIR.
func newLeakRun(t *testing.T, ss *testkit.SecretService) *leakRun {
	c, rec := newRecordingChain(t)
	r := &leakRun{t: t, ss: ss, c: c, rec: rec, e: newRelayEnv(t, c), m: newMarkers(), clientSecret: randomValue("fake-client-secret-")}
	browser := testkit.FakeBrowser(t)
	home, tmp, run := r.e.Vars["HOME"], t.TempDir(), t.TempDir()
	r.dirs, r.dumps = []string{home, tmp, run}, t.TempDir()
	testkit.NoErr(t, os.Chmod(run, 0o700))
	for k, v := range map[string]string{
		"RELAY_VAULT_KEY": "keychain", "RELAY_CLIENT_SECRET": r.clientSecret, "RELAY_LOG_LEVEL": "debug",
		"DBUS_SESSION_BUS_ADDRESS": ss.Addr, "TMPDIR": tmp, "XDG_RUNTIME_DIR": run,
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"), "XDG_CACHE_HOME": filepath.Join(home, ".cache"),
		"XDG_STATE_HOME": filepath.Join(home, ".local", "state"), "BROWSER": browserWrapper(t, r.dumps, browser),
	} {
		r.e.Vars[k] = v
	}
	return r
}

func (r *leakRun) start() *session {
	s := r.e.start()
	r.sessions = append(r.sessions, s)
	return s
}

func (r *leakRun) call(s *session, name string, args map[string]any) (string, bool) {
	r.t.Helper()
	text, isErr := s.Call(r.t, name, args)
	r.results.WriteString(text + "\n")
	return text, isErr
}

func (r *leakRun) mustCall(s *session, name string, args map[string]any) string {
	r.t.Helper()
	text, isErr := r.call(s, name, args)
	if isErr {
		r.t.Fatalf("%s failed: %s\n%s", name, text, s.Stderr.String())
	}
	return text
}

// cli runs a relay command and keeps its stdout and stderr.
func (r *leakRun) cli(args ...string) (string, string, int) {
	r.t.Helper()
	out, errs, code := r.e.Run(r.t, args...)
	name := "relay " + strings.Join(args, " ")
	r.out.put(name+" stdout", []byte(out))
	r.out.put(name+" stderr", []byte(errs))
	return out, errs, code
}

// serveSession: one relay with calls, a 401 mid-session (refresh and
// retry), a step-up and two backend errors.
func (r *leakRun) serveSession() {
	t := r.t
	s := r.start()
	r.mustCall(s, "whoami", nil)
	r.mustCall(s, "create_note", map[string]any{"text": "a harmless note"})
	r.c.RevokeSeen()
	testkit.Contains(t, "after a 401", r.mustCall(s, "whoami", nil), "alice")
	r.mustCall(s, "admin_stats", nil)
	r.rec.arm("tool:whoami", r.m.backendFaults()...)
	for range 2 {
		if text, isErr := r.call(s, "whoami", nil); !isErr {
			t.Fatalf("a backend error gave no error: %s", text)
		}
	}
	r.mustCall(s, "whoami", nil)
}

// refreshSession: a new relay refreshes an expired token.
func (r *leakRun) refreshSession() {
	expire(r.t, keychainVault(r.t, r.e.Dir, r.ss), r.e.account())
	refreshes := r.c.Refreshes.Load()
	r.mustCall(r.start(), "whoami", nil)
	if r.c.Refreshes.Load() != refreshes+1 {
		r.t.Fatalf("%d refreshes, want %d", r.c.Refreshes.Load(), refreshes+1)
	}
}

// tokenErrorSession: the refresh answers a 502 page, then invalid_grant;
// the sign-in that follows fails at the code exchange; a later call
// succeeds.
func (r *leakRun) tokenErrorSession() {
	expire(r.t, keychainVault(r.t, r.e.Dir, r.ss), r.e.account())
	refresh, codeErr := r.m.tokenFaults(r.clientSecret)
	r.rec.arm("token:refresh_token", refresh...)
	r.rec.arm("token:authorization_code", codeErr)
	s := r.start()
	ok := false
	for i := 0; i < 5 && !ok; i++ {
		_, isErr := r.call(s, "whoami", nil)
		ok = !isErr
	}
	if !ok || r.rec.pending() != 0 {
		r.t.Fatalf("after the token errors: ok=%v, %d faults not served (served %v)\n%s", ok, r.rec.pending(), r.rec.servedFaults(), s.Stderr.String())
	}
}

// keychainKey reads the vault key as another client of the Secret Service
// sees it, checks that the vault's keychain API returns the same, and
// returns its encodings and the keychain listing.
func (r *leakRun) keychainKey() (map[string][]byte, string) {
	t := r.t
	items, listing := keychainSecrets(t, r.ss)
	if len(items) != 1 {
		t.Fatalf("%d keyrelay keychain items, want exactly 1 (the vault key)", len(items))
	}
	// go-keyring stores items with the attributes service and username.
	kc, err := r.ss.SecretTool(t, "lookup", "service", vault.DefaultService, "username", "vault-key-"+vaultID(t, r.e.Dir)).Output()
	if err != nil || string(kc) != items[0] {
		t.Fatalf("the item named after the vault id is not the one secret-tool lists: %v", err)
	}
	return vaultKeyForms(t, items[0]), listing
}

// files reads every file under the directories the relay was given.
func (r *leakRun) files() map[string][]byte {
	all := map[string][]byte{}
	for _, d := range r.dirs {
		for p, b := range readTree(r.t, d) {
			all[p] = b
		}
	}
	return all
}

// scan looks for every secret in every output, file (before and after
// logout), browser argv and environment, and in the keychain listing
// (which may hold the vault key and nothing else).
func (r *leakRun) scan(d, keychainDetector *detector, listing string, trees ...map[string][]byte) []string {
	for i, s := range r.sessions {
		r.out.put(fmt.Sprintf("relay serve #%d stderr", i+1), []byte(s.Stderr.String()))
	}
	r.out.put("MCP results (relay serve stdout)", []byte(r.results.String()))
	var findings []string
	for _, n := range r.out.names {
		findings = append(findings, d.scan(n, r.out.data[n])...)
	}
	for _, files := range trees {
		findings = append(findings, d.scanTree("file ", files)...)
	}
	findings = append(findings, scanChildren(r.t, d, r.dumps)...)
	return append(findings, keychainDetector.scan("keychain items (secret-tool)", []byte(listing))...)
}

// TestHygiene_FullSessionLeaksNothing runs a full session at debug level
// with a confidential client and the vault key in the real OS keychain:
// `relay login` in the browser; in `relay serve`, tool calls, a 401 mid-
// session (refresh and retry), a step-up, backend errors; an expired token
// refreshed by a new process; token endpoint errors (non-JSON,
// invalid_grant and a failed code exchange, each echoing the secrets the
// request carried); `relay status`; `relay logout`. Then no code,
// verifier, token, client secret or vault key, whole or any 16 characters
// of it, may appear in any output, file, keychain item other than the
// key's own, or browser argv or environment.
func TestHygiene_FullSessionLeaksNothing(t *testing.T) {
	ss := testkit.StartSecretService(t)
	if items, _ := keychainSecrets(t, ss); len(items) != 0 {
		t.Fatalf("%d keyrelay keychain items in a new private keyring", len(items))
	}
	r := newLeakRun(t, ss)
	if _, stderr, code := r.cli("login"); code != 0 || !strings.Contains(stderr, "signed in as alice") {
		t.Fatalf("relay login: %d %s", code, stderr)
	}
	r.serveSession()
	r.refreshSession()
	r.tokenErrorSession()
	st, _, code := r.cli("status")
	if code != 0 || !strings.Contains(st, "logged in as alice") || !strings.Contains(st, "key source:  keychain") {
		t.Fatalf("relay status: %d %s", code, st)
	}
	if _, _, code := r.cli("status", "--json"); code != 0 {
		t.Fatalf("relay status --json: %d", code)
	}
	keyForms, listing := r.keychainKey()
	for _, s := range r.sessions {
		_ = s.Client.Close()
	}
	before := r.files()
	if b := before[filepath.Join(r.e.Dir, "tokens.age")]; !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
		t.Fatal("tokens.age is missing or not an age file")
	}
	if _, lo, code := r.cli("logout"); code != 0 || !strings.Contains(lo, "revoked") || !strings.Contains(lo, "no credential of keyrelay remains") {
		t.Fatalf("relay logout: %d %s", code, lo)
	}
	if left, _ := keychainSecrets(t, ss); len(left) != 0 {
		t.Fatalf("%d keychain items remain after logout", len(left))
	}
	after := r.files()

	d := buildDetector(r.c, r.clientSecret, keyForms)
	for _, f := range r.scan(d, buildDetector(r.c, r.clientSecret, nil), listing, before, after) {
		t.Error("secret leaked: " + f)
	}
	r.rec.mu.Lock()
	with, without := r.rec.withSecret, r.rec.without
	r.rec.mu.Unlock()
	if with == 0 || without != 0 {
		t.Errorf("%d token and revocation requests carried the client secret and %d did not: the confidential client was not exercised", with, without)
	}
	checkMarkers(t, &r.out, r.m, before, after)
	checkPopulated(t, d, &r.out, r.c)
	checkDetectorSeesTree(t, d, r.c, r.e.Dir)
	t.Logf("searched %d values and %d windows %v in %d outputs, %d files, the keychain and the browser's argv and environment; faults served: %v",
		len(d.full), len(d.win), d.kinds, len(r.out.names), len(before), r.rec.servedFaults())
}

// buildDetector builds the searched set from everything the chain
// recorded. keyForms nil leaves the vault key out.
func buildDetector(c *chain.Server, clientSecret string, keyForms map[string][]byte) *detector {
	d := newDetector()
	for kind, vs := range c.SecretsByKind() {
		for _, v := range vs {
			if kind == "access token" {
				d.addToken(kind, v)
			} else {
				d.add(kind, []byte(v), []byte(v))
			}
		}
	}
	d.add("client secret (configured)", []byte(clientSecret), []byte(strings.TrimPrefix(clientSecret, "fake-client-secret-")))
	d.addKeyForms(keyForms)
	return d
}

// scanChildren checks the argv and environment of every browser the
// relay started.
func scanChildren(t *testing.T, d *detector, dumps string) []string {
	t.Helper()
	files := readTree(t, dumps)
	var findings []string
	n := 0
	for p, b := range files {
		if strings.HasPrefix(filepath.Base(p), "environ.") {
			n++
			for _, kv := range bytes.Split(b, []byte{0}) {
				if bytes.HasPrefix(kv, []byte("RELAY_CLIENT_SECRET=")) {
					findings = append(findings, p+": RELAY_CLIENT_SECRET is set in the browser's environment")
				}
			}
		}
	}
	findings = append(findings, d.scanTree("browser ", files)...)
	if n < 3 {
		t.Errorf("%d browser environments dumped, want at least 3 (login, step-up, sign-in after invalid_grant)", n)
	}
	return findings
}

// checkMarkers: what the error answers carried must not reach the
// relay's output raw. The error code and a sanitised error_description
// may (the relay shows them on purpose); every other field, a non-JSON
// body and any control character must not.
func checkMarkers(t *testing.T, o *outputLog, m markers, trees ...map[string][]byte) {
	t.Helper()
	text := o.all()
	if strings.ContainsRune(text, 0x1b) {
		t.Error("an escape character from an error answer reached the relay's output")
	}
	if strings.Contains(text, "\nlevel=ERROR msg=forged") {
		t.Error("an error_description forged a log line")
	}
	all := text
	for _, files := range trees {
		for p, b := range files {
			all += "\n" + p + "\n" + string(b)
		}
	}
	for name, marker := range map[string]string{
		"a non-JSON token error body": m.html, "a token error's error_uri": m.uri, "an unknown field of a token error": m.extra,
		"an unknown field of a code exchange error": m.codeExtra, "a backend 500 body": m.backend500,
		"an unknown field of a backend 400": m.backendExtra,
	} {
		if strings.Contains(all, marker) {
			t.Errorf("%s reached the relay's output or files", name)
		}
	}
	testkit.Contains(t, "the relay's output does not say", all, "invalid_grant", "502", "invalid_request")
	// Report, not enforce: the relay shows error_description sanitised.
	for name, marker := range map[string]string{"invalid_grant": m.desc, "code exchange": m.codeDesc, "backend 400": m.backendDesc} {
		t.Logf("%s error_description shown (sanitised) by the relay: %v", name, strings.Contains(all, marker))
	}
}

// checkPopulated makes sure the test cannot pass vacuously.
func checkPopulated(t *testing.T, d *detector, o *outputLog, c *chain.Server) {
	t.Helper()
	for kind, want := range map[string]int{
		"authorization code": 3, "PKCE verifier": 3, "access token": 4, "access token (JWT signature)": 4,
		"refresh token": 4, "revoked token": 1, "client secret": 1, "client secret (configured)": 1,
		"vault key": 1, "vault key (raw bytes)": 1, "vault key (base64)": 1,
	} {
		if d.kinds[kind] < want {
			t.Errorf("%d values of kind %q captured, want at least %d: the spy or the session is broken", d.kinds[kind], kind, want)
		}
	}
	var serveErr string
	for _, n := range o.names {
		if strings.HasPrefix(n, "relay serve") {
			serveErr += string(o.data[n])
		}
	}
	testkit.Contains(t, "no debug logs from relay serve", serveErr, "level=DEBUG", "oauth: token request")
	if c.Codes.Load() < 2 || c.Refreshes.Load() < 3 { // the faulted ones do not reach it
		t.Errorf("%d code exchanges and %d refreshes reached the server, want at least 2 and 3", c.Codes.Load(), c.Refreshes.Load())
	}
}

// checkDetectorSeesTree plants 20 characters from the middle of a
// refresh token in a new file of the data directory and checks that the
// tree scan finds exactly that, so a broken walk or detector cannot pass.
func checkDetectorSeesTree(t *testing.T, d *detector, c *chain.Server, dir string) {
	t.Helper()
	rts := c.SecretsByKind()["refresh token"]
	if len(rts) == 0 {
		return
	}
	rt := rts[0]
	planted := filepath.Join(dir, "sub", "planted.log")
	writeFile(t, planted, []byte("noise "+rt[10:30]+" noise"))
	defer os.RemoveAll(filepath.Dir(planted))
	hits := d.scanTree("", readTree(t, filepath.Dir(dir)))
	if len(hits) != 1 || !strings.Contains(hits[0], "planted.log: refresh token (16-byte part)") {
		t.Fatalf("the detector missed a planted secret or found others: %q", hits)
	}
}

// TestHygiene_BackendErrorEchoingTheToken: a backend that echoes the
// presented access token in a 400's error_description (verbatim, or
// JSON-escaped) must not get it into the relay's log or the tool result.
// The oauth package scrubs the secrets a request carried from a token
// endpoint's error_description; the backend path must do the same.
func TestHygiene_BackendErrorEchoingTheToken(t *testing.T) {
	c, rec := newRecordingChain(t)
	e := newRelayEnv(t, c)
	s := e.start()
	s.whoami(t)
	rec.arm("tool:whoami", cannedAnswer{
		name: "backend 400 echo", status: http.StatusBadRequest, contentType: "application/json",
		body: func(_ url.Values, bearer string) string {
			return `{"error":"invalid_token","error_description":"bad token ` + bearer + `"}`
		},
	}, cannedAnswer{
		name: "backend 400 escaped echo", status: http.StatusBadRequest, contentType: "application/json",
		body: func(_ url.Values, bearer string) string {
			return `{"error":"invalid_token","error_description":"bad token ` + jsonEscape(bearer) + `"}`
		},
	})
	var results strings.Builder
	for range 2 {
		results.WriteString(s.fails(t, "whoami", "400") + "\n")
	}
	d := newDetector()
	for _, tok := range c.SecretsByKind()["access token"] {
		d.addToken("access token", tok)
	}
	if d.kinds["access token"] == 0 {
		t.Fatal("no access token recorded")
	}
	for _, f := range append(d.scan("relay serve stderr", []byte(s.Stderr.String())), d.scan("tool result", []byte(results.String()))...) {
		t.Error("secret leaked: " + f)
	}
}

// TestHygiene_DetectorFindsPlantedSecrets checks the detector and the tree
// walk on planted secrets, so the session test cannot pass because they
// are blind: whole values, a JWT's signature alone, 16 characters from
// the middle of a value, the vault key's raw bytes in a binary file and
// in base64, its lower-case form; and nothing in clean files.
func TestHygiene_DetectorFindsPlantedSecrets(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	testkit.NoErr(t, err)
	forms := vaultKeyForms(t, id.String())
	other, _ := age.GenerateX25519Identity() // same prefix, another key: no finding
	jwt := "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","jti":"`+randomValue("")+`"}`)) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(randomValue("sig-")))
	rt := randomValue("fake-refresh-")
	d := newDetector()
	d.addToken("access token", jwt)
	d.add("refresh token", []byte(rt), []byte(rt))
	d.addKeyForms(forms)
	sig := jwt[strings.LastIndexByte(jwt, '.')+1:]
	dir := t.TempDir()
	plant := map[string]struct {
		content []byte
		want    string // "" for clean
	}{
		"a/full.log":       {[]byte("x " + rt + " y"), "refresh token at"},
		"a/b/middle.txt":   {[]byte("..." + rt[7:7+leakWindow] + "..."), "refresh token (16-byte part)"},
		"sig.txt":          {[]byte("sig=" + sig), "access token (JWT signature) at"},
		"key.bin":          {append([]byte{0, 1, 2}, forms["vault key (raw bytes)"]...), "vault key (raw bytes) at"},
		"key.b64":          {forms["vault key (base64)"], "vault key (base64) at"},
		"key.lower":        {forms["vault key (lower case)"], "vault key (lower case) at"},
		"clean.log":        {[]byte("level=DEBUG msg=ok client_id=relay " + other.String() + " eyJhbGciOiJFUzI1NiJ9."), ""},
		"a/empty":          {nil, ""},
		"other-header.jwt": {[]byte(jwt[:strings.IndexByte(jwt, '.')+1]), ""},
	}
	for name, p := range plant {
		writeFile(t, filepath.Join(dir, name), p.content)
	}
	files := readTree(t, dir)
	if len(files) != len(plant) {
		t.Fatalf("the walk read %d files, want %d", len(files), len(plant))
	}
	for name, p := range plant {
		hits := d.scan(name, files[filepath.Join(dir, name)])
		found := false
		for _, h := range hits {
			found = found || (p.want != "" && strings.Contains(h, ": "+p.want))
		}
		if p.want == "" && len(hits) != 0 || p.want != "" && !found {
			t.Errorf("%s: want %q, got %q", name, p.want, hits)
		}
	}
}
