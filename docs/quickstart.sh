#!/usr/bin/env bash
# The README's quick start as one command: build sec, store a token in the OS keychain
# (the Secret Service on Linux), map a project directory to it and run a child that gets it,
# while this shell never does. Runs in a throwaway HOME and XDG directories, so it touches
# none of your own config or keychain entries; where no Secret Service runs (a server, a
# container) it starts a private D-Bus session and an unlocked gnome-keyring for the demo.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p sec-client -p sec-daemon
sec="$repo/target/release/sec"

world=$(mktemp -d "${TMPDIR:-/tmp}/sec-quickstart.XXXXXX")
keyring_pid=""
cleanup() {
  "$sec" daemon stop >/dev/null 2>&1 || true
  [ -n "$keyring_pid" ] && kill "$keyring_pid" 2>/dev/null || true
  [ -f "$world/dbus.pid" ] && kill "$(cat "$world/dbus.pid")" 2>/dev/null || true
  rm -rf "$world"
}
trap cleanup EXIT

export HOME="$world/home" XDG_CONFIG_HOME="$world/config" XDG_STATE_HOME="$world/state"
export XDG_DATA_HOME="$world/data" XDG_RUNTIME_DIR="$world/run"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/sec" "$XDG_RUNTIME_DIR" "$world/project"
chmod 700 "$XDG_RUNTIME_DIR"

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  if ! command -v dbus-daemon >/dev/null || ! command -v gnome-keyring-daemon >/dev/null; then
    echo "No Secret Service session here; install one with: sudo apt-get install dbus gnome-keyring" >&2
    exit 1
  fi
  echo "(no desktop session: starting a private D-Bus session and a throwaway gnome-keyring)"
  dbus-daemon --session --fork --address="unix:path=$world/bus" --print-pid=1 >"$world/dbus.pid" 2>/dev/null
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$world/bus"
  printf 'quickstart' | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  keyring_pid=$!
  for _ in $(seq 50); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' && break
    sleep 0.1
  done
fi

set -x
printf 'pypi-quickstart-token' | "$sec" set keyring:pypi/quickstart
cat >"$XDG_CONFIG_HOME/sec/config.toml" <<TOML
[[scope]]
dir = "$world/project"
ttl = "10m"
[scope.env]
TWINE_USERNAME = { value = "__token__" }
TWINE_PASSWORD = "keyring:pypi/quickstart"
TOML
cd "$world/project"
"$sec" exec -- sh -c 'echo "child: TWINE_USERNAME=$TWINE_USERNAME, TWINE_PASSWORD has ${#TWINE_PASSWORD} characters"'
echo "this shell: TWINE_PASSWORD=${TWINE_PASSWORD-<not set>}"
"$sec" ls
"$sec" status
"$sec" revoke
set +x
