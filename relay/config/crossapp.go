package config

import "errors"

// checkCrossApp: cross-app access (RELAY_IDP_ISSUER) needs the relay's
// client at the identity provider and a confidential client at the MCP
// server's authorization server (its secret or key may be stored in the
// vault already); it is a mode of its own, apart from client credentials
// and a metadata document client. RELAY_IDP_ISSUER is made canonical, as
// RELAY_AUTH_SERVER_URL is. The ID token file is read at each use, not
// here: the platform that writes it may not have written it yet.
func (c *Config) checkCrossApp() error {
	if c.IdPIssuer == "" {
		switch {
		case c.IdPClientID != "":
			return errors.New("RELAY_IDP_CLIENT_ID needs RELAY_IDP_ISSUER")
		case c.IdPTokenFile != "":
			return errors.New("RELAY_IDP_ID_TOKEN_FILE needs RELAY_IDP_ISSUER")
		}
		return nil
	}
	iss, err := Canonical("RELAY_IDP_ISSUER", c.IdPIssuer)
	if err != nil {
		return err
	}
	c.IdPIssuer = iss
	switch {
	case c.IdPClientID == "":
		return errors.New("RELAY_IDP_ISSUER needs RELAY_IDP_CLIENT_ID, the relay's client id at the identity provider")
	case c.ClientID == "":
		return errors.New("RELAY_IDP_ISSUER needs RELAY_CLIENT_ID, and RELAY_CLIENT_SECRET or RELAY_CLIENT_KEY_FILE: the relay's client at the MCP server's authorization server")
	case c.ClientCreds:
		return errors.New("RELAY_IDP_ISSUER and RELAY_CLIENT_CREDENTIALS do not mix: cross-app access signs in a person, client credentials none")
	case c.ClientMetaURL != "":
		return errors.New("RELAY_IDP_ISSUER and RELAY_CLIENT_METADATA_URL do not mix: cross-app access needs a client with a credential")
	}
	return nil
}
