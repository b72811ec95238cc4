package login

import (
	"context"
	"testing"

	"github.com/keyrelay/keyrelay/relay/oauth"
	"github.com/keyrelay/keyrelay/vault"
)

// accounts is a Registry that lists the accounts it was given.
type accounts []vault.Account

func (a accounts) Get(context.Context, vault.Account) (vault.Record, error) {
	return vault.Record{}, vault.ErrNotFound
}
func (a accounts) Update(context.Context, vault.Account, func(*vault.Record) (*vault.Record, error)) error {
	return nil
}
func (a accounts) Accounts(context.Context) ([]vault.Account, error) { return a, nil }

// P1: two servers behind one issuer and client never share a vault
// account, whatever RELAY_RESOURCE says, and a stored issuer is reused only
// by the server that stored it.
func TestP1_AccountPerServer(t *testing.T) {
	const iss = "https://as.example"
	a, b := "https://a.example/mcp", "https://b.example/mcp"
	for _, c := range []struct {
		name         string
		resA, resB   string
		wantA, wantB string // the accounts' Server
	}{
		{"default: the resource is the server", a, b, "", ""},
		{"off: no resource", "", "", a, b},
		{"one explicit resource for both", "https://api.example", "https://api.example", a, b},
	} {
		t.Run(c.name, func(t *testing.T) {
			ia := &Interactive{Issuer: iss, Backend: a, Client: oauth.Client{ClientID: "relay", Resource: c.resA}}
			ib := &Interactive{Issuer: iss, Backend: b, Client: oauth.Client{ClientID: "relay", Resource: c.resB}}
			accA, err := ia.Account(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			accB, _ := ib.Account(context.Background())
			if accA == accB || accA.Server != c.wantA || accB.Server != c.wantB {
				t.Fatalf("accounts %+v and %+v", accA, accB)
			}
			// Only A has signed in: B finds no issuer of A's in the vault.
			ib.Issuer, ib.Registry = "", accounts{accA}
			if got, _ := ib.storedIssuer(context.Background()); got != "" {
				t.Fatalf("B reuses A's stored issuer %q", got)
			}
			ia.Issuer, ia.Registry = "", accounts{accA}
			if got, _ := ia.storedIssuer(context.Background()); got != iss {
				t.Fatalf("A does not find its own issuer: %q", got)
			}
		})
	}
}
