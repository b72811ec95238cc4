package config

import (
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// LoadPolicy reads the administrator's policy: the machine-wide file
// (platform.PolicyPath) and PolicyFile (RELAY_POLICY_FILE), if set.
func (c *Config) LoadPolicy() (*policy.Policy, error) {
	return policy.Load(platform.PolicyPath(), c.PolicyFile)
}

// CheckPolicy applies pol (nil: none) to the configured URLs, before any
// network call: the backend rules apply to the MCP URL in proxy mode, the
// issuer and authorization-server rules to AuthServerURL when it is set.
// Call it after Check, which makes the URLs canonical.
func (c *Config) CheckPolicy(pol *policy.Policy) error {
	if err := pol.CheckBackend(c.Server()); err != nil {
		return err
	}
	if c.AuthServerURL != "" {
		if err := pol.CheckIssuer(c.AuthServerURL); err != nil {
			return err
		}
		return pol.CheckAuthServer(c.AuthServerURL)
	}
	return nil
}
