package vault

import (
	"context"
	"errors"
	"fmt"
)

// Status describes the vault without revealing or unlocking anything.
type Status struct {
	Dir       string // the data directory
	Exists    bool   // vault.json exists: a first login has happened
	HasTokens bool   // tokens.age exists

	// KeySource is the recorded key source, or, before the first login, the
	// one a login would choose ("" if none would work: see Problem).
	KeySource Kind
	Recorded  bool // KeySource comes from vault.json

	Protects       string // what the key source protects against
	DoesNotProtect string // what it does not

	Problem string // why the vault cannot be used as configured, if known
}

// Status reports on the vault. It reads vault.json and may ask the keychain
// whether it is reachable, but never loads the key, prompts, or writes.
func (v *Vault) Status(ctx context.Context) Status {
	s := Status{Dir: v.dir, HasTokens: exists(v.path(fileTokens)), Exists: exists(v.path(fileMeta))}
	if s.Exists {
		if s.KeySource = v.recordedKind(); s.KeySource == "" {
			s.Problem = "vault.json is unreadable; the next use moves it aside"
		} else if _, err := v.recordedSource(s.KeySource); err != nil {
			s.Problem = err.Error()
		}
		s.Recorded = s.KeySource != ""
	} else {
		s.KeySource, s.Problem = v.planned(ctx)
	}
	s.Protects, s.DoesNotProtect = describe(s.KeySource)
	return s
}

// planned predicts chooseAndCreate without creating anything.
func (v *Vault) planned(ctx context.Context) (Kind, string) {
	if v.spec.kind != "" {
		return v.spec.kind, ""
	}
	_, err := v.kc.Get(ctx, keychainAccount("status-probe"))
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return KindKeychain, ""
	case errors.Is(err, ErrUnavailable) && v.opts.PassphraseFile != "":
		return KindPassphrase, ""
	case errors.Is(err, ErrUnavailable):
		return "", fmt.Sprintf("no OS keychain in this session and no other key source configured: set %s", EnvKey)
	}
	return KindKeychain, err.Error()
}
