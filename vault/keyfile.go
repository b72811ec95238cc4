package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"filippo.io/age"

	"github.com/keyrelay/keyrelay/platform"
)

// maxKeyFile bounds what is read from a key file or key command.
const maxKeyFile = 64 << 10

// fileSource reads the vault key from an age identity file the user manages
// (RELAY_VAULT_KEY=file:PATH). The file is refused if it is a symlink, owned
// by someone else, or readable by group or other. The vault never writes or
// deletes it.
type fileSource struct{ path string }

var _ keySource = fileSource{}

func (fileSource) kind() Kind { return KindFile }

func (s fileSource) load(context.Context, string) (*age.X25519Identity, error) {
	b, err := platform.ReadSecretFile(s.path, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: key file %s does not exist", ErrKeySource, s.path)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	return parseIdentity("key file "+s.path, b)
}

// create uses the user's key as is: keyrelay never generates a key file,
// which would put the key next to the data it protects.
func (s fileSource) create(ctx context.Context, id string) (*age.X25519Identity, error) {
	return s.load(ctx, id)
}
