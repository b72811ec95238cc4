package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
	"github.com/keyrelay/keyrelay/platform"
)

// TestCrashBetweenTempWriteAndRename: a process killed after writing and
// syncing the new tokens.age to its temp file, but before the rename, leaves
// the old content readable; the next write and Wipe handle the leftover.
func TestCrashBetweenTempWriteAndRename(t *testing.T) {
	ctx := context.Background()
	dir := newDir(t)
	spec, _ := keyFile(t)
	v := mustOpen(t, Options{Dir: dir, KeySpec: spec})
	old := fakeToken("access-old")
	mustUpdate(t, v, testAcct, setAccessRecord(old))

	st := waitHelper(t, helper(t, "crash", "VAULT_TEST_DIR="+dir, "VAULT_TEST_KEYSPEC="+spec, "VAULT_TEST_TOKEN="+fakeToken("access-new")))
	if st.Success() {
		t.Fatal("crash helper exited normally; the hook did not run")
	}
	var temps []string
	for _, n := range testkit.DirNames(t, dir) {
		if platform.IsAtomicTemp(n) {
			temps = append(temps, n)
		}
	}
	if len(temps) != 1 || !strings.HasPrefix(temps[0], "."+fileTokens) {
		t.Fatalf("want the crashed write's temp file, got %v", temps)
	}
	v.forget()
	got, err := v.Get(ctx, testAcct)
	if err != nil || got.AccessToken.Reveal() != old {
		t.Fatalf("after crash: Get = %v; old content must survive", err)
	}
	mustUpdate(t, v, testAcct, setAccessRecord("fake-after"))
	if _, err := v.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	wantOnlyLock(t, dir, "after Wipe")
}
