package conformance

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// The 23 client scenarios of the spec that issue 16 asks the relay to
// pass, in the suite's order: the core ones, the auth ones, the
// 2025-03-26 back-compat ones and the draft ones; then the extension
// scenarios of client credentials (SEP-1046) and cross-app access
// (SEP-990), issue 17.
var scenarios = []string{
	"initialize",
	"tools_call",
	"elicitation-sep1034-client-defaults",
	"sse-retry",
	"auth/metadata-default",
	"auth/metadata-var1",
	"auth/metadata-var2",
	"auth/metadata-var3",
	"auth/basic-cimd",
	"auth/scope-from-www-authenticate",
	"auth/scope-from-scopes-supported",
	"auth/scope-omitted-when-undefined",
	"auth/scope-step-up",
	"auth/scope-retry-limit",
	"auth/token-endpoint-auth-basic",
	"auth/token-endpoint-auth-post",
	"auth/token-endpoint-auth-none",
	"auth/pre-registration",
	"auth/2025-03-26-oauth-metadata-backcompat",
	"auth/2025-03-26-oauth-endpoint-fallback",
	"auth/resource-mismatch",
	"auth/offline-access-scope",
	"auth/offline-access-not-supported",
	"auth/client-credentials-jwt",
	"auth/client-credentials-basic",
	"auth/cross-app-access-complete-flow",
}

// knownFailing are the scenarios the relay does not pass yet, each with
// why (docs/conformance.md has the suite's checks and the relay's log).
// Their subtests are skipped with what failed; one that passes fails its
// subtest, so that it is taken off this list: the list can only shrink.
var knownFailing = map[string]string{}

// knownFlaky are scenarios the relay passes only most of the time, each
// with why. One that fails is run again, up to flakyAttempts in all, and
// each failed attempt is logged; the subtest fails only if every attempt
// does. A scenario here is not in knownFailing.
var knownFlaky = map[string]string{}

const flakyAttempts = 3

const (
	// parallel is how many scenarios run at once: each is the suite, the
	// driver, the program under test and the browser, mostly waiting.
	parallel = 3
	// suiteTimeout is the suite's --timeout for the driver (its default);
	// the driver gives up a little before (driver.mjs).
	suiteTimeout = 30 * time.Second
)

// The client's flags in the suite's output (it prints them when the
// driver timed out or exited non-zero where the scenario expects it to
// succeed; checks.json does not have them).
const (
	clientTimedOut = "CLIENT TIMED OUT"
	clientExitErr  = "CLIENT EXITED WITH ERROR"
)

//go:embed driver.mjs
var driverJS []byte

func TestMain(m *testing.M) { testkit.Main(m) }

// TestConformance runs each scenario against the relay and fails on any
// failure or warning of the suite, but for knownFailing.
//
// KEYRELAY_CONFORMANCE_TABLE=FILE also runs mcp-remote on each scenario,
// right after the relay, and writes the markdown table of both to FILE
// (docs/conformance.md shows it and the command).
func TestConformance(t *testing.T) {
	s := setup(t)
	table := os.Getenv("KEYRELAY_CONFORMANCE_TABLE")
	var (
		mu      sync.Mutex
		results = map[string][2]*outcome{} // scenario: relay, mcp-remote
	)
	if table != "" {
		t.Cleanup(func() { // after every subtest
			if err := os.WriteFile(table, []byte(markdown(results)), 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("%d scenarios in %v", len(scenarios), time.Since(start).Round(time.Second)) })
	sem := make(chan struct{}, parallel)
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			// A flaky one runs first, alone: it fails more often on a
			// busy machine.
			if _, flaky := knownFlaky[sc]; !flaky {
				t.Parallel()
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			relay := s.runFlaky(t, sc)
			var remote *outcome
			if table != "" {
				remote = s.run(t, "mcp-remote", sc)
			}
			mu.Lock()
			results[sc] = [2]*outcome{relay, remote}
			mu.Unlock()
			judge(t, sc, relay)
		})
	}
}

// judge fails the subtest unless o passed, or skips it when sc is known to
// fail and does.
func judge(t *testing.T, sc string, o *outcome) {
	t.Helper()
	reason, known := knownFailing[sc]
	switch {
	case o.verdict == pass && known:
		t.Errorf("%s passes now: take it off knownFailing (%s)", sc, reason)
	case o.verdict == pass:
	case known:
		t.Skipf("known failure (%s): %s: %s", reason, o.verdict, o.summary())
	default:
		t.Errorf("%s: %s\n%s\nthe driver's and the relay's log:\n%s", o.verdict, o.summary(), o.browser, testkit.Tail(o.stderr))
	}
}

