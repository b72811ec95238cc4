package vault

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"filippo.io/age"
)

// DefaultCommandTimeout bounds a key command. It is generous because
// password managers may ask the user to unlock them.
const DefaultCommandTimeout = 30 * time.Second

// cmdSource runs a command that prints the vault key as an age identity
// (RELAY_VAULT_KEY=cmd:COMMAND), e.g. from a password manager.
//
// The command runs without a shell, with no stdin and a timeout. Its output
// is parsed as an identity file and never appears in errors; its stderr is
// discarded.
type cmdSource struct {
	line    string
	timeout time.Duration
}

var _ keySource = cmdSource{}

func (cmdSource) kind() Kind { return KindCommand }

func (s cmdSource) load(ctx context.Context, _ string) (*age.X25519Identity, error) {
	argv, err := splitCommand(s.line)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out := &limitedBuffer{max: maxKeyFile}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, nil
	cmd.WaitDelay = time.Second // don't wait for grandchildren holding stdout
	err = cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%w: key command %q did not finish within %v", ErrKeySource, argv[0], s.timeout)
	case err != nil:
		return nil, fmt.Errorf("%w: key command %q failed (%s); its output is not shown, run it yourself to see why",
			ErrKeySource, argv[0], exitSummary(err))
	case out.overflow:
		return nil, fmt.Errorf("%w: key command %q printed more than %d bytes", ErrKeySource, argv[0], maxKeyFile)
	}
	return parseIdentity("output of key command "+argv[0], out.b)
}

func (s cmdSource) create(ctx context.Context, id string) (*age.X25519Identity, error) {
	return s.load(ctx, id)
}

func exitSummary(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String() // "exit status 1" or "signal: killed"
	}
	if errors.Is(err, exec.ErrNotFound) {
		return "not found in PATH"
	}
	return "could not start"
}

// splitCommand splits a key command line into argv. Arguments are separated
// by spaces or tabs; a single- or double-quoted part may contain spaces and
// is taken literally (no escapes, variables or globbing: there is no shell).
func splitCommand(line string) ([]string, error) {
	var argv []string
	var cur strings.Builder
	inArg, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t':
			if inArg {
				argv, inArg = append(argv, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%w: RELAY_VAULT_KEY cmd: has an unterminated quote", ErrKeySource)
	}
	if inArg {
		argv = append(argv, cur.String())
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: RELAY_VAULT_KEY cmd: names no command", ErrKeySource)
	}
	return argv, nil
}

// limitedBuffer keeps the first max bytes written and notes any overflow.
type limitedBuffer struct {
	b        []byte
	max      int
	overflow bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); len(p) > room {
		l.b, l.overflow = append(l.b, p[:max(room, 0)]...), true
		return len(p), nil
	}
	l.b = append(l.b, p...)
	return len(p), nil
}
