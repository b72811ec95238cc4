#!/bin/sh
# go test -exec wrapper: runs a Windows program (a test binary) under Wine,
# in the prefix scripts/wine/setup.sh made, with Wine's debug output off.
# Its exit code is the program's; a start that failed silently is tried
# once more (below). `exec.sh --which` prints the Wine loader
# it uses: $WINE if set, else Debian's wine64 (not on PATH when only the
# wine64 package is installed), else wine64 or wine on PATH.
set -e
wine=${WINE:-}
if [ -z "$wine" ]; then
	for w in /usr/lib/wine/wine64 "$(command -v wine64 || true)" "$(command -v wine || true)"; do
		if [ -n "$w" ] && [ -x "$w" ]; then wine=$w; break; fi
	done
fi
if [ -z "$wine" ] || [ ! -x "$wine" ]; then
	echo "exec.sh: no Wine found${wine:+ at $wine} (apt-get install wine64)" >&2
	exit 127
fi
if [ "${1:-}" = --which ]; then
	echo "$wine"
	exit 0
fi
: "${WINEPREFIX:?exec.sh: set WINEPREFIX to a prefix made by scripts/wine/setup.sh}"
export WINEDEBUG="${WINEDEBUG:--all}"
unset DISPLAY WAYLAND_DISPLAY # headless: no Wine window
# A program that fails having written nothing at all to stdout never
# started (a test binary prints "=== RUN" before its first test): under
# load Wine has failed to start one this way (exit 1 in 0.05 s, once in
# many runs of three lanes side by side). Such a start is tried once more;
# a program that printed anything is never run again. stdout is passed on
# when the program ends; stderr as it comes.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for try in 1 2; do
	code=0
	"$wine" "$@" >"$out" || code=$?
	if [ "$code" -eq 0 ] || [ -s "$out" ] || [ "$try" -eq 2 ]; then
		cat "$out"
		exit "$code"
	fi
	echo "exec.sh: $1 exited $code under Wine without any output; starting it once more" >&2
done
