// Package browsertest holds keyrelay's real-browser end-to-end tests. It is
// a nested module so that chromedp, a test-only dependency, stays out of the
// product's go.mod.
//
// TestRealBrowserThroughRelay takes the README's screenshots of the
// default set-up (login, consent, the relay's own callback page). To
// refresh them, from the repository root:
//
//	cd browsertest && KEYRELAY_SCREENSHOT_DIR=$PWD/../docs/screenshots \
//	  ../scripts/with-secret-service.sh go test -count=1 -run TestRealBrowserThroughRelay .
package browsertest
