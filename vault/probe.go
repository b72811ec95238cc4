package vault

import (
	"fmt"
	"os"

	"github.com/keyrelay/keyrelay/platform"
)

// probeSlack is what a probe writes beyond the current tokens.age: room
// for the new tokens.
const probeSlack = 16 << 10

// ProbeWrite checks that a new tokens.age could be written now: it writes
// and syncs a temporary file as large as the current one plus 16 KiB in
// the data directory, then removes it. A caller about to get new tokens
// that cannot be undone (a refresh rotates the refresh token at the server)
// asks first, so a full disk or a read-only directory costs an error, not
// the sign-in. Call it under Update's lock; it writes no vault file.
func (v *Vault) ProbeWrite() error {
	size := int64(0)
	if fi, err := os.Stat(v.path(fileTokens)); err == nil {
		size = fi.Size()
	}
	f, err := platform.CreateAtomic(v.path(fileTokens))
	if err != nil {
		return fmt.Errorf("vault: cannot write in %s: %w", v.dir, err)
	}
	defer f.Abort()
	if _, err := f.Write(make([]byte, size+probeSlack)); err != nil {
		return fmt.Errorf("vault: cannot write in %s: %w", v.dir, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vault: cannot write in %s: %w", v.dir, err)
	}
	return nil
}
