package mcphttp

import (
	"errors"
	"net/url"

	"github.com/keyrelay/keyrelay/relay/front"
	"github.com/keyrelay/keyrelay/relay/mcphttp/transport"
)

// reachError is a request that failed on the way to or from the MCP
// server: the network, the transport, the server's answers. Errors of the
// auth layer and the sign-in have texts of their own (front.Texter) and
// are not wrapped.
type reachError struct{ err error }

func (e *reachError) Error() string { return e.err.Error() }
func (e *reachError) Unwrap() error { return e.err }

// UserText says what failed, never with a token or a header value: neither
// is ever put into an error.
func (e *reachError) UserText() string {
	var ue *url.Error
	switch {
	case errors.Is(e.err, transport.ErrOtherURL):
		return e.err.Error()
	case errors.As(e.err, &ue):
		return "keyrelay: " + front.Scrub(ue.Err.Error())
	}
	return "keyrelay could not reach the MCP server: " + front.Scrub(e.err.Error())
}

// explain wraps err in a reachError unless it has a text of its own.
func explain(err error) error {
	var t front.Texter
	if err == nil || errors.As(err, &t) {
		return err
	}
	return &reachError{err}
}
