// panva's oidc-provider (pinned in package.json) with DPoP, for keyrelay's
// interop test (../dpop_oidcprovider_test.go). Its settings come from the
// environment:
//   PORT         the loopback port to listen on (the issuer is http://127.0.0.1:PORT)
//   DPOP_NONCE   "1": every proof must carry the server's nonce (RFC 9449 §8, §9)
// It prints "listening" once it serves. The public client "relay" is a
// native application with a loopback redirect (any port, RFC 8252 §7.3);
// the development login and consent pages (devInteractions) accept any
// name and password.
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'relay',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  features: {
    devInteractions: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: process.env.DPOP_NONCE === '1' ? randomBytes(32) : undefined,
      requireNonce: () => process.env.DPOP_NONCE === '1',
    },
    userinfo: { enabled: true },
  },
  scopes: ['openid', 'offline_access'],
  pkce: { required: () => true },
  // A refresh token for offline_access, whatever the consent says.
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  rotateRefreshToken: true,
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(port, '127.0.0.1', () => console.log('listening'));
