//go:build unix

package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	t.Run("loose modes fixed on open", func(t *testing.T) {
		v, kc := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		os.Chmod(v.Dir(), 0o755)
		os.Chmod(v.path(fileTokens), 0o644)
		os.Chmod(v.path(fileMeta), 0o664)
		if _, err := Open(ctx, Options{Dir: v.Dir(), Keychain: kc}); err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]os.FileMode{v.Dir(): 0o700, v.path(fileTokens): 0o600, v.path(fileMeta): 0o600} {
			if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
				t.Errorf("%s mode %04o, want %04o", p, fi.Mode().Perm(), want)
			}
		}
	})
	t.Run("new files are private", func(t *testing.T) {
		v, _ := openMem(t)
		mustUpdate(t, v, testAcct, fakeRecord())
		for _, n := range testkit.DirNames(t, v.Dir()) {
			if fi, _ := os.Stat(v.path(n)); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s created with mode %04o", n, fi.Mode().Perm())
			}
		}
	})
	refusals := []struct {
		name    string
		setup   func(t *testing.T) string // returns the data dir
		problem string
	}{
		{"symlinked data dir", func(t *testing.T) string {
			real := newDir(t)
			os.MkdirAll(real, 0o700)
			link := filepath.Join(t.TempDir(), "link")
			os.Symlink(real, link)
			return link
		}, "is a symlink"},
		{"symlinked tokens.age", func(t *testing.T) string {
			dir := newDir(t)
			os.MkdirAll(dir, 0o700)
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, nil, 0o600)
			os.Symlink(target, filepath.Join(dir, fileTokens))
			return dir
		}, "is a symlink"},
		{"data dir owned by another user", func(t *testing.T) string {
			dir := newDir(t)
			os.MkdirAll(dir, 0o700)
			testkit.ChownToOther(t, dir)
			return dir
		}, "is owned by uid 65534"},
		{"vault.json owned by another user", func(t *testing.T) string {
			dir := newDir(t)
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, fileMeta), []byte("{}"), 0o600)
			testkit.ChownToOther(t, filepath.Join(dir, fileMeta))
			return dir
		}, "is owned by uid 65534"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			_, err := Open(ctx, Options{Dir: dir, Keychain: NewMemKeychain()})
			wantErr(t, err, ErrInsecure)
			if !strings.Contains(err.Error(), tt.problem) || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("unclear message: %v", err)
			}
		})
	}
}
