package setup

import (
	"errors"
	"fmt"

	"github.com/keyrelay/keyrelay/relay/cli"
	"github.com/keyrelay/keyrelay/relay/config"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// LoginPolicy checks `relay login`'s settings and switches against each
// other and the machine policy, and returns the policy: an error marked
// for relay/cli (a usage or configuration error) when they cannot sign in.
func LoginPolicy(cfg *config.Config, sw config.Switches) (*policy.Policy, error) {
	if err := cfg.Check(); err != nil {
		return nil, cli.Config(err)
	}
	pol, err := cfg.LoadPolicy()
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckPolicy(pol); err != nil {
		return nil, err
	}
	if sw.Device && cfg.ClientCreds {
		return nil, cli.Usage(errors.New("--device and client credentials do not mix: the client_credentials grant needs no person"))
	}
	if sw.Device && cfg.IdPIssuer != "" {
		return nil, cli.Usage(errors.New("--device and cross-app access do not mix: the identity provider's sign-in is traded for the server's token"))
	}
	if sw.Device && !pol.DeviceGrantAllowed() {
		return nil, fmt.Errorf("%w: the device grant is turned off (disable_device_grant); sign in with the browser", policy.ErrDenied)
	}
	return pol, nil
}
