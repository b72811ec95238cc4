// Command dist builds keyrelay's release files reproducibly: `make dist`
// runs it as
//
//	go run ./internal/dist -version v0.3.0 -out dist
//
// For each target (linux, darwin, windows × amd64, arm64) it builds relay
// and backend with CGO_ENABLED=0, -trimpath, -buildvcs=false and
// -ldflags="-buildid= -X .../internal/buildinfo.release=VERSION", packs
// them with README.md and SECURITY.md into
// dist/keyrelay_VERSION_OS_ARCH.tar.gz (.zip for windows), writes a
// CycloneDX SBOM of each binary (dist/keyrelay_VERSION_OS_ARCH.relay.cdx.json
// and .backend.cdx.json, by cyclonedx-gomod, pinned below) and a SHA256SUMS
// of every file in dist/.
//
// The same commit, VERSION, SOURCE_DATE_EPOCH and Go toolchain give the
// same bytes, whatever the checkout's path:
//   - no path: -trimpath;
//   - no commit time, commit or work-tree state: -buildvcs=false; the
//     version is the only VCS-derived byte, and it is given;
//   - no build ID (it hashes the inputs' paths and the linker's): -buildid=;
//   - archives: entries sorted, mtime SOURCE_DATE_EPOCH (default
//     2000-01-01), uid/gid 0, no user or group names, modes 0755 and 0644;
//     gzip header without name or mtime;
//   - SBOMs without serial number or timestamp, by a cyclonedx-gomod built
//     with -trimpath (its own hash is in each SBOM).
//
// Non-goals: it does not sign anything (RELEASING.md), tag, or upload.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CycloneDXGomod is the SBOM generator, fetched through the module proxy at
// this exact version; nothing of it enters go.mod.
const CycloneDXGomod = "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0"

// AllTargets are the release targets.
var AllTargets = []string{
	"darwin/amd64", "darwin/arm64",
	"linux/amd64", "linux/arm64",
	"windows/amd64", "windows/arm64",
}

// Commands are the binaries of a release, as main packages of the module.
var Commands = []string{"backend", "relay"}

// Docs are the files next to the binaries in every archive.
var Docs = []string{"README.md", "SECURITY.md"}

// DefaultMtime is every archive entry's time when SOURCE_DATE_EPOCH is unset.
var DefaultMtime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Config is one run.
type Config struct {
	Src     string    // the module's root (a checkout or a copy)
	Out     string    // the output directory; earlier release files in it are removed
	Version string    // e.g. v0.3.0
	Targets []string  // GOOS/GOARCH
	Mtime   time.Time // every archive entry's time
	Go      string    // the go command
	// BuildFlags are the reproducibility flags of `go build` (tests change
	// them to show that the check catches their absence).
	BuildFlags []string
	// BuildEnv is added to the environment of `go build` only (tests give
	// it an empty GOCACHE, so that the product is rebuilt from nothing).
	BuildEnv []string
}

// ReproFlags are the `go build` flags that keep paths and VCS state out.
var ReproFlags = []string{"-trimpath", "-buildvcs=false"}

