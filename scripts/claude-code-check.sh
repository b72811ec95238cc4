#!/bin/sh
# Installs a pinned Claude Code into a temporary directory and runs the
# relay's Claude Code end-to-end tests against it (relay/e2e_claudecode_test.go,
# TestClaudeCode_*), inside a private Secret Service (with-secret-service.sh).
# Nothing is installed globally and nothing is kept: the directory is
# removed on exit. Needs npm and the npm registry; no Anthropic API key (the
# tests serve a fake Messages API on loopback). `make test` runs the same
# tests when KEYRELAY_CLAUDE_CODE is set, as .ci/run does.
#
#   CLAUDE_CODE_VERSION   the version to install (scripts/install-claude-code.sh)
#   GO                    the go command (default go)
#   extra arguments       passed to go test (e.g. -run TestClaudeCode_ListChanged)
set -eu

GO=${GO:-go}
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
bin=$(./scripts/install-claude-code.sh "$tmp")

KEYRELAY_CLAUDE_CODE=$bin ./scripts/with-secret-service.sh \
	"$GO" test -race -count=1 -timeout 20m -run '^TestClaudeCode_' -v "$@" ./relay/
