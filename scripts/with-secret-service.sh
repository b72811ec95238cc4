#!/bin/sh
# Runs a command inside a private D-Bus session with a freshly unlocked
# gnome-keyring Secret Service, so tests use a real keychain without touching
# the user's own. The keyring lives in a throwaway XDG_DATA_HOME.
#
# When dbus-run-session or gnome-keyring-daemon is missing, the command runs
# without one: tests that need it skip, or fail under CI=true.
set -eu

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
	echo "with-secret-service: dbus-run-session or gnome-keyring-daemon not found; running without a Secret Service" >&2
	exec "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/data" "$tmp/run"
chmod 700 "$tmp/run"
export XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/run"
export KEYRELAY_SECRET_SERVICE=1
# The keyring password is throwaway: it protects a keyring that is deleted
# when this script ends.
dbus-run-session -- sh -c '
	head -c 24 /dev/urandom | od -An -tx1 | tr -d " \n" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
	exec "$@"' sh "$@"
