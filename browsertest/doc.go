// Package browsertest holds keyrelay's real-browser end-to-end tests. It is
// a nested module so that chromedp, a test-only dependency, stays out of the
// product's go.mod.
package browsertest
