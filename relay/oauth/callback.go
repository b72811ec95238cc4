package oauth

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Limits of the loopback callback server (C12). They are variables so a
// test can shorten them.
var (
	readHeaderTimeout = 5 * time.Second
	replyWait         = 30 * time.Second // how long the page waits for the exchange
	shutdownGrace     = 2 * time.Second
)

const (
	maxHeaderBytes = 16 << 10
	maxQuery       = 8 << 10
)

// callbackResult is what the handler hands to Wait: a code, or the error
// that ends the login. Wait answers on reply whether the login succeeded,
// so the page can say so.
type callbackResult struct {
	code  secret.Value
	err   error
	reply chan bool
}

// serve starts the callback server on the bound listener.
func (l *Login) serve() {
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.handle),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readHeaderTimeout + 5*time.Second,
		WriteTimeout:      replyWait + 10*time.Second,
		IdleTimeout:       readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	var wg sync.WaitGroup
	for _, ln := range l.lns {
		wg.Go(func() { _ = l.srv.Serve(ln) })
	}
	go func() {
		wg.Wait()
		close(l.served)
	}()
}

// handle is the whole callback server. Only a GET of the callback path
// with the right Host header and the right state can affect the login.
// The path is compared as sent, so no other spelling (percent-encoded,
// say) of the configured one is served.
func (l *Login) handle(w http.ResponseWriter, r *http.Request) {
	switch {
	case !l.hostOK(r): // DNS rebinding (C9)
		l.refuse(w, http.StatusBadRequest, "foreign Host header")
	case r.URL.EscapedPath() != l.path: // (C10)
		l.refuse(w, http.StatusNotFound, "unknown path")
	case r.Method != http.MethodGet: // (C9)
		w.Header().Set("Allow", http.MethodGet)
		l.refuse(w, http.StatusMethodNotAllowed, "method not GET")
	case len(r.URL.RawQuery) > maxQuery: // (C12)
		l.refuse(w, http.StatusBadRequest, "query too long")
	default:
		l.callback(w, r)
	}
}

// hostOK is the DNS-rebinding check (C9). It accepts the HOST:PORT the
// redirect URI names, and the IP literal and port the connection arrived
// on ("127.0.0.1:PORT" on the IPv4 listener, "[::1]:PORT" on the IPv6 one),
// nothing else. With the default host the two are one. A rebinding attack
// needs a name the attacker resolves; an IP literal involves no resolver,
// and "localhost" is resolved by the machine (browsers pin it to
// loopback), so neither can carry an attacker's origin. Accepting the
// literal opens nothing new: a page could already send a request to
// 127.0.0.1 with the default host, and the state decides what counts. A
// literal naming the other listener's address is refused, as no honest
// client sends it.
func (l *Login) hostOK(r *http.Request) bool {
	if r.Host == l.host {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return ok && la.IP.IsLoopback() && r.Host == la.String()
}

// callback judges the authorization response. A response without the right
// state is refused and the wait goes on (C4, C6); the first one with the
// right state ends the login (C5, C8) and any later one is refused (C7).
func (l *Login) callback(w http.ResponseWriter, r *http.Request) {
	cb := parseCallback(r.URL.RawQuery, l.state, l.c.Metadata.Issuer, l.c.Metadata.AuthorizationResponseIssParameterSupported)
	if cb.outcome == cbReject {
		l.refuse(w, http.StatusBadRequest, cb.err.Error())
		return
	}
	if !l.accept() {
		l.refuse(w, http.StatusBadRequest, "callback already received or login over")
		return
	}
	res := callbackResult{code: cb.code, reply: make(chan bool, 1)}
	if cb.outcome == cbFail {
		res.err = cb.err
	}
	l.results <- res // never blocks: capacity 1, and accept lets one through
	l.respond(w, r, res.reply)
}

// accept lets exactly one authorization response through, and none once
// the login is over.
func (l *Login) accept() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	if l.accepted {
		return false
	}
	l.accepted = true
	return true
}

// respond waits for Wait's verdict and shows the matching static page.
func (l *Login) respond(w http.ResponseWriter, r *http.Request, reply <-chan bool) {
	w.Header().Set("Connection", "close")
	t := time.NewTimer(replyWait)
	defer t.Stop()
	select {
	case ok := <-reply:
		writeVerdict(w, ok)
	case <-t.C:
		writePage(w, http.StatusOK, pageReceived)
	case <-l.closed:
		select { // Wait replies before it closes: prefer its verdict
		case ok := <-reply:
			writeVerdict(w, ok)
		default:
			writePage(w, http.StatusOK, pageReceived)
		}
	case <-r.Context().Done():
	}
}

func writeVerdict(w http.ResponseWriter, ok bool) {
	if ok {
		writePage(w, http.StatusOK, pageSuccess)
		return
	}
	writePage(w, http.StatusBadRequest, pageFailure)
}

// refuse answers a request that does not affect the login. reason is ours,
// never a request value.
func (l *Login) refuse(w http.ResponseWriter, status int, reason string) {
	l.c.log().Debug("oauth: callback request refused", "status", status, "reason", reason)
	writePage(w, status, pageRefused)
}

// Callback outcomes.
const (
	cbReject  = iota // 400; the wait goes on
	cbFail           // the login ends with err
	cbSuccess        // the login goes on to the code exchange
)

type parsedCallback struct {
	outcome int
	code    secret.Value
	err     error
}

var (
	errMalformedQuery = errors.New("malformed query")
	errRepeatedParam  = errors.New("repeated parameter")
	errWrongState     = errors.New("missing or wrong state")
)

// parseCallback judges the query of a callback. Anything without exactly
// one state equal to ours is rejected without effect. With the right state,
// the response is the real one: both code and error, or neither, fail the
// login (C6); iss must match when present and is required when advertised
// (C8, checked on error responses too, RFC 9207 §2.4); error= fails it with
// that error (C5).
func parseCallback(rawQuery string, state secret.Value, issuer string, issRequired bool) parsedCallback {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return parsedCallback{outcome: cbReject, err: errMalformedQuery}
	}
	for _, vs := range q {
		if len(vs) > 1 {
			return parsedCallback{outcome: cbReject, err: errRepeatedParam}
		}
	}
	if !q.Has("state") || !state.Equal(secret.New(q.Get("state"))) {
		return parsedCallback{outcome: cbReject, err: errWrongState}
	}
	if err := checkResponse(q, issuer, issRequired); err != nil {
		return parsedCallback{outcome: cbFail, err: err}
	}
	return parsedCallback{outcome: cbSuccess, code: secret.New(q.Get("code"))}
}

// checkResponse checks an authorization response whose state is right.
func checkResponse(q url.Values, issuer string, issRequired bool) error {
	switch {
	case q.Has("code") && q.Has("error"):
		return fmt.Errorf("%w: both code and error", ErrBadCallback)
	case q.Has("iss") && q.Get("iss") != issuer:
		return fmt.Errorf("%w: iss in the authorization response is another issuer", ErrIssuerMismatch)
	case !q.Has("iss") && issRequired:
		return fmt.Errorf("%w: iss missing from the authorization response, and the server advertises it", ErrIssuerMismatch)
	case q.Has("error"):
		return newError(q.Get("error"), q.Get("error_description"))
	case q.Get("code") == "":
		return fmt.Errorf("%w: no code", ErrBadCallback)
	}
	return nil
}
