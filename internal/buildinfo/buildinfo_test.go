package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0bacf82b0a420573e086ea194ebc94a9eb0fea57"}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go install @version", debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{rev}}, "v0.3.0"},
		{"pseudo-version stamped from a checkout", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206234819-0bacf82b0a42+dirty"}}, "v0.0.0-20261206234819-0bacf82b0a42+dirty"},
		{"checkout, clean", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{rev, {Key: "vcs.modified", Value: "false"}}}, "0bacf82b0a42"},
		{"checkout, dirty", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, rev}}, "0bacf82b0a42-dirty"},
		{"short revision kept whole", debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}, "abc123"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"empty", debug.BuildInfo{}, "devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := From(&tc.bi); got != tc.want {
				t.Fatalf("From = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionOfThisBinary: the test binary has build info, and Version
// reads it without failing.
func TestVersionOfThisBinary(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	if got, want := Version(), From(bi); got != want || got == "" {
		t.Fatalf("Version = %q, From(ReadBuildInfo) = %q", got, want)
	}
}

// TestReleaseVersionWins: a version set by a release build (-X) is the one
// reported, whatever the toolchain recorded.
func TestReleaseVersionWins(t *testing.T) {
	old := release
	t.Cleanup(func() { release = old })
	release = "v9.8.7"
	if got := Version(); got != "v9.8.7" {
		t.Fatalf("Version = %q, want the release version v9.8.7", got)
	}
}
