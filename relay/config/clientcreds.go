package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/platform"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/relay/policy"
)

// maxKeyFile caps RELAY_CLIENT_KEY_FILE: an RSA key of 8192 bits is
// under 7 KiB in PEM.
const maxKeyFile = 32 << 10

// readClientKey reads RELAY_CLIENT_KEY_FILE as the vault's key files are
// read: a regular file of the user's own, not a symlink, readable by no
// one else (platform.ReadSecretFile), and checks that it is a key the
// relay can sign with. Errors never hold the key.
func readClientKey(path string) (secret.Value, error) {
	b, err := platform.ReadSecretFile(path, maxKeyFile)
	if err != nil {
		return secret.Value{}, fmt.Errorf("RELAY_CLIENT_KEY_FILE: %w", err)
	}
	if _, err := oauth.ParseClientKey(b); err != nil {
		return secret.Value{}, fmt.Errorf("RELAY_CLIENT_KEY_FILE %s: %w", path, err)
	}
	return secret.New(string(b)), nil
}

// parseSwitch reads a boolean setting: 1, true, 0, false (any case).
func parseSwitch(name, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want 1 or 0", name, v)
	}
	return b, nil
}

// checkClientCreds: one credential at most, and the client_credentials
// mode needs a static client id (its credential may be stored already).
func (c *Config) checkClientCreds() error {
	if c.keyErr != nil {
		return c.keyErr
	}
	switch {
	case !c.ClientKey.IsZero() && !c.ClientSecret.IsZero():
		return errors.New("set RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE, not both")
	case !c.ClientKey.IsZero() && c.ClientID == "":
		return errors.New("RELAY_CLIENT_KEY_FILE needs RELAY_CLIENT_ID")
	case c.ClientCreds && c.ClientID == "":
		return errors.New("RELAY_CLIENT_CREDENTIALS needs RELAY_CLIENT_ID, and RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE")
	case c.ClientCreds && c.ClientMetaURL != "":
		return errors.New("RELAY_CLIENT_CREDENTIALS and RELAY_CLIENT_METADATA_URL do not mix: a metadata document client has no credential")
	}
	return nil
}

// checkClientCredsPolicy refuses the client_credentials mode when the
// policy turns it off.
func (c *Config) checkClientCredsPolicy(pol *policy.Policy) error {
	if c.ClientCreds && !pol.ClientCredentialsAllowed() {
		return fmt.Errorf("%w: the client credentials mode is turned off (disable_client_credentials); unset RELAY_CLIENT_CREDENTIALS and sign in with `relay login`", policy.ErrDenied)
	}
	return nil
}
