package vault

import (
	"strings"
	"testing"

	"github.com/danieljoos/wincred"
)

// osKeychainItems lists the accounts of service's items as Windows
// Credential Manager enumerates them (CredEnumerate), apart from the
// library under test's own lookups; go-keyring names an item
// "service:account". Secret values are never read.
func osKeychainItems(t *testing.T, service string) []string {
	t.Helper()
	creds, err := wincred.FilteredList(service + ":*")
	if err != nil {
		t.Fatalf("CredEnumerate: %v", err)
	}
	items := []string{}
	for _, c := range creds {
		items = append(items, strings.TrimPrefix(c.TargetName, service+":"))
	}
	return items
}