var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]*$`)

func main() {
	cfg := Config{Go: "go", BuildFlags: ReproFlags}
	var targets string
	flag.StringVar(&cfg.Src, "src", ".", "the module's root")
	flag.StringVar(&cfg.Out, "out", "dist", "output directory (release files of an earlier run are removed first)")
	flag.StringVar(&cfg.Version, "version", "", "release version, e.g. v0.3.0 (required)")
	flag.StringVar(&targets, "targets", strings.Join(AllTargets, ","), "comma-separated GOOS/GOARCH list")
	flag.Parse()
	cfg.Targets = strings.Split(targets, ",")
	mt, err := MtimeFromEnv(os.Getenv("SOURCE_DATE_EPOCH"))
	if err == nil {
		cfg.Mtime = mt
		err = Run(cfg, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist: error:", err)
		os.Exit(1)
	}
}

// MtimeFromEnv is the archive time for a SOURCE_DATE_EPOCH value ("" is
// DefaultMtime). Zip cannot store times before 1980.
func MtimeFromEnv(v string) (time.Time, error) {
	if v == "" {
		return DefaultMtime, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 315532800 { // 1980-01-01
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970, from 1980 on", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Run builds every file of cfg into cfg.Out, logging progress to log.
func Run(cfg Config, log io.Writer) error {
	if !versionRE.MatchString(cfg.Version) {
		return fmt.Errorf("version %q: want a tag such as v0.3.0 (make dist VERSION=v0.3.0)", cfg.Version)
	}
	src, err := filepath.Abs(cfg.Src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return fmt.Errorf("%s is not the module's root: %w", src, err)
	}
	for _, t := range cfg.Targets {
		if !validTarget(t) {
			return fmt.Errorf("target %q: want one of %s", t, strings.Join(AllTargets, ", "))
		}
	}
	out, err := filepath.Abs(cfg.Out)
	if err != nil {
		return err
	}
	if err := clean(out); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "keyrelay-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	cdx := filepath.Join(work, "tools", "cyclonedx-gomod")
	fmt.Fprintf(log, "== %s (built with -trimpath)\n", CycloneDXGomod)
	if err := run(src, []string{"GOBIN=" + filepath.Dir(cdx), "GOFLAGS=-trimpath", "CGO_ENABLED=0"},
		cfg.Go, "install", CycloneDXGomod); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		cdx += ".exe"
	}

	for _, t := range cfg.Targets {
		if err := buildTarget(cfg, src, out, work, cdx, t, log); err != nil {
			return err
		}
	}
	sums, err := Checksums(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), sums, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "== %s\n%s", filepath.Join(cfg.Out, "SHA256SUMS"), sums)
	return nil
}

// buildTarget builds the binaries of target t (GOOS/GOARCH) in work, their
// SBOMs (by the generator cdx) and their archive into out.
func buildTarget(cfg Config, src, out, work, cdx, t string, log io.Writer) error {
	goos, goarch, _ := strings.Cut(t, "/")
	base := fmt.Sprintf("keyrelay_%s_%s_%s", cfg.Version, goos, goarch)
	fmt.Fprintf(log, "== %s\n", base)
	ldflags := "-buildid= -X github.com/keyrelay/keyrelay/internal/buildinfo.release=" + cfg.Version
	var files []archFile
	for _, c := range Commands {
		name := c
		if goos == "windows" {
			name += ".exe"
		}
		bin := filepath.Join(work, base, name)
		args := append([]string{"build"}, cfg.BuildFlags...)
		args = append(args, "-ldflags="+ldflags, "-o", bin, "./"+c)
		// GOFLAGS is cleared: a -buildvcs or -mod in the caller's
		// environment must not change the bytes.
		env := append([]string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch, "GOFLAGS="}, cfg.BuildEnv...)
		if err := run(src, env, cfg.Go, args...); err != nil {
			return err
		}
		sbom := filepath.Join(out, base+"."+c+".cdx.json")
		if err := run(src, nil, cdx, "bin", "-json", "-std", "-noserial", "-notimestamp",
			"-version", cfg.Version, "-output", sbom, bin); err != nil {
			return err
		}
		files = append(files, archFile{name: name, path: bin, mode: 0o755})
	}
	for _, d := range Docs {
		files = append(files, archFile{name: d, path: filepath.Join(src, d), mode: 0o644})
	}
	if goos == "windows" {
		return writeZip(filepath.Join(out, base+".zip"), base, files, cfg.Mtime)
	}
	return writeTarGz(filepath.Join(out, base+".tar.gz"), base, files, cfg.Mtime)
}

func validTarget(t string) bool {
	for _, a := range AllTargets {
		if t == a {
			return true
		}
	}
	return false
}

// run runs name args in dir with env added, its output to stderr.
func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, buf.Bytes())
	}
	return nil
}

// clean makes dir and removes the release files of an earlier run from it
// (and only those: -out may name a directory with other files).
func clean(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if isRelease(e.Name()) || strings.HasPrefix(e.Name(), "SHA256SUMS") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// isRelease says whether name is an archive or SBOM this program writes.
func isRelease(name string) bool {
	return strings.HasPrefix(name, "keyrelay_") &&
		(strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip") || strings.HasSuffix(name, ".cdx.json"))
}

// Checksums is a SHA256SUMS of the release files in dir, sorted by name,
// in the format `sha256sum -c` reads.
func Checksums(dir string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, e := range ents { // ReadDir sorts by name
		if !isRelease(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), e.Name())
	}
	if b.Len() == 0 {
		return nil, errors.New("nothing to checksum in " + dir)
	}
	return b.Bytes(), nil
}

type archFile struct {
	name string // inside the archive's top directory
	path string
	mode int64
}

func sorted(files []archFile) []archFile {
	s := append([]archFile(nil), files...)
	sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
	return s
}

func writeTarGz(path, top string, files []archFile, mtime time.Time) error {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	// gz.Header is zero: no name, no mtime, OS "unknown".
	tw := tar.NewWriter(gz)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Mode: mode, Size: size,
			ModTime: mtime, Format: tar.FormatUSTAR}
	}
	if err := tw.WriteHeader(hdr(top+"/", 0o755, tar.TypeDir, 0)); err != nil {
		return err
	}
	for _, f := range sorted(files) {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr(top+"/"+f.name, f.mode, tar.TypeReg, int64(len(data)))); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeZip(path, top string, files []archFile, mtime time.Time) error {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	dir := &zip.FileHeader{Name: top + "/", Method: zip.Store, Modified: mtime}
	dir.SetMode(os.ModeDir | 0o755)
	if _, err := zw.CreateHeader(dir); err != nil {
		return err
	}
	for _, f := range sorted(files) {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: top + "/" + f.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(os.FileMode(f.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
