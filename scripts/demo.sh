#!/bin/sh
# make demo: build both binaries (and the scripted browser used with
# DEMO_HEADLESS=1), then run the demo driver. DEMO_BIN (default bin, under
# the repository) is where the binaries go; the demo's terminal test builds
# into a temporary one.
set -eu
cd "$(dirname "$0")/.."
DEMO_BIN=${DEMO_BIN:-bin}
export DEMO_BIN
CGO_ENABLED=0 go build -o "$DEMO_BIN/" ./backend ./relay ./internal/fakebrowser/cmd/fakebrowser
exec go run ./demo
