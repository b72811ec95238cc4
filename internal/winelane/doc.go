// Package winelane is the Windows lane of `make test` (make test-windows):
// keyrelay's Windows build run under Wine, on Linux, beside the Linux
// tests. It has tests only:
//
//   - TestWindowsLaneUnits builds the Windows test binaries of platform,
//     vault, the relay's packages and the relay's in-process CLI tests
//     (relay/main_test.go), and runs them under Wine with
//     `GOOS=windows go test -exec scripts/wine/exec.sh`. The vault's
//     keychain tests run against Wine's Windows Credential Manager
//     (KEYRELAY_OS_KEYCHAIN_TEST=1: the prefix is private), and must pass.
//   - TestWindowsLaneEndToEnd runs relay.exe login, serve (one tool call)
//     and logout against the Linux backend on loopback, with a Windows
//     build of the fake browser, the vault key in Credential Manager; then
//     a login without $BROWSER, through rundll32 url.dll,FileProtocolHandler.
//
// Both run in one private Wine prefix per test process, made by
// scripts/wine/setup.sh in a temporary directory (with the ProcessPrng
// shim Go needs under Wine 8, and a go -overlay for Wine's missing
// FileDispositionInformationEx; see there) and removed at the end.
//
// A test that fails only because of Wine is listed in wine-only.txt with
// the checked reason; the lane skips it there and prints it, with its
// reason. Without wine64 or the mingw-w64 compiler the lane skips; under
// CI=true it fails instead.
package winelane
