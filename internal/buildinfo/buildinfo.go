// Package buildinfo says which build of keyrelay is running, for
// `relay version` and `backend version`. It reads what the Go toolchain
// records in the binary (runtime/debug.ReadBuildInfo), so no build flag is
// needed:
//   - installed with `go install github.com/keyrelay/keyrelay/relay@v0.3.0`
//     (or built in a checkout by a Go that stamps one), the module's
//     version: v0.3.0;
//   - built in a git checkout, with no module version, the commit: the
//     first 12 hex digits of vcs.revision, and "-dirty" when the work tree
//     had changes (vcs.modified);
//   - otherwise "devel" (for example `go build -buildvcs=false`).
//
// A release build (`make dist`, internal/dist) sets the version with
// -ldflags -X instead: it builds with -buildvcs=false, so that no commit
// time or work-tree state is in the binary, and passes the tag
// (`git describe --tags`) here. That version wins over the others.
//
// Non-goals: it does not ask git or the network; a binary says only what
// was recorded when it was built.
package buildinfo

import "runtime/debug"

// release is the version a release build sets with
// -ldflags=-X=github.com/keyrelay/keyrelay/internal/buildinfo.release=v0.3.0.
var release string

// Version is the version of the running binary.
func Version() string {
	if release != "" {
		return release
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return devel
	}
	return From(bi)
}

// devel is the version of a build that recorded neither a module version
// nor a commit.
const devel = "devel"

// From is the version recorded in bi (see the package doc).
func From(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return devel
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
