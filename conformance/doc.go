// Package conformance holds the conformance lane: its tests run the
// official MCP conformance suite (@modelcontextprotocol/conformance, pinned
// in package.json and package-lock.json here) against `relay serve
// --mcp-url URL`, one subtest per client scenario of the spec.
//
// The suite starts a test server per scenario and runs driver.mjs, a small
// client built on the official TypeScript SDK, with the server's URL; the
// driver starts the relay on stdio and initializes, lists the tools and
// calls them. The relay's $BROWSER is redirectbrowser, which follows the
// suite's immediate redirect to the relay's callback. The suite's checks
// (checks.json) decide.
//
// scripts/install-conformance.sh installs the suite, the SDK, mcp-remote
// and a Node 22 from the npm registry; .ci/run passes the directory as
// KEYRELAY_CONFORMANCE_DIR, and without it the tests install into a
// temporary directory. docs/conformance.md has the scenario table against
// mcp-remote and how to produce it.
//
// The package has no code but its tests.
package conformance
