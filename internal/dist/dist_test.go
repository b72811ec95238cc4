package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// testTargets keeps the test's cost small: one Unix tar.gz target and one
// Windows zip target. `make dist` builds all six with the same code.
var testTargets = []string{"linux/amd64", "windows/arm64"}

const testVersion = "v0.0.0-reprotest"

// TestReproducible builds the release files twice, from two copies of the
// tree at different paths (of different lengths), the second with an empty
// build cache so that nothing is reused, and wants identical SHA256SUMS.
// Then it checks what is in them: each SBOM names every module in its
// binary, archive entries carry no owner or local time, and the linux/amd64
// relay says the release version.
func TestReproducible(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	srcA := filepath.Join(tmp, "a")
	srcB := filepath.Join(tmp, "second", "checkout", "of", "keyrelay")
	for _, dst := range []string{srcA, srcB} {
		copyTree(t, root, dst)
	}
	mtime := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	build := func(src, out string, env ...string) []byte {
		t.Helper()
		var log bytes.Buffer
		cfg := Config{Src: src, Out: out, Version: testVersion, Targets: testTargets,
			Mtime: mtime, Go: goCmd(), BuildFlags: ReproFlags, BuildEnv: env}
		if err := Run(cfg, &log); err != nil {
			t.Fatalf("dist in %s: %v\n%s", src, err, log.Bytes())
		}
		sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		return sums
	}
	outA := filepath.Join(tmp, "outA")
	sumsA := build(srcA, outA)
	sumsB := build(srcB, filepath.Join(tmp, "outB"), "GOCACHE="+filepath.Join(tmp, "gocache"))
	if !bytes.Equal(sumsA, sumsB) {
		t.Fatalf("two builds of the same tree differ:\n-- %s\n%s-- %s\n%s", srcA, sumsA, srcB, sumsB)
	}
	t.Logf("identical SHA256SUMS from %s and %s:\n%s", srcA, srcB, sumsA)
	if n := strings.Count(string(sumsA), "\n"); n != 3*len(testTargets) {
		t.Fatalf("SHA256SUMS has %d lines, want %d (an archive and two SBOMs per target):\n%s", n, 3*len(testTargets), sumsA)
	}
	for _, tg := range testTargets {
		checkTarget(t, outA, tg, mtime)
	}
}

// checkTarget opens the archive of target tg in out and checks its entries,
// the SBOM of each binary and, where it can run here, the relay's version.
func checkTarget(t *testing.T, out, tg string, mtime time.Time) {
	goos, goarch, _ := strings.Cut(tg, "/")
	base := "keyrelay_" + testVersion + "_" + goos + "_" + goarch
	entries := map[string][]byte{}
	if goos == "windows" {
		zr, err := zip.OpenReader(filepath.Join(out, base+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if !f.Modified.Equal(mtime) {
				t.Errorf("%s: %s time %v, want %v", base, f.Name, f.Modified, mtime)
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			entries[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
	} else {
		f, err := os.Open(filepath.Join(out, base+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if gz.Name != "" || !gz.ModTime.IsZero() {
			t.Errorf("%s: gzip header name %q mtime %v, want neither", base, gz.Name, gz.ModTime)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) {
				t.Errorf("%s: %s uid %d gid %d %q %q time %v, want 0 0 and %v", base, h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, mtime)
			}
			entries[h.Name], _ = io.ReadAll(tr)
		}
	}
	for _, c := range Commands {
		name := base + "/" + c
		if goos == "windows" {
			name += ".exe"
		}
		bin, ok := entries[name]
		if !ok {
			t.Fatalf("%s not in the archive", name)
		}
		bi, err := buildinfo.Read(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkSBOM(t, filepath.Join(out, base+"."+c+".cdx.json"), bi.Deps)
		if tg == runtime.GOOS+"/"+runtime.GOARCH {
			exe := filepath.Join(t.TempDir(), c)
			if err := os.WriteFile(exe, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := exec.Command(exe, "version").Output()
			if want := c + " " + testVersion + "\n"; err != nil || string(got) != want {
				t.Errorf("%s version = %q, %v; want %q", c, got, err, want)
			}
		}
	}
	for _, d := range Docs {
		if _, ok := entries[base+"/"+d]; !ok {
			t.Errorf("%s/%s not in the archive", base, d)
		}
	}
}

// checkSBOM wants a CycloneDX component for every module of the binary, at
// its version.
func checkSBOM(t *testing.T, path string, deps []*debug.Module) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		SerialNumber string `json:"serialNumber"`
		Components   []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != testVersion {
		t.Errorf("%s: bomFormat %q, main component version %q", path, bom.BOMFormat, bom.Metadata.Component.Version)
	}
	if bom.Metadata.Timestamp != "" || bom.SerialNumber != "" {
		t.Errorf("%s: timestamp %q serial %q, want neither (they change each run)", path, bom.Metadata.Timestamp, bom.SerialNumber)
	}
	have := map[string]bool{}
	for _, c := range bom.Components {
		have[c.Name+"@"+c.Version] = true
	}
	if len(deps) == 0 {
		t.Fatalf("%s: the binary records no modules", path)
	}
	for _, d := range deps {
		m := d
		if m.Replace != nil {
			m = m.Replace
		}
		if !have[m.Path+"@"+m.Version] {
			t.Errorf("%s: module %s@%s of the binary is missing", filepath.Base(path), m.Path, m.Version)
		}
	}
}

// copyTree copies the module at src to dst, without .git, bin, dist and
// other dot directories: a clean copy of the files a checkout has.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && rel != "." {
			n := d.Name()
			if strings.HasPrefix(n, ".") || n == "node_modules" ||
				(filepath.Dir(rel) == "." && (n == "bin" || n == "dist" || n == "testdata-out")) {
				return filepath.SkipDir
			}
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goCmd is the go command: the one in PATH, as `make dist` uses.
func goCmd() string { return "go" }
