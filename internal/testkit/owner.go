package testkit

import (
	"os"
	"path/filepath"
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

// InsecureFiles are the files holding content that a check of secret
// files must refuse, each made by its function in a new directory of the
// test it is given: readable by others or by the group, a symlink to an
// own 0600 copy, a dangling symlink, and another user's 0600 copy (as root
// only, see ChownToOther).
func InsecureFiles(content string) map[string]func(t testing.TB) string {
	link := func(t testing.TB, target string) string {
		p := filepath.Join(t.TempDir(), "link")
		NoErr(t, os.Symlink(target, p))
		return p
	}
	return map[string]func(t testing.TB) string{
		"mode 0644":        func(t testing.TB) string { return WriteTemp(t, "secret", content, 0o644) },
		"mode 0640":        func(t testing.TB) string { return WriteTemp(t, "secret", content, 0o640) },
		"symlink":          func(t testing.TB) string { return link(t, WriteTemp(t, "secret", content, 0o600)) },
		"dangling symlink": func(t testing.TB) string { return link(t, filepath.Join(t.TempDir(), "absent")) },
		"another user's file": func(t testing.TB) string {
			p := WriteTemp(t, "secret", content, 0o600)
			ChownToOther(t, p)
			return p
		},
	}
}
