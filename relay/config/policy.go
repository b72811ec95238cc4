package config

import (
	"fmt"

	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// LoadPolicy reads the administrator's policy: the machine-wide file
// (platform.PolicyPath) and PolicyFile (RELAY_POLICY_FILE), if set.
func (c *Config) LoadPolicy() (*policy.Policy, error) {
	return policy.Load(platform.PolicyPath(), c.PolicyFile)
}

// assumePKCEVar names the setting that AssumePKCE comes from.
const assumePKCEVar = "RELAY_ASSUME_PKCE_S256"

// AssumedPKCE lists the issuers for which PKCE with S256 is assumed when
// their metadata omits code_challenge_methods_supported, and who named
// each: RELAY_ASSUME_PKCE_S256 and the policy's assume_pkce_s256
// (policy.Policy.AssumePKCES256). None when the policy refuses the
// setting (CheckPolicy says why).
func (c *Config) AssumedPKCE(pol *policy.Policy) []policy.Assumption {
	as, err := pol.AssumePKCES256(c.AssumePKCE, assumePKCEVar)
	if err != nil {
		return nil
	}
	return as
}

// CheckPolicy applies pol (nil: none) to the configured URLs, before any
// network call: the backend rules apply to the MCP URL in proxy mode, the
// issuer and authorization-server rules to AuthServerURL when it is set,
// assume_pkce_s256 to AssumePKCE.
// Call it after Check, which makes the URLs canonical.
func (c *Config) CheckPolicy(pol *policy.Policy) error {
	if err := pol.CheckBackend(c.Server()); err != nil {
		return err
	}
	if _, err := pol.AssumePKCES256(c.AssumePKCE, assumePKCEVar); err != nil {
		return err
	}
	if err := c.checkClientCredsPolicy(pol); err != nil {
		return err
	}
	if c.IdPIssuer != "" {
		if err := pol.CheckIdPIssuer(c.IdPIssuer); err != nil {
			return err
		}
	}
	if pol.RequireDPoP() && c.DPoP == oauth.DPoPOff {
		return fmt.Errorf("%w: DPoP is required (require_dpop); unset RELAY_DPOP=off", policy.ErrDenied)
	}
	if c.AuthServerURL != "" {
		if err := pol.CheckIssuer(c.AuthServerURL); err != nil {
			return err
		}
		return pol.CheckAuthServer(c.AuthServerURL)
	}
	return nil
}
