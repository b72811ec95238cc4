package platform

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"
)

func TestDataDirPerOS(t *testing.T) {
	// Absolute paths of the OS the test runs on: "/x" is not absolute on
	// Windows (no drive), so dataDirFor would rightly ignore it there.
	abs := func(p string) string {
		if runtime.GOOS == "windows" {
			return `C:` + filepath.FromSlash(p)
		}
		return p
	}
	home := abs("/home/u")
	tests := []struct {
		name string
		goos string
		env  map[string]string
		home string
		want string
		err  error
	}{
		{"linux xdg", "linux", map[string]string{"XDG_CONFIG_HOME": abs("/x")}, home, filepath.Join(abs("/x"), "keyrelay"), nil},
		{"linux relative xdg ignored", "linux", map[string]string{"XDG_CONFIG_HOME": "rel"}, home, filepath.Join(home, ".config", "keyrelay"), nil},
		{"linux default", "linux", nil, home, filepath.Join(home, ".config", "keyrelay"), nil},
		{"darwin", "darwin", map[string]string{"XDG_CONFIG_HOME": abs("/x")}, home, filepath.Join(home, "Library", "Application Support", "keyrelay"), nil},
		{"windows", "windows", map[string]string{"APPDATA": abs("/appdata")}, home, filepath.Join(abs("/appdata"), "keyrelay"), nil},
		{"override wins", "darwin", map[string]string{"RELAY_DATA_DIR": abs("/data")}, home, abs("/data"), nil},
		{"no home", "linux", nil, "", "", ErrNoDataDir},
		{"windows no appdata", "windows", nil, home, "", ErrNoDataDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dataDirFor(tt.goos, func(k string) string { return tt.env[k] }, tt.home)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("dataDirFor = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestDataDirOverrideIsMadeAbsolute(t *testing.T) {
	t.Setenv(EnvDataDir, "relative/dir")
	got, err := DataDir()
	if err != nil || !filepath.IsAbs(got) {
		t.Fatalf("DataDir() = %q, %v; want an absolute path", got, err)
	}
}

func TestPolicyPathPerOS(t *testing.T) {
	for goos, want := range map[string]string{
		"linux":   filepath.Join("/etc", "keyrelay", "policy.json"),
		"freebsd": filepath.Join("/etc", "keyrelay", "policy.json"),
		"darwin":  filepath.Join("/Library", "Application Support", "keyrelay", "policy.json"),
	} {
		if got := unixPolicyPath(goos); got != want {
			t.Errorf("%s: %q, want %q", goos, got, want)
		}
	}
	if runtime.GOOS != "windows" && PolicyPath() != unixPolicyPath(runtime.GOOS) {
		t.Errorf("PolicyPath() = %q", PolicyPath())
	}
}