// runFlaky runs sc against the relay, again if it fails and is in
// knownFlaky, up to flakyAttempts in all; it returns the last run.
func (s *suite) runFlaky(t *testing.T, sc string) *outcome {
	t.Helper()
	reason, flaky := knownFlaky[sc]
	for i := 1; ; i++ {
		o := s.run(t, "relay", sc)
		o.attempts = i
		if o.verdict == pass || !flaky || i == flakyAttempts {
			return o
		}
		t.Logf("attempt %d of %d failed, a known flake (%s): %s: %s\n%s", i, flakyAttempts, reason, o.verdict, o.summary(), testkit.Tail(o.stderr))
	}
}

// suite is an installed conformance suite and the binaries it drives.
type suite struct {
	node, cli, mcpRemote string // Node 22, the suite's CLI, mcp-remote's entry point
	driver               string // driver.mjs, beside a node_modules of the install
	relay, browser       string
}

func setup(t *testing.T) *suite {
	dir := testkit.Installed(t, "KEYRELAY_CONFORMANCE_DIR", "install-conformance.sh", "npm") // the MCP conformance suite and Node 22
	s := &suite{
		node:      filepath.Join(dir, "node_modules", ".bin", "node"),
		cli:       filepath.Join(dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"),
		mcpRemote: filepath.Join(dir, "node_modules", "mcp-remote", "dist", "proxy.js"),
	}
	out, err := exec.Command(s.node, "--version").Output()
	if err != nil {
		testkit.SkipOrFail(t, fmt.Sprintf("no runnable Node in %s: %v", dir, err))
	}
	if v := strings.TrimSpace(string(out)); major(v) < 22 {
		testkit.SkipOrFail(t, fmt.Sprintf("the conformance suite needs Node >= 22; %s has %s", dir, v))
	}
	for _, p := range []string{s.cli, s.mcpRemote} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: incomplete install: %v", dir, err)
		}
	}
	// The driver imports the SDK: Node resolves it from a node_modules
	// beside the file, here a link to the install's.
	w := t.TempDir()
	s.driver = filepath.Join(w, "driver.mjs")
	if err := os.WriteFile(s.driver, driverJS, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(w, "node_modules")); err != nil {
		t.Fatal(err)
	}
	// The suite runs the driver's command through a shell, split on spaces.
	for _, p := range []string{s.node, s.driver} {
		if strings.ContainsAny(p, " \t\n'\"\\$`") {
			t.Fatalf("%q: the suite cannot run a command whose path has spaces or shell characters", p)
		}
	}
	s.relay = testkit.Relay(t)
	s.browser = testkit.Build(t, "github.com/keyrelay/keyrelay/conformance/redirectbrowser")
	return s
}

// major is the major version of a Node version such as v22.23.5, or 0.
func major(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(v, "v"), ".", 2)[0])
	return n
}

// The verdicts, as the suite gives them: a failed check or a client that
// timed out or exited with an error is a failure; else a warning check is a
// warning.
const (
	pass    = "pass"
	fail    = "fail"
	warning = "warning"
)

