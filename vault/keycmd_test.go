//go:build unix

package vault

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"pass show keyrelay", []string{"pass", "show", "keyrelay"}, true},
		{"  op  read\t'op://vault/key item/field' ", []string{"op", "read", "op://vault/key item/field"}, true},
		{`sh -c "echo $HOME; rm x"`, []string{"sh", "-c", "echo $HOME; rm x"}, true},
		{`a ''`, []string{"a", ""}, true},
		{`a b"c d"e`, []string{"a", "bc de"}, true},
		{"", nil, false},
		{"   ", nil, false},
		{`a 'b`, nil, false},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func script(t *testing.T, body string) string {
	return testkit.WriteTemp(t, "keycmd", "#!/bin/sh\n"+body+"\n", 0o700)
}

func TestKeyCommand(t *testing.T) {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	t.Run("prints identity", func(t *testing.T) {
		s := cmdSource{line: script(t, "echo '# from a password manager'; echo \"$1\"") + " " + id.String(), timeout: 5 * time.Second}
		got, err := s.load(ctx, "")
		if err != nil || got.String() != id.String() {
			t.Fatalf("load = %v", err)
		}
	})
	t.Run("failure hides output", func(t *testing.T) {
		s := cmdSource{line: script(t, "echo fake-stdout-XYZZY; echo fake-stderr-XYZZY >&2; exit 7"), timeout: 5 * time.Second}
		_, err := s.load(ctx, "")
		wantErr(t, err, ErrKeySource)
		if strings.Contains(err.Error(), "XYZZY") || !strings.Contains(err.Error(), "exit status 7") {
			t.Fatalf("error %q must give the status and no output", err)
		}
	})
	t.Run("garbage output hidden", func(t *testing.T) {
		s := cmdSource{line: script(t, "echo fake-garbage-XYZZY"), timeout: 5 * time.Second}
		_, err := s.load(ctx, "")
		wantErr(t, err, ErrKeySource)
		if strings.Contains(err.Error(), "XYZZY") {
			t.Fatalf("error %q quotes the output", err)
		}
	})
	t.Run("no shell", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "m")
		s := cmdSource{line: "echo x; touch " + marker, timeout: 5 * time.Second}
		s.load(ctx, "")
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the command line went through a shell")
		}
	})
	t.Run("hanging command times out", func(t *testing.T) {
		s := cmdSource{line: script(t, "exec sleep 5"), timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := s.load(ctx, "")
		wantErr(t, err, ErrKeySource)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("hanging key command returned after %v, want about 200ms", d)
		}
		if !strings.Contains(err.Error(), "did not finish") {
			t.Fatalf("error %q should say it timed out", err)
		}
	})
	t.Run("hanging command with a lingering child times out", func(t *testing.T) {
		s := cmdSource{line: script(t, "sleep 5 & sleep 5"), timeout: 200 * time.Millisecond}
		start := time.Now()
		_, err := s.load(ctx, "")
		wantErr(t, err, ErrKeySource)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("returned after %v", d)
		}
	})
	t.Run("vault end to end", func(t *testing.T) {
		line := script(t, `echo "$1"`) + " " + id.String()
		v := mustOpen(t, Options{Dir: newDir(t), KeySpec: "cmd:" + line, Keychain: NewMemKeychain()})
		mustUpdate(t, v, testAcct, fakeRecord())
		if m := mustMeta(t, v); m.KeySource != KindCommand || m.Recipient != id.Recipient().String() {
			t.Fatalf("meta = %+v", m)
		}
	})
}
