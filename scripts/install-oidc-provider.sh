#!/bin/sh
# Installs panva's oidc-provider, pinned by interop/oidcprovider/package-lock.json
# (npm ci), with the server script of the DPoP interop test, into the directory
# given ($1, which must exist), and prints that directory. Nothing is installed
# globally. Used by .ci/run, which passes the directory to the interop tests as
# KEYRELAY_OIDC_PROVIDER_DIR, and by the test itself when that is unset
# (interop/dpop_oidcprovider_test.go). It runs on the node on PATH
# (oidc-provider 9 asks for Node 22 and warns on 20, where it works).
#
# --ignore-scripts: oidc-provider and its dependencies need no install script.
set -eu

dir=${1:?usage: install-oidc-provider.sh DIR}
here=$(cd "$(dirname "$0")/../interop/oidcprovider" && pwd)

mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$here/server.mjs" "$dir/"
npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
if ! node -e 'import("'"$dir"'/node_modules/oidc-provider/lib/index.js")' >/dev/null 2>&1; then
	echo "install-oidc-provider: oidc-provider does not load under $(node --version 2>&1)" >&2
	exit 1
fi
echo "$dir"
