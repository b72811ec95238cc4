package config

import (
	"fmt"

	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// checkDPoP checks RELAY_DPOP.
func checkDPoP(mode string) error {
	switch mode {
	case "", oauth.DPoPAuto, oauth.DPoPOn, oauth.DPoPOff:
		return nil
	}
	return fmt.Errorf("RELAY_DPOP %q: want auto, on or off", mode)
}

// DPoPMode is the DPoP mode the sign-in uses: RELAY_DPOP, or on when the
// policy requires DPoP (require_dpop; CheckPolicy refuses off then).
func (c *Config) DPoPMode(pol *policy.Policy) string {
	if pol.RequireDPoP() {
		return oauth.DPoPOn
	}
	if c.DPoP == "" {
		return oauth.DPoPAuto
	}
	return c.DPoP
}
