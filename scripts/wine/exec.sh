#!/bin/sh
# go test -exec wrapper: runs a Windows program (a test binary) under Wine,
# in the prefix scripts/wine/setup.sh made, with Wine's debug output off.
# Its exit code is the program's. `exec.sh --which` prints the Wine loader
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
exec "$wine" "$@"
