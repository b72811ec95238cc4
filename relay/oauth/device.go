package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// Device grant polling (RFC 8628 §3.2, §3.5).
const (
	defaultDeviceInterval = 5 * time.Second
	slowDownStep          = 5 * time.Second
	maxDeviceInterval     = 5 * time.Minute
	maxDeviceExpiresIn    = 24 * time.Hour
	maxUserCodeLen        = 64
	maxDisplayURILen      = 2048
)

// DeviceLogin is one device authorization in progress (RFC 8628). Show
// VerificationURI and UserCode to the person (or VerificationURIComplete,
// which carries the code), then call Wait once. The user code and the URIs
// are not secrets: they are meant to be shown. The device code is kept
// inside, as a secret.Value.
type DeviceLogin struct {
	// UserCode is printable ASCII, at most 64 bytes: safe to print.
	UserCode string
	// VerificationURI is https (or http on a loopback host) and printable.
	VerificationURI string
	// VerificationURIComplete includes the user code; "" when the server
	// sent none.
	VerificationURIComplete string
	// Expiry is when the device code expires, by the Client's clock.
	Expiry time.Time
	// Interval is the polling interval the server asked for (5 s when it
	// named none). Wait adds 5 s on each slow_down.
	Interval time.Duration
	// Sleep waits d or until ctx ends, returning ctx's error then. nil
	// means a real timer. Tests replace it so that nothing really waits.
	Sleep func(ctx context.Context, d time.Duration) error

	c          Client // a copy, with Metadata checked
	deviceCode secret.Value
	waited     atomic.Bool
}

// deviceJSON is RFC 8628 §3.2 and an error response in one.
type deviceJSON struct {
	DeviceCode              string      `json:"device_code"`
	UserCode                string      `json:"user_code"`
	VerificationURI         string      `json:"verification_uri"`
	VerificationURL         string      `json:"verification_url"` // Google's older name
	VerificationURIComplete string      `json:"verification_uri_complete"`
	ExpiresIn               json.Number `json:"expires_in"`
	Interval                json.Number `json:"interval"`
	Error                   string      `json:"error"`
	ErrorDescription        string      `json:"error_description"`
}

// StartDevice asks the device authorization endpoint for a device code
// (RFC 8628 §3.1), sending client_id, scope, resource and ExtraAuthParams
// (Auth0, for one, needs its audience here too). A refusal is an *Error:
// invalid_client wraps ErrInvalidClient; a client not allowed the grant
// gets unauthorized_client. No endpoint is ErrNoDevice.
func (c *Client) StartDevice(ctx context.Context) (*DeviceLogin, error) {
	md, err := c.check()
	if err != nil {
		return nil, err
	}
	if md.DeviceAuthorizationEndpoint == "" {
		return nil, ErrNoDevice
	}
	if err := c.checkDPoP(); err != nil {
		return nil, err
	}
	if err := c.checkExtra(); err != nil {
		return nil, err
	}
	status, body, err := c.postForm(ctx, md.DeviceAuthorizationEndpoint, c.deviceForm())
	if err != nil {
		return nil, err
	}
	d, err := decodeDevice(status, body, c.now())
	log := c.log().With("client_id", c.ClientID, "endpoint", md.DeviceAuthorizationEndpoint, "status", status)
	if err != nil {
		log.Debug("oauth: device authorization refused", "err", err)
		return nil, err
	}
	log.Debug("oauth: device authorization", "interval", d.Interval, "expiry", d.Expiry)
	d.c = *c
	mdCopy := *md
	d.c.Metadata = &mdCopy
	return d, nil
}

