package login

import (
	"context"
	"time"

	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
)

// DeviceUI is implemented by a broker.UI that can show a device-grant
// user code next to its URL. Others get the URL with the code appended.
type DeviceUI interface {
	DeviceCode(ctx context.Context, uri, userCode string)
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
	i.log().Warn("sign-in needed: open the URL on any device and enter the code", "url", d.VerificationURI, "user_code", d.UserCode)
	if ui != nil {
		if du, ok := ui.(DeviceUI); ok {
			du.DeviceCode(ctx, d.VerificationURI, d.UserCode)
		} else {
			ui.LoginURL(ctx, d.VerificationURI+" (code "+d.UserCode+")")
		}
	}
	timeout := i.timeout()
	if left := time.Until(d.Expiry); left > 0 && left < timeout {
		timeout = left
	}
	e := &Error{URL: d.VerificationURI, Code: d.UserCode, Pending: true, Err: ErrNoBrowser}
	if i.Deliver != nil {
		wctx, cancel := context.WithTimeout(context.Background(), timeout)
		return nil, i.hold(e, func() result {
			defer cancel()
			t, err := d.Wait(wctx)
			return result{t, err}
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
