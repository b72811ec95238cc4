package testkit

import (
	"os"
	"testing"
)

// OtherUID is a uid that is not ours (nobody on Debian).
const OtherUID = 65534

// ChownToOther gives path (not what it links to) to OtherUID, for the
// foreign-owner refusals. Only root can: elsewhere the test is skipped,
// and under CI=true it fails (SkipOrFail), since CI runs as root.
func ChownToOther(t testing.TB, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root to make a file owned by another user")
	}
	NoErr(t, os.Lchown(path, OtherUID, OtherUID))
}
