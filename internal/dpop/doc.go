// Package dpop creates and checks DPoP proofs (RFC 9449): short JWTs that a
// client signs with a key of its own for each HTTP request, so that a token
// bound to that key (cnf.jkt, RFC 9449 §6) is useless to whoever copies it
// without the key.
//
// The client side is Key: a private key (ES256 by default, EdDSA or RS256),
// its RFC 7638 thumbprint, and Proof, which signs one proof for a method and
// a URL (with ath when an access token goes with it, and the server's nonce
// when it asked for one). The server side is Verifier, which applies the
// checks of RFC 9449 §4.3 strictly: exactly one proof, typ dpop+jwt, an
// allowed asymmetric alg, a public key in jwk and nowhere else, the
// signature, htm, htu (normalised, without query and fragment), an iat
// window, a jti seen once per key within that window (a bounded cache), ath,
// and the nonce when the server uses them (Nonces).
//
// Security properties: no error or log text holds a proof, a token or a
// key; a Key prints as REDACTED; the parser refuses duplicate members,
// unknown crit, private key members and oversized input before any
// signature check.
//
// Non-goals: DPoP does not stop malware that can use the key while it runs
// (it can sign proofs of its own); it makes a copied token useless without
// the key. The replay cache is per process: several server processes
// behind one name need server nonces to bound replay across them.
package dpop
