//go:build linux

package winelane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const module = "github.com/keyrelay/keyrelay"

// unitPackages are the packages whose Windows tests the lane runs whole.
// The relay's own package (package main) is run apart, with only its
// in-process CLI tests (relay/main_test.go): its other tests build and
// start Linux programs.
var unitPackages = []string{"./platform/...", "./vault/...", "./relay/..."}

// mustPass are the tests that must have run and passed under Wine: the
// keychain tests against Windows Credential Manager. A skip fails the lane.
var mustPass = []string{
	"vault TestOSKeychainRoundTrip",
	"vault TestOSKeychainVaultEndToEnd",
}

// TestWindowsLaneUnits runs the Windows test binaries under Wine and
// reports: per package, what passed and failed; the keychain tests that ran
// against Credential Manager; every skip with its reason, the Wine-only
// ones (wine-only.txt) apart.
func TestWindowsLaneUnits(t *testing.T) {
	skips := readWineOnly(t)
	w := needWine(t)
	t.Logf("wine prefix made in %v (scripts/wine/setup.sh: wineboot, the ProcessPrng shim, the overlay)", w.setupTook.Round(100*time.Millisecond))
	cliTests := testNames(t, filepath.Join(root, "relay", "main_test.go"))
	pkgs := listPackages(t, w, unitPackages)
	start := time.Now()
	var wg sync.WaitGroup
	var all, cli []event
	var errAll, errCLI error
	wg.Go(func() {
		args := []string{"test", "-json", "-count=1", "-timeout=5m", "-exec", w.exec}
		if len(skips) > 0 {
			args = append(args, "-skip", "^("+strings.Join(skipNames(skips), "|")+")$")
		}
		all, errAll = w.goTestJSON(append(args, pkgs...)...)
	})
	wg.Go(func() {
		cli, errCLI = w.goTestJSON("test", "-json", "-count=1", "-timeout=5m", "-exec", w.exec,
			"-run", "^("+strings.Join(cliTests, "|")+")$", "./relay")
	})
	wg.Wait()
	took := time.Since(start)
	r := summarize(append(all, cli...))
	t.Logf("windows tests under wine: %d packages, %d tests passed, %d failed, %d skipped, in %v (go test -exec scripts/wine/exec.sh, building included)",
		len(r.packages), r.passed, len(r.failed), len(r.skipped), took.Round(time.Second))
	for _, p := range r.packages {
		t.Logf("  %s", p)
	}
	for _, f := range r.failed {
		t.Errorf("FAIL under wine: %s\n%s", f.name, f.output)
	}
	for _, name := range mustPass {
		if r.results[name] != "pass" {
			t.Errorf("%s: %q under wine, want pass (the keychain tests must run against Credential Manager)", name, r.results[name])
		} else {
			t.Logf("credential manager: %s ran against Wine's Windows Credential Manager and passed", name)
		}
	}
	if len(skips) == 0 {
		t.Logf("wine-only skips (internal/winelane/wine-only.txt): none")
	}
	for _, s := range skips {
		t.Logf("wine-only skip: %s %s: %s", s.pkg, s.test, s.reason)
	}
	for _, s := range r.skipped {
		t.Logf("skipped inside the windows tests: %s: %s", s.name, s.output)
	}
	// A build failure or a crash is no test's failure: report it whole.
	for _, err := range []error{errAll, errCLI} {
		if err != nil && len(r.failed) == 0 {
			t.Errorf("go test under wine: %v", err)
		}
	}
}

// wineOnly is one line of wine-only.txt.
type wineOnly struct{ pkg, test, reason string }

var wineOnlyLine = regexp.MustCompile(`^(\S+)\s+(Test\w*)\s+--\s+(\S.*)$`)

// readWineOnly reads wine-only.txt and checks that each test it names is
// a test function of its package, and of no other lane package (a -skip
// pattern names tests, not packages).
func readWineOnly(t *testing.T) []wineOnly {
	t.Helper()
	b, err := os.ReadFile("wine-only.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []wineOnly
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := wineOnlyLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("wine-only.txt:%d: want \"package TestName -- reason\", got %q", i+1, line)
		}
		e := wineOnly{pkg: m[1], test: m[2], reason: m[3]}
		if where := definedIn(t, e.test); !slices.Equal(where, []string{e.pkg}) {
			t.Fatalf("wine-only.txt:%d: %s is a test of %v, want of %s only", i+1, e.test, where, e.pkg)
		}
		out = append(out, e)
	}
	return out
}

