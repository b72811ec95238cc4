package login

import (
	"context"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/signin"
)

// DeviceUI is implemented by a broker.UI that can show a device-grant
// user code next to its URL, but not a whole signin.Prompt. Others get the
// URL with the code appended.
type DeviceUI interface {
	DeviceCode(ctx context.Context, uri, userCode string)
}

// Prompter is implemented by a broker.UI that shows a whole prompt: the
// page, and the authorization server and the server it is for
// (signin.UI, signin.Terminal).
type Prompter interface {
	Prompt(ctx context.Context, p signin.Prompt)
}

// newPrompt is the prompt of a sign-in at c's authorization server, for
// this relay's server.
func (i *Interactive) newPrompt(c *oauth.Client, url string) signin.Prompt {
	return signin.Prompt{URL: url, Issuer: c.Metadata.Issuer, Server: i.Backend}
}

// promptLevel is the level of the log record of a sign-in prompt. It is
// warn: in serve, stderr may be the only place a person sees the URL. But
// a signin.Terminal (relay login) writes the prompt to that same stderr
// itself, and a warning would print the URL a second time: there the
// record is info, which a person at a terminal does not see
// (setup.Logger).
func promptLevel(ui broker.UI) slog.Level {
	if _, ok := ui.(signin.Terminal); ok {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// prompt shows p with what ui can show.
func (i *Interactive) prompt(ctx context.Context, ui broker.UI, p signin.Prompt) {
	switch u := ui.(type) {
	case nil:
	case Prompter:
		u.Prompt(ctx, p)
	case DeviceUI:
		if p.UserCode != "" {
			u.DeviceCode(ctx, p.URL, p.UserCode)
			return
		}
		ui.LoginURL(ctx, p.URL)
	default:
		if p.UserCode != "" {
			ui.LoginURL(ctx, p.URL+" (code "+p.UserCode+")")
			return
		}
		ui.LoginURL(ctx, p.URL)
	}
}

// pageWarning warns when a device sign-in page is on another host than
// the authorization server: legitimate providers do that, and so does a
// hostile one pointing at someone else's page (P3).
func pageWarning(page, issuer string) string {
	if h := hostOf(page); h != "" && !strings.EqualFold(h, hostOf(issuer)) {
		return "The sign-in page is on " + h + ", not on the authorization server: go on only if you expected it"
	}
	return ""
}

// hostOf is the host of a URL, "" when it has none.
func hostOf(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// device signs in with the device authorization grant: the person opens
// the verification URI on any device and enters the user code. In the
// stdio server (Deliver set) the call returns at once with the URI and the
// code, and the polling goes on in the background.
func (i *Interactive) device(ctx context.Context, c *oauth.Client, ui broker.UI) (*oauth.Tokens, error) {
	d, err := c.StartDevice(ctx)
	if err != nil {
		return nil, &Error{Err: err}
	}
	p := i.newPrompt(c, d.VerificationURI)
	p.UserCode = d.UserCode
	p.Warning = pageWarning(d.VerificationURI, p.Issuer)
	i.log().Log(ctx, promptLevel(ui), "sign-in needed: open the URL on any device and enter the code", "url", d.VerificationURI, "user_code", d.UserCode,
		"issuer", p.Issuer, "server", p.Server, "warning", p.Warning)
	i.prompt(ctx, ui, p)
	timeout := i.timeout()
	if left := time.Until(d.Expiry); left > 0 && left < timeout {
		timeout = left
	}
	e := &Error{URL: d.VerificationURI, Code: d.UserCode, Issuer: p.Issuer, Warning: p.Warning, Pending: true, Err: ErrNoBrowser}
	if i.Deliver != nil {
		wctx, cancel := context.WithTimeout(context.Background(), timeout)
		return nil, i.hold(e, func() error {
			defer cancel()
			t, err := d.Wait(wctx)
			if err != nil {
				return err
			}
			i.Deliver(t)
			return nil
		})
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t, err := d.Wait(wctx)
	if err != nil {
		return nil, &Error{Err: err}
	}
	return t, nil
}
