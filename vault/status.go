package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Status describes the vault without writing, prompting or unlocking
// anything a person would have to unlock.
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

	// Locked: the vault's key is wrapped with a passphrase and no
	// passphrase file is configured; Status never prompts, so what the
	// vault holds cannot be known.
	Locked bool

	// KeyNote says what the first login will do with the key source, if
	// that is worth saying (a key file it will create).
	KeyNote string

	// Problem says why a login or a read would fail with the key source
	// as configured, if it would.
	Problem string
}

// Status reports on the vault: the key source recorded or planned, and
// whether it works now. It reads vault.json and tries the key source as a
// read would (the keychain, the key file, the key command, the passphrase
// file), so that what would make a login fail is named here; a key it
// loads is kept for this Vault's next read. It never prompts, never
// writes, and never moves a file aside.
func (v *Vault) Status(ctx context.Context) Status {
	s := Status{Dir: v.dir, HasTokens: v.HasTokens(), Exists: exists(v.path(fileMeta))}
	if s.Exists {
		v.recordedStatus(ctx, &s)
	} else {
		v.plannedStatus(ctx, &s)
	}
	s.Protects, s.DoesNotProtect = describe(s.KeySource)
	return s
}

// HasTokens reports whether tokens.age exists, at the cost of one stat:
// Status without trying the key source.
func (v *Vault) HasTokens() bool { return exists(v.path(fileTokens)) }

// recordedStatus checks the key source that vault.json names.
func (v *Vault) recordedStatus(ctx context.Context, s *Status) {
	m, err := v.peekMeta()
	if ne, ok := errors.AsType[*NewerError](err); ok {
		s.Problem = (&NewerError{File: fileMeta, Reason: ne.Reason}).Error()
		return
	}
	if err != nil {
		s.Problem = "vault.json is unreadable; the next use moves it aside"
		return
	}
	s.KeySource, s.Recorded = m.KeySource, true
	if _, err := v.recordedSource(m.KeySource); err != nil {
		s.Problem = err.Error()
		return
	}
	if m.KeySource == KindPassphrase && v.opts.PassphraseFile == "" {
		s.Locked = true
		return
	}
	if _, err := v.identity(ctx, m); err != nil {
		s.Problem = err.Error()
	}
}

// plannedStatus predicts chooseAndCreate without creating anything.
func (v *Vault) plannedStatus(ctx context.Context, s *Status) {
	s.KeySource = v.spec.kind
	if s.KeySource == "" || s.KeySource == KindKeychain {
		s.KeySource, s.Problem = v.plannedKeychain(ctx)
	}
	if s.Problem != "" {
		return
	}
	var err error
	switch s.KeySource {
	case KindFile:
		s.KeyNote, err = v.plannedKeyFile()
	case KindCommand:
		_, err = v.source(KindCommand).load(ctx, "")
	case KindPassphrase:
		if v.opts.PassphraseFile != "" { // else a login asks for one
			_, err = v.source(KindPassphrase).(*passphraseSource).passphrase(ctx, "", true)
		}
	}
	if err != nil {
		s.Problem = err.Error()
	}
}

// plannedKeychain asks the keychain whether it is there: the key source
// of a first login when RELAY_VAULT_KEY is empty or "keychain".
func (v *Vault) plannedKeychain(ctx context.Context) (Kind, string) {
	_, err := v.kc.Get(ctx, keychainAccount("status-probe"))
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return KindKeychain, ""
	case !errors.Is(err, ErrUnavailable):
		return KindKeychain, err.Error()
	case v.spec.kind == KindKeychain:
		why := "RELAY_VAULT_KEY=keychain"
		if v.opts.RequireKeychain {
			why = "the administrator's policy"
		}
		return KindKeychain, fmt.Sprintf("%s, and %s requires one", noKeychain(err), why)
	case v.opts.PassphraseFile != "":
		return KindPassphrase, ""
	}
	return "", fmt.Sprintf("%s, and no other key source: set %s=file:%s (created at first login) or %s=passphrase",
		noKeychain(err), EnvKey, v.suggestedKeyFile(), EnvKey)
}

func noKeychain(err error) string {
	if why := unavailableWhy(err); why != "" {
		return "no OS keychain in this session (" + why + ")"
	}
	return "no OS keychain in this session"
}

// plannedKeyFile checks RELAY_VAULT_KEY=file:PATH before the first login:
// an existing file must hold a key, a missing one must be creatable.
func (v *Vault) plannedKeyFile() (note string, err error) {
	src := v.source(KindFile).(fileSource)
	_, err = src.read()
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := src.canCreate(); err != nil {
		return "", err
	}
	return fmt.Sprintf("the key file %s does not exist yet; the first login creates it", src.path), nil
}