func skipNames(s []wineOnly) []string {
	var n []string
	for _, e := range s {
		n = append(n, regexp.QuoteMeta(e.test))
	}
	return n
}

// definedIn lists the directories (under the root) whose tests define a
// top-level test function named name.
func definedIn(t *testing.T, name string) []string {
	t.Helper()
	var where []string
	for _, top := range []string{"platform", "vault", "relay"} {
		filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
				return err
			}
			if slices.Contains(testNames(t, p), name) {
				rel, _ := filepath.Rel(root, filepath.Dir(p))
				if !slices.Contains(where, rel) {
					where = append(where, rel)
				}
			}
			return nil
		})
	}
	return where
}

var testFunc = regexp.MustCompile(`(?m)^func (Test\w*)\(t \*testing\.T\)`)

// testNames lists the top-level test functions of a _test.go file.
func testNames(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range testFunc.FindAllSubmatch(b, -1) {
		if n := string(m[1]); n != "TestMain" {
			names = append(names, n)
		}
	}
	return names
}

// listPackages expands patterns for windows, without the relay's package
// main.
func listPackages(t *testing.T, w *wine, patterns []string) []string {
	t.Helper()
	out, err := w.goWindows(append([]string{"list"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if p != module+"/relay" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// event is one line of go test -json.
type event struct {
	Action, Package, Test, Output string
	Elapsed                       float64
}

// goTestJSON runs go test -json for windows under Wine and returns its
// events; err is go test's exit status, and its stderr (a build failure).
func (w *wine) goTestJSON(args ...string) ([]event, error) {
	cmd := w.goWindows(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	evs, perr := readEvents(stdout)
	if err := cmd.Wait(); err != nil {
		return evs, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	return evs, perr
}

func readEvents(r io.Reader) ([]event, error) {
	var evs []event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			evs = append(evs, e)
		}
	}
	return evs, sc.Err()
}

// report is what the events say.
type report struct {
	packages []string          // "ok   vault   123 passed, 2 skipped (7.8s)"
	results  map[string]string // "vault TestX" → pass, fail or skip
	passed   int
	failed   []outcome
	skipped  []outcome
}

type outcome struct{ name, output string }

func summarize(evs []event) report {
	r := report{results: map[string]string{}}
	out := map[string]*strings.Builder{}
	type counts struct{ pass, fail, skip int }
	per := map[string]*counts{}
	pkgLine := map[string]string{}
	for _, e := range evs {
		pkg := strings.TrimPrefix(strings.TrimPrefix(e.Package, module), "/")
		if pkg == "relay" {
			pkg = "relay (in-process CLI tests)"
		}
		if per[pkg] == nil {
			per[pkg] = &counts{}
		}
		name := pkg + " " + e.Test
		switch e.Action {
		case "output":
			if out[name] == nil {
				out[name] = &strings.Builder{}
			}
			out[name].WriteString(e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				pkgLine[pkg] = fmt.Sprintf("%-4s %s (%.1fs)", e.Action, pkg, e.Elapsed)
				if e.Action == "fail" && per[pkg].fail == 0 {
					// A build failure or a crash outside any test.
					r.failed = append(r.failed, outcome{pkg, testOutput(out[name])})
				}
				continue
			}
			r.results[name] = e.Action
			c := per[pkg]
			switch e.Action {
			case "pass":
				c.pass++
				r.passed++
			case "fail":
				c.fail++
				r.failed = append(r.failed, outcome{name, testOutput(out[name])})
			case "skip":
				c.skip++
				r.skipped = append(r.skipped, outcome{name, skipReason(out[name])})
			}
		}
	}
	for pkg, line := range pkgLine {
		c := per[pkg]
		r.packages = append(r.packages, fmt.Sprintf("%s: %d passed, %d failed, %d skipped", line, c.pass, c.fail, c.skip))
	}
	sort.Strings(r.packages)
	return r
}

func testOutput(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	return strings.TrimRight(b.String(), "\n")
}

// skipReason is a skipped test's message: its output without the
// "=== RUN" and "--- SKIP" lines.
func skipReason(b *strings.Builder) string {
	var keep []string
	for _, l := range strings.Split(testOutput(b), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- ") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return "(no reason given)"
	}
	return strings.Join(keep, " ")
}
