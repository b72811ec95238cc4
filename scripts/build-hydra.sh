#!/usr/bin/env bash
# Builds Ory Hydra (pinned below) from the Go module proxy into DIR and
# prints the binary's path, for the Hydra interop tests (interop/hydra_*).
# Nothing of Hydra enters the repository: the build module lives in DIR.
#
#   scripts/build-hydra.sh [DIR]    (default: ${XDG_CACHE_HOME:-~/.cache}/keyrelay-hydra,
#                                    where the interop tests look too)
#
# Idempotent: a second run with the same DIR prints the cached binary at
# once. The binary's name carries the version, so a new pin rebuilds.
# Hydra v2 can't be built with `go install …@version` (its go.mod has
# replace directives), hence a throwaway module with the two replaces that
# matter: pop/v6 (Ory's fork) and hydra-client-go (v2.2.1; Hydra's own
# replace points into its tree). The `sqlite` tag (cgo) lets it run on
# DSN=memory. About 2.5 minutes on 2 cores the first time.
set -euo pipefail

HYDRA_VERSION=v2.3.0
POP_FORK=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
CLIENT_VERSION=v2.2.1

go=${GO:-go}
# Hydra's own module, not the caller's settings or workspace.
export GOFLAGS=-mod=mod GOWORK=off
dir=${1:-}
if [ -z "$dir" ]; then
	base=${XDG_CACHE_HOME:-$HOME/.cache}
	dir=$base/keyrelay-hydra
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$dir/hydra-$HYDRA_VERSION
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

# One build at a time per DIR (CI starts one in the background; a test
# may start another): the second waits for the first, then finds its
# binary.
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

src=$dir/src-$HYDRA_VERSION
rm -rf "$src"
mkdir -p "$src"
cd "$src"
{
	"$go" mod init keyrelay.invalid/hydra-build
	"$go" mod edit -replace "github.com/gobuffalo/pop/v6=$POP_FORK"
	"$go" mod edit -require "github.com/ory/hydra-client-go/v2@$CLIENT_VERSION"
	"$go" get "github.com/ory/hydra/v2@$HYDRA_VERSION"
	CGO_ENABLED=1 "$go" build -tags sqlite -trimpath -o "$bin.tmp" github.com/ory/hydra/v2
} >"$dir/build.log" 2>&1 || {
	echo "build-hydra: the build failed; its log:" >&2
	tail -n 40 "$dir/build.log" >&2
	exit 1
}
mv "$bin.tmp" "$bin"
rm -rf "$src"
echo "$bin"