func (c *Client) deviceForm() url.Values {
	form := url.Values{"client_id": {c.ClientID}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	if c.Resource != "" {
		form.Set("resource", c.Resource)
	}
	for k, vs := range c.ExtraAuthParams {
		form.Set(k, vs[0])
	}
	return form
}

// decodeDevice parses a device authorization answer. Nothing from the
// body reaches an error except a sanitised OAuth error code and
// description.
func decodeDevice(status int, body []byte, now time.Time) (*DeviceLogin, error) {
	var dj deviceJSON
	if err := json.Unmarshal(body, &dj); err != nil {
		return nil, fmt.Errorf("%w: device authorization answered HTTP %d, not the expected JSON object", ErrBadResponse, status)
	}
	if dj.Error != "" && (status != http.StatusOK || dj.DeviceCode == "") {
		return nil, newError(dj.Error, dj.ErrorDescription, secret.New(dj.DeviceCode))
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: device authorization answered HTTP %d without an OAuth error", ErrBadResponse, status)
	}
	return dj.login(now)
}

// login validates a 200 answer.
func (dj *deviceJSON) login(now time.Time) (*DeviceLogin, error) {
	if dj.VerificationURI == "" {
		dj.VerificationURI = dj.VerificationURL
	}
	if dj.DeviceCode == "" {
		return nil, fmt.Errorf("%w: no device_code", ErrBadResponse)
	}
	if dj.UserCode == "" || len(dj.UserCode) > maxUserCodeLen || printableASCII(dj.UserCode) != dj.UserCode {
		return nil, fmt.Errorf("%w: user_code missing, too long or not printable ASCII", ErrBadResponse)
	}
	if err := displayURI(dj.VerificationURI, true); err != nil {
		return nil, err
	}
	if err := displayURI(dj.VerificationURIComplete, false); err != nil {
		return nil, err
	}
	expiresIn, err := seconds(dj.ExpiresIn, 0, maxDeviceExpiresIn)
	if err != nil || expiresIn == 0 {
		return nil, fmt.Errorf("%w: expires_in missing or out of range", ErrBadResponse)
	}
	interval, err := seconds(dj.Interval, defaultDeviceInterval, maxDeviceInterval)
	if err != nil {
		return nil, fmt.Errorf("%w: interval out of range", ErrBadResponse)
	}
	return &DeviceLogin{
		UserCode: dj.UserCode, VerificationURI: dj.VerificationURI, VerificationURIComplete: dj.VerificationURIComplete,
		Expiry: now.Add(expiresIn), Interval: interval, deviceCode: secret.New(dj.DeviceCode),
	}, nil
}

// displayURI checks a URI that will be shown to a person: secure, and
// printable so that it cannot carry terminal escapes.
func displayURI(u string, required bool) error {
	if u == "" && !required {
		return nil
	}
	if u == "" || len(u) > maxDisplayURILen || printableASCII(u) != u || strings.Contains(u, " ") {
		return fmt.Errorf("%w: verification URI missing, too long or not printable ASCII", ErrBadResponse)
	}
	if _, err := secureURL(u); err != nil {
		return fmt.Errorf("%w: verification URI: %w", ErrBadResponse, err)
	}
	return nil
}

// seconds reads a whole number of seconds in [0, max]; absent or 0 gives
// def.
func seconds(n json.Number, def, limit time.Duration) (time.Duration, error) {
	if n == "" {
		return def, nil
	}
	s, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || s < 0 || s > int64(limit/time.Second) {
		return 0, ErrBadResponse
	}
	if s == 0 {
		return def, nil
	}
	return time.Duration(s) * time.Second, nil
}

// Wait polls the token endpoint (RFC 8628 §3.4) until the person answers,
// sleeping Interval before each poll. It sends grant_type device_code,
// device_code, client_id and resource. authorization_pending keeps
// polling; slow_down adds 5 s to the interval; a timeout talking to the
// server doubles it (§3.5). access_denied is an *Error wrapping
// ErrAccessDenied; expiry (local, or expired_token) wraps ErrDeviceExpired;
// ctx ending wraps ErrLoginTimeout. Any other error ends the wait. It may
// be called once.
func (d *DeviceLogin) Wait(ctx context.Context) (*Tokens, error) {
	if !d.waited.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: Wait called twice", ErrConfig)
	}
	log := d.c.log().With("client_id", d.c.ClientID)
	interval := d.Interval
	for {
		if err := d.sleep(ctx, interval); err != nil {
			log.Debug("oauth: device login timed out")
			return nil, fmt.Errorf("%w: %w", ErrLoginTimeout, err)
		}
		if d.c.now().After(d.Expiry) {
			return nil, fmt.Errorf("%w: no answer before it expired", ErrDeviceExpired)
		}
		tok, err := d.c.token(ctx, d.form(), d.c.Scopes, d.deviceCode)
		if err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoginTimeout, context.Cause(ctx))
		}
		next, done := nextInterval(interval, err)
		if done {
			return tok, err
		}
		if next != interval {
			log.Debug("oauth: device polling slowed down", "interval", next)
		}
		interval = next
	}
}

func (d *DeviceLogin) form() url.Values {
	form := url.Values{
		"grant_type":  {DeviceCodeGrantType},
		"device_code": {d.deviceCode.Reveal()},
		"client_id":   {d.c.ClientID},
	}
	if d.c.Resource != "" {
		form.Set("resource", d.c.Resource)
	}
	return form
}

// nextInterval decides, from a poll's outcome, whether to poll again and
// after how long.
func nextInterval(cur time.Duration, err error) (time.Duration, bool) {
	var oe *Error
	var ne net.Error
	switch {
	case err == nil:
		return cur, true
	case errors.As(err, &oe) && oe.Code == "authorization_pending":
		return cur, false
	case errors.As(err, &oe) && oe.Code == "slow_down":
		return min(cur+slowDownStep, maxDeviceInterval), false
	case errors.As(err, &ne) && ne.Timeout():
		return min(cur*2, maxDeviceInterval), false
	}
	return cur, true
}

func (d *DeviceLogin) sleep(ctx context.Context, dur time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, dur)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
