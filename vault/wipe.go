package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/keyrelay/keyrelay/platform"
)

// ErrWipeIncomplete: Wipe could not remove everything. Errors wrapping it
// are *WipeError.
var ErrWipeIncomplete = errors.New("vault: wipe incomplete")

// Outcome is the result of one WipeStep.
type Outcome string

const (
	Removed Outcome = "removed"
	Absent  Outcome = "not present"
	Skipped Outcome = "skipped"
	Failed  Outcome = "failed"
)

// WipeStep is one thing Wipe tried to remove.
type WipeStep struct {
	What    string  // e.g. `keychain items of service "keyrelay"`, or a file path
	Outcome Outcome //
	Note    string  // why it was skipped or how it failed; never secret
	Err     error   // set when Outcome is Failed
}

// WipeReport lists Wipe's steps in order.
type WipeReport struct{ Steps []WipeStep }

// Failed returns the steps that failed.
func (r WipeReport) Failed() []WipeStep {
	var out []WipeStep
	for _, s := range r.Steps {
		if s.Outcome == Failed {
			out = append(out, s)
		}
	}
	return out
}

// WipeError names what Wipe could not remove.
type WipeError struct{ Remaining []WipeStep }

func (e *WipeError) Error() string {
	parts := make([]string, len(e.Remaining))
	for i, s := range e.Remaining {
		parts[i] = fmt.Sprintf("%s (%v)", s.What, s.Err)
	}
	return "vault: wipe incomplete, could not remove: " + strings.Join(parts, "; ")
}

// Unwrap returns ErrWipeIncomplete and each step's error, so that
// errors.Is(err, ErrLocked) tells a locked keychain apart.
func (e *WipeError) Unwrap() []error {
	errs := []error{ErrWipeIncomplete}
	for _, s := range e.Remaining {
		errs = append(errs, s.Err)
	}
	return errs
}

// Wipe removes everything the vault stored, in order, under the lock:
//  1. every keychain item of keyrelay's service (the vault key; deleting it
//     crypto-shreds tokens.age and every backup of it). This covers the
//     items of vaults in other data directories of the same user too;
//  2. tokens.age, key.age, vault.json, leftover temporary files and files
//     moved aside as corrupt.
//
// Only the lock file stays. A locked keychain is a failure; an unavailable
// one is a failure only if this vault's key is kept there. Wipe tries every
// step even after a failure and returns a *WipeError naming what remains.
// A user-managed key file (file:) or key command is left alone.
func (v *Vault) Wipe(ctx context.Context) (WipeReport, error) {
	unlock, err := v.lock(ctx)
	if err != nil {
		return WipeReport{}, err
	}
	defer unlock()
	defer v.forget()
	var rep WipeReport
	kind := v.recordedKind()
	rep.Steps = append(rep.Steps, v.wipeKeychain(ctx, kind))
	for _, name := range []string{fileTokens, fileKey, fileMeta} {
		rep.Steps = append(rep.Steps, removeStep(v.path(name), true))
	}
	leftovers, err := v.leftovers()
	if err != nil {
		rep.Steps = append(rep.Steps, WipeStep{What: v.dir + " (listing)", Outcome: Failed, Err: err})
	}
	for _, p := range leftovers {
		rep.Steps = append(rep.Steps, removeStep(p, false))
	}
	if kind == KindFile {
		rep.Steps = append(rep.Steps, WipeStep{What: "key file " + v.spec.arg, Outcome: Skipped,
			Note: "managed by you; without tokens.age it unlocks nothing"})
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return rep, &WipeError{Remaining: failed}
	}
	return rep, nil
}

// recordedKind returns the key source in vault.json, "" if unknown.
func (v *Vault) recordedKind() Kind {
	m, err := v.peekMeta()
	if err != nil {
		return ""
	}
	return m.KeySource
}

func (v *Vault) wipeKeychain(ctx context.Context, kind Kind) WipeStep {
	step := WipeStep{What: `keychain items of service "` + v.service() + `"`}
	err := v.kc.DeleteAll(ctx)
	switch {
	case err == nil:
		step.Outcome = Removed
	case errors.Is(err, ErrUnavailable) && kind != KindKeychain:
		step.Outcome, step.Note = Skipped, "no OS keychain in this session, and this vault's key is not kept there"
	default:
		step.Outcome, step.Err = Failed, err
	}
	return step
}

func (v *Vault) service() string {
	if k, ok := v.kc.(*OSKeychain); ok && k.Service != "" {
		return k.Service
	}
	return DefaultService
}

// leftovers lists temporary files of interrupted writes and files moved
// aside as corrupt.
func (v *Vault) leftovers() ([]string, error) {
	entries, err := os.ReadDir(v.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); platform.IsAtomicTemp(n) || strings.Contains(n, corruptInfix) {
			out = append(out, v.path(n))
		}
	}
	return out, nil
}

func removeStep(p string, reportAbsent bool) WipeStep {
	err := os.Remove(p)
	switch {
	case err == nil:
		return WipeStep{What: p, Outcome: Removed}
	case errors.Is(err, fs.ErrNotExist) && reportAbsent:
		return WipeStep{What: p, Outcome: Absent}
	case errors.Is(err, fs.ErrNotExist):
		return WipeStep{What: p, Outcome: Removed} // raced with another remover
	}
	return WipeStep{What: p, Outcome: Failed, Err: err}
}

// String is the step for the person: what, outcome, and the note.
func (s WipeStep) String() string {
	line := s.What + ": " + string(s.Outcome)
	if s.Note != "" {
		line += " (" + s.Note + ")"
	}
	return line
}
