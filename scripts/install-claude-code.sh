#!/bin/sh
# Installs a pinned Claude Code into the directory given ($1, which must
# exist) and prints the path of its executable. Nothing is installed
# globally. Used by .ci/run and scripts/claude-code-check.sh for the
# relay's Claude Code end-to-end tests (relay/e2e_claudecode_test.go).
#
#   CLAUDE_CODE_VERSION   the version to install (default below)
#
# --ignore-scripts: the package's postinstall only copies the native binary
# of the platform package (an optional dependency) over a placeholder; the
# binary is taken from the platform package instead.
set -eu

CLAUDE_CODE_VERSION=${CLAUDE_CODE_VERSION:-2.1.332}
dir=${1:?usage: install-claude-code.sh DIR}

start=$(date +%s)
npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
	"@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >&2
took=$(($(date +%s) - start))
for b in "$dir"/node_modules/@anthropic-ai/claude-code-*/claude "$dir"/node_modules/@anthropic-ai/claude-code/bin/claude.exe; do
	if [ -x "$b" ] && "$b" --version >/dev/null 2>&1; then
		echo "install-claude-code: Claude Code $("$b" --version) installed in ${took}s, $(du -sh "$dir" | cut -f1) on disk" >&2
		echo "$b"
		exit 0
	fi
done
echo "install-claude-code: no runnable Claude Code binary for this platform in $dir/node_modules/@anthropic-ai" >&2
exit 1
