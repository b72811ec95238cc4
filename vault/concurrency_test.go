package vault

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// TestUpdateEightProcessesExactCount: eight processes each increment a
// counter 50 times; with the lock and re-read under it, none is lost.
func TestUpdateEightProcessesExactCount(t *testing.T) {
	const procs, each = 8, 50
	dir := newDir(t)
	spec, _ := keyFile(t)
	env := []string{"VAULT_TEST_DIR=" + dir, "VAULT_TEST_KEYSPEC=" + spec, "VAULT_TEST_N=" + strconv.Itoa(each)}
	start := time.Now()
	var ps []*exec.Cmd
	for range procs {
		ps = append(ps, helper(t, "count", env...))
	}
	for _, p := range ps {
		if st := waitHelper(t, p); !st.Success() {
			t.Fatalf("helper failed: %v", st)
		}
	}
	t.Logf("%d processes x %d updates in %v", procs, each, time.Since(start))
	v := mustOpen(t, Options{Dir: dir, KeySpec: spec})
	r, err := v.Get(context.Background(), testAcct)
	testkit.NoErr(t, err)
	if got := r.AccessToken.Reveal(); got != strconv.Itoa(procs*each) {
		t.Fatalf("counter = %s, want %d", got, procs*each)
	}
}
