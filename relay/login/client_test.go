package login

import (
	"context"
	"errors"
	"testing"

	"github.com/keyrelay/keyrelay/internal/secret"
	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/relay/broker"
	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// TestClientIDOrder checks the registration order of the MCP
// authorization spec: a static client id, then a Client ID Metadata
// Document when the server supports them, then dynamic registration, then
// the built-in server's "relay".
func TestClientIDOrder(t *testing.T) {
	const doc = "https://keyrelay.example/client.json"
	reg := &vault.Vault{} // only its presence matters here
	cases := []struct {
		name   string
		i      *Interactive
		md     oauth.Metadata
		want   string
		wantEr error
	}{
		{"static wins", &Interactive{Client: oauth.Client{ClientID: "static"}, ClientMetadataURL: doc, Registry: reg},
			oauth.Metadata{ClientIDMetadataDocumentSupported: true, RegistrationEndpoint: "https://as/register"}, "static", nil},
		{"metadata document", &Interactive{ClientMetadataURL: doc, Registry: reg},
			oauth.Metadata{ClientIDMetadataDocumentSupported: true, RegistrationEndpoint: "https://as/register"}, doc, nil},
		{"document unsupported: registration", &Interactive{ClientMetadataURL: doc, Registry: reg, regID: "dyn-1"},
			oauth.Metadata{RegistrationEndpoint: "https://as/register"}, "dyn-1", nil},
		{"registration not loaded yet", &Interactive{Registry: reg},
			oauth.Metadata{RegistrationEndpoint: "https://as/register"}, "", broker.ErrReprepare},
		{"nothing offered", &Interactive{Registry: reg}, oauth.Metadata{}, FallbackClientID, nil},
	}
	for _, c := range cases {
		got, err := c.i.clientID(&c.md)
		if got != c.want || !errors.Is(err, c.wantEr) || (c.wantEr == nil && err != nil) {
			t.Errorf("%s: got %q %v, want %q %v", c.name, got, err, c.want, c.wantEr)
		}
	}
}

func TestAccountClientIDKnownWithoutNetwork(t *testing.T) {
	if id := (&Interactive{Client: oauth.Client{ClientID: "x"}}).AccountClientID(); id != "x" {
		t.Fatal(id)
	}
	if id := (&Interactive{ClientMetadataURL: "https://d"}).AccountClientID(); id != "https://d" {
		t.Fatal(id)
	}
	if id := (&Interactive{}).AccountClientID(); id != "" {
		t.Fatalf("dynamic registration keys the account with an empty client id, got %q", id)
	}
}

func TestStaleRegistrationOnlyOnce(t *testing.T) {
	i := &Interactive{Registry: &vault.Vault{}, regID: "dyn-1"}
	err := &oauth.Error{Code: "invalid_client"}
	if !i.staleRegistration(err) || i.regID != "" || i.staleID != "dyn-1" {
		t.Fatal("a stored registration refused with invalid_client was not marked stale")
	}
	i.regID = "dyn-2" // registered anew
	if i.staleRegistration(err) {
		t.Fatal("a replacement registration was marked stale again: that would loop")
	}
	// With a metadata document URL configured but unsupported by the
	// server, a dynamic registration is in use and must still be caught.
	j := &Interactive{Registry: &vault.Vault{}, regID: "dyn-3", ClientMetadataURL: "https://d/client.json"}
	if !j.staleRegistration(err) {
		t.Fatal("a stale registration went unnoticed with RELAY_CLIENT_METADATA_URL set")
	}
	if (&Interactive{Registry: &vault.Vault{}, regID: "dyn-1"}).staleRegistration(&oauth.Error{Code: "invalid_grant"}) {
		t.Fatal("invalid_grant is not a stale registration")
	}
}

// TestClientSecretKeptInTheVault: RELAY_CLIENT_SECRET given once is stored
// in the (encrypted) vault, and a later run without it reads it from there.
func TestClientSecretKeptInTheVault(t *testing.T) {
	dir := t.TempDir()
	open := func() *vault.Vault {
		v, err := vault.Open(context.Background(), vault.Options{Dir: dir, Keychain: kc})
		testkit.NoErr(t, err)
		return v
	}
	first := &Interactive{Client: oauth.Client{ClientID: "conf"}, ClientSecret: secret.New("conf-secret-0123456789"), Registry: open()}
	testkit.WantIs(t, testkit.ErrOf(first.clientSecret()), broker.ErrReprepare, "secret used before it was loaded")
	testkit.NoErr(t, first.loadSecret(context.Background(), "https://as.example"))
	later := &Interactive{Client: oauth.Client{ClientID: "conf"}, Registry: open()}
	testkit.NoErr(t, later.loadSecret(context.Background(), "https://as.example"))
	if got, err := later.clientSecret(); err != nil || got.Reveal() != "conf-secret-0123456789" {
		t.Fatalf("secret not read back from the vault: %v", err)
	}
	other := &Interactive{Client: oauth.Client{ClientID: "other"}, Registry: open()}
	_ = other.loadSecret(context.Background(), "https://as.example")
	if got, _ := other.clientSecret(); !got.IsZero() {
		t.Fatal("another client id got this client's secret")
	}
}

var kc = vault.NewMemKeychain()