// check is one of the suite's checks (checks.json).
type check struct {
	ID           string `json:"id"`
	Description  string `json:"description"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, ...
	ErrorMessage string `json:"errorMessage"`
}

// outcome is one run of a scenario.
type outcome struct {
	verdict  string
	checks   []check
	client   string // clientTimedOut or clientExitErr when the suite said so
	problem  string // when the suite itself did not finish as it should
	stderr   string // the driver's stderr: its lines and the program's log
	browser  string // the browser's hops
	duration time.Duration
	attempts int // runs of a knownFlaky scenario, this one included
}

// summary lists what failed and what warned.
func (o *outcome) summary() string {
	var parts []string
	for _, c := range o.checks {
		if c.Status == "FAILURE" || c.Status == "WARNING" {
			s := c.Status + " " + c.ID + ": " + c.Description
			if c.ErrorMessage != "" {
				s += " (" + c.ErrorMessage + ")"
			}
			parts = append(parts, s)
		}
	}
	if o.client != "" {
		parts = append(parts, o.client)
	}
	if o.problem != "" {
		parts = append(parts, o.problem)
	}
	if len(parts) == 0 {
		return "all checks passed"
	}
	return strings.Join(parts, "; ")
}

// run runs scenario sc with target (relay or mcp-remote) behind the driver,
// in a fresh HOME and data directory with a fresh file vault key.
func (s *suite) run(t *testing.T, target, sc string) *outcome {
	t.Helper()
	e := testkit.NewRelayEnv(t)
	out := t.TempDir()
	browserLog := filepath.Join(e.Home, "browser.log")
	env := e.Environ(
		"BROWSER="+s.browser,
		"REDIRECTBROWSER_LOG="+browserLog,
		"KEYRELAY_CONFORMANCE_TARGET="+target,
		"KEYRELAY_RELAY="+s.relay,
		"KEYRELAY_MCP_REMOTE="+s.mcpRemote,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.node, s.cli, "client",
		"--command", s.node+" "+s.driver, "--scenario", sc,
		"--timeout", strconv.Itoa(int(suiteTimeout/time.Millisecond)), "-o", out)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var cliOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cliOut, &cliOut
	start := time.Now()
	err := cmd.Run()
	o := &outcome{duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		o.problem = fmt.Sprintf("the suite did not finish within %v", 2*suiteTimeout)
	case err != nil && !errors.As(err, &ee):
		t.Fatalf("conformance client: %v", err)
	}
	if b, err := os.ReadFile(browserLog); err == nil {
		o.browser = "browser: " + strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ", ")
	}
	res, err := resultDir(out)
	if err != nil {
		o.verdict = fail
		o.problem = strings.TrimSpace(o.problem + " " + err.Error() + "\n" + testkit.Tail(cliOut.String()))
		return o
	}
	b, err := os.ReadFile(filepath.Join(res, "checks.json"))
	if err == nil {
		err = json.Unmarshal(b, &o.checks)
	}
	if err != nil {
		t.Fatalf("the suite's checks.json: %v", err)
	}
	stderr, _ := os.ReadFile(filepath.Join(res, "stderr.txt"))
	o.stderr = string(stderr)
	for _, flag := range []string{clientTimedOut, clientExitErr} {
		if strings.Contains(cliOut.String(), flag) {
			o.client = strings.ToLower(flag)
		}
	}
	exit := cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 0
	switch {
	case o.problem != "" || o.client != "" || has(o.checks, "FAILURE"):
		o.verdict = fail
	case has(o.checks, "WARNING"):
		o.verdict = warning
	case !exit:
		o.verdict = fail
		o.problem = "the suite exited non-zero with no failed check:\n" + testkit.Tail(cliOut.String())
	default:
		o.verdict = pass
	}
	return o
}

// resultDir finds the one directory the suite wrote its results to under
// out (out/<scenario>-<time>).
func resultDir(out string) (string, error) {
	var found []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "checks.json" {
			found = append(found, filepath.Dir(p))
		}
		return err
	})
	if err == nil && len(found) != 1 {
		err = fmt.Errorf("the suite wrote %d checks.json under %s, want 1", len(found), out)
	}
	if err != nil {
		return "", err
	}
	return found[0], nil
}

func has(cs []check, status string) bool {
	return slices.ContainsFunc(cs, func(c check) bool { return c.Status == status })
}

// markdown is the table of the relay's and mcp-remote's verdicts, then
// what failed or warned, per scenario.
func markdown(results map[string][2]*outcome) string {
	var b strings.Builder
	b.WriteString("| scenario | relay | mcp-remote 0.15.1 |\n| --- | --- | --- |\n")
	count := [2]int{}
	for _, sc := range scenarios {
		r := results[sc]
		cell := func(i int) string {
			if r[i] == nil {
				return "not run"
			}
			if r[i].verdict == pass {
				count[i]++
			}
			if r[i].attempts > 1 {
				return fmt.Sprintf("%s (attempt %d)", r[i].verdict, r[i].attempts)
			}
			return r[i].verdict
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", sc, cell(0), cell(1))
	}
	fmt.Fprintf(&b, "| **passed** | **%d of %d** | **%d of %d** |\n", count[0], len(scenarios), count[1], len(scenarios))
	b.WriteString("\nWhat failed or warned:\n\n")
	for _, sc := range scenarios {
		for i, who := range []string{"relay", "mcp-remote"} {
			if o := results[sc][i]; o != nil && o.verdict != pass {
				fmt.Fprintf(&b, "- `%s`, %s: %s\n", sc, who, o.summary())
			}
		}
	}
	return b.String()
}
