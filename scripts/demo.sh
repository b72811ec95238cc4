#!/bin/sh
# make demo: build both binaries (and the scripted browser used with
# DEMO_HEADLESS=1), then run the demo driver.
set -eu
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -o bin/ ./backend ./relay ./internal/fakebrowser/cmd/fakebrowser
exec go run ./demo
