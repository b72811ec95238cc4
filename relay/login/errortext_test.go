package login

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/relay/oauth"
)

// TestErrorTextCancelledIsNotATimeout: a sign-in ended by a signal or by
// the client's cancellation says so; only the login timeout says "in
// time".
func TestErrorTextCancelledIsNotATimeout(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  string
	}{
		{context.Canceled, "the sign-in was cancelled before it completed"},
		{context.DeadlineExceeded, "the sign-in did not complete in time"},
	} {
		e := &Error{Err: fmt.Errorf("%w: %w", oauth.ErrLoginTimeout, tc.cause)}
		if got := e.Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("cause %v: %q, want it to start %q", tc.cause, got, tc.want)
		}
	}
}
