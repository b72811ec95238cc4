#!/usr/bin/env bash
# Makes a private Wine prefix in which Go's Windows test binaries run:
#
#   scripts/wine/setup.sh DIR
#
# DIR (new or empty) gets:
#   DIR/prefix        the prefix (WINEPREFIX), with the ProcessPrng shim
#                     (processprng.c, built here with mingw-w64) as
#                     system32/bcryptprimitives.dll;
#   DIR/overlay.json  a go build -overlay for Wine's missing
#                     FileDispositionInformationEx (below);
# and the prefix's wineserver runs until stopped (below).
# Then, for example:
#   WINEPREFIX=DIR/prefix GOOS=windows go test -overlay DIR/overlay.json \
#     -exec scripts/wine/exec.sh ./platform
#
# Needs Debian's wine64 and gcc-mingw-w64-x86-64-win32. internal/winelane
# (the Windows lane of `make test`) runs it.
#
# The overlay: Wine 8.0 answers NtSetInformationFile's class 64
# (FileDispositionInformationEx) with STATUS_NOT_IMPLEMENTED ("fixme:file:
# NtSetInformationFile Unsupported class (64)"), where Windows before 10
# 1607 answers STATUS_INVALID_INFO_CLASS. Go's os.RemoveAll falls back to
# the older FileDispositionInfo only on the latter, so under Wine every
# RemoveAll of a directory with files in it fails with "Invalid function"
# (t.TempDir's cleanup among them). The overlay adds STATUS_NOT_IMPLEMENTED
# to that fallback in a copy of Go's internal/syscall/windows/at_windows.go;
# no Windows answers it, so on Windows the code is the same.
set -euo pipefail
dir=${1:?usage: setup.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
wine=$("$here/exec.sh" --which)
server=$(dirname "$wine")/wineserver
[ -x "$server" ] || server=wineserver
for t in x86_64-w64-mingw32-gcc go; do
	command -v "$t" >/dev/null || { echo "setup.sh: $t not found (apt-get install gcc-mingw-w64-x86-64-win32)" >&2; exit 1; }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export WINEPREFIX=$dir/prefix WINEDEBUG=-all
# Headless: no Wine window, whatever display this shell has.
unset DISPLAY WAYLAND_DISPLAY
# No Mono or Gecko: nothing here needs .NET or an HTML engine, and Wine
# would otherwise offer to download them.
export WINEDLLOVERRIDES="mscoree,mshtml="

# The shim builds (about 1 s) while wineboot makes the prefix (about 4 s).
x86_64-w64-mingw32-gcc -O2 -shared -s -nostdlib -e DllMain -Wl,--no-insert-timestamp \
	-o "$dir/bcryptprimitives.dll" "$here/processprng.c" "$here/processprng.def" -ladvapi32 &
shim=$!
# One wineserver for the prefix, kept without clients (-p), so that no
# Windows program waits for a new one to start. Stop it with
#   WINEPREFIX=DIR/prefix "$(dirname "$(scripts/wine/exec.sh --which)")"/wineserver -k
# It and Wine's own services (started by wineboot) outlive this script:
# none may hold its output open, or a caller reading it would wait forever.
mkdir -p "$WINEPREFIX"
"$server" -p </dev/null >/dev/null 2>&1
if ! "$wine" wineboot -i </dev/null >"$dir/wineboot.log" 2>&1; then
	echo "setup.sh: wineboot failed:" >&2
	cat "$dir/wineboot.log" >&2
	exit 1
fi
wait "$shim" || { echo "setup.sh: building the ProcessPrng shim failed" >&2; exit 1; }
cp "$dir/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

src=$(go env GOROOT)/src/internal/syscall/windows/at_windows.go
mkdir -p "$dir/overlay"
# The one line that lists the fallback's statuses; if a Go release changes
# it, this fails rather than running the tests without the fallback.
sed 's|^\t\tSTATUS_NOT_SUPPORTED: |\t\tNTStatus(0xC0000002) /* STATUS_NOT_IMPLEMENTED: Wine 8 */, STATUS_NOT_SUPPORTED: |' "$src" >"$dir/overlay/at_windows.go"
if cmp -s "$src" "$dir/overlay/at_windows.go"; then
	echo "setup.sh: $src has changed; update the overlay in $0" >&2
	exit 1
fi
printf '{"Replace":{"%s":"%s"}}\n' "$src" "$dir/overlay/at_windows.go" >"$dir/overlay.json"
