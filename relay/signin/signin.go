// Package signin shows a pending OAuth sign-in to the person.
//
// UI shows it through their MCP client: an MCP log message with the URL,
// and, when the request that needs the sign-in carries a progress token,
// progress notifications every 2 s until it ends (the first one carries
// the URL: in the 2026-07-28 era it is the only channel that reaches the
// person without the client asking for logs).
//
// Terminal shows it on stderr for the commands run by hand (relay login,
// logout, status): the URL or the device code, a note when the vault's
// lock keeps them waiting for another relay's sign-in, and the vault
// passphrase prompt.
//
// Security properties: only the authorization URL (state and PKCE
// challenge, never the verifier) and the device grant's user code are
// shown; no token passes through here. The passphrase is read without
// echo and returned as a secret.Value, never written anywhere.
package signin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/keyrelay/keyrelay/internal/mcp"
)

// Notify sends one notification to the MCP client, best effort.
type Notify func(ctx context.Context, method string, params map[string]any)

// UI implements broker.UI (and the device grant's DeviceCode) for one
// request. Call Stop when the request ends.
type UI struct {
	notify Notify
	token  any // the request's progress token; nil for none
	once   sync.Once
	mu     sync.Mutex
	done   chan struct{}
}

// New returns the UI of one request; progressToken may be nil.
func New(notify Notify, progressToken any) *UI {
	return &UI{notify: notify, token: progressToken}
}

// LoginURL shows the authorization URL alone.
func (u *UI) LoginURL(ctx context.Context, url string) { u.Prompt(ctx, Prompt{URL: url}) }

// DeviceCode shows a device-grant sign-in: the URI to open on any device
// and the code to enter.
func (u *UI) DeviceCode(ctx context.Context, uri, code string) {
	u.Prompt(ctx, Prompt{URL: uri, UserCode: code})
}

// Prompt shows a sign-in: the page, and the authorization server and the
// server it is for.
func (u *UI) Prompt(ctx context.Context, p Prompt) {
	msg := p.Text()
	u.show(ctx, msg, msg)
}

// show sends msg as an MCP log message and first as the progress message.
func (u *UI) show(ctx context.Context, msg, first string) {
	// Alert: the person must act now. It also passes mcp-go's default
	// threshold (error) for clients that never set a log level.
	u.notify(ctx, mcp.MethodNotificationMessage, map[string]any{"level": "alert", "logger": "keyrelay", "data": msg})
	if u.token == nil {
		return
	}
	u.once.Do(func() {
		u.mu.Lock()
		u.done = make(chan struct{})
		done := u.done
		u.mu.Unlock()
		go u.progress(ctx, done, first)
	})
}

// progress sends a progress notification every 2 s until the request ends.
func (u *UI) progress(ctx context.Context, done chan struct{}, first string) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		msg := fmt.Sprintf("waiting for sign-in in the browser (%ds)", 2*(n-1))
		if n == 1 {
			msg = first
		}
		u.notify(ctx, mcp.MethodNotificationProgress, map[string]any{"progressToken": u.token, "progress": n, "message": msg})
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stop ends the progress notifications.
func (u *UI) Stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done != nil {
		close(u.done)
		u.done = nil
	}
}

type uiKey struct{}

// NewContext returns ctx carrying ui, the sign-in UI of the request ctx
// belongs to.
func NewContext(ctx context.Context, ui *UI) context.Context {
	return context.WithValue(ctx, uiKey{}, ui)
}

// FromContext returns the sign-in UI ctx carries, or nil.
func FromContext(ctx context.Context) *UI {
	ui, _ := ctx.Value(uiKey{}).(*UI)
	return ui
}
