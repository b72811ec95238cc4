package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/keyrelay/keyrelay/internal/helptext"
)

// Exit codes of backend. Scripts may rely on them; the README has the
// same table.
//
//	code  meaning                                    examples
//	0     ok                                         stopped by SIGINT or SIGTERM; help; version
//	1     an error while starting or running          the listen address is in use; the issuer's keys
//	                                                 cannot be fetched
//	2     a bad command line or setting              an unknown flag; AUTH_SERVER_URL missing without
//	                                                 --auth-server; a short JWT_SECRET; a bad user spec
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// printHelp writes `backend help`: what it is, its flags with their
// variables and built-in defaults (never a value from the environment),
// and the exit codes.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `backend is keyrelay's example backend: a net/http service that checks JWT
access tokens and runs tools, and with --auth-server a built-in OAuth 2.1
authorization server for development.

usage: backend [flags]
       backend help     (also -h, --help)
       backend version  (also --version)

flags: each can also be set by the environment variable it names; the flag wins.
`)
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	defineFlags(fs, &config{}, &rawFlags{}, func(string) string { return "" })
	fs.VisitAll(func(f *flag.Flag) {
		usage := f.Usage
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool && f.DefValue != "" {
			usage = strings.TrimSuffix(usage, ")") + "; default " + f.DefValue + ")"
		}
		helptext.Item(w, "--"+f.Name, usage)
	})
	fmt.Fprint(w, `
machine clients (AUTH_MACHINE_CLIENTS_FILE): clients that sign in without a
person, with grant_type=client_credentials; their tokens carry the client id
as sub. The file is a JSON list, the user's own and readable by no one else:
  [{"client_id": "ci", "client_secret": "at least 16 characters", "scopes": ["notes:read"]},
   {"client_id": "ci-key", "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "..."}]},
    "scopes": ["notes:read"]}]
A secret authenticates with client_secret_basic or client_secret_post; a
JWKS (EC P-256, RSA of 2048 bits or more, Ed25519) with private_key_jwt,
whose aud is the issuer or the token endpoint.
A client with "introspect": true is a resource server instead: it may call
/introspect (RFC 7662) and may not get tokens. With AUTH_TOKEN_FORMAT=opaque,
run the backend with BACKEND_INTROSPECTION=1, BACKEND_CLIENT_ID set to such a
client and BACKEND_CLIENT_SECRET_FILE holding its secret, or, for a client
with a JWKS, BACKEND_CLIENT_KEY_FILE holding the private key (private_key_jwt).

trusted identity providers (AUTH_TRUSTED_IDPS_FILE): cross-app access
(SEP-990). A machine client may present an ID-JAG (typ oauth-id-jag+jwt) that
one of these providers signed, with grant_type=
urn:ietf:params:oauth:grant-type:jwt-bearer; aud must be this issuer and
client_id the client. The token's sub is the ID-JAG's: the person. The file is
a JSON list, the user's own and readable by no one else; each provider has its
public keys, its jwks_uri (fetched on first use, and again at most every 30 s
when no key verifies a grant), or both:
  [{"issuer": "https://login.corp.test", "jwks": {"keys": [{"kty": "EC", ...}]}},
   {"issuer": "https://sso.corp.test", "jwks_uri": "https://sso.corp.test/keys"}]

exit codes:
  0  ok: stopped by SIGINT or SIGTERM; help; version
  1  an error while starting or running, such as a listen address in use
  2  a bad command line or setting
`)
}
