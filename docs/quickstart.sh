#!/usr/bin/env bash
# The README's quick start as one command: build sec, store a token in the default store,
# map a project directory to it, and run a child that gets it while this shell never does.
#
# It runs in a throwaway HOME and XDG directories and without your session bus, so it
# touches none of your own config, keychain or vault; the default store there is sec's own
# encrypted vault (local:NAME), which needs nothing but this repository and Rust.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
echo "quickstart: building sec and secd (release; the first build takes about a minute and a half on 2 cores)" >&2
# From the repository, so that its .cargo/config.toml applies (a static `sec`, docs/DECISIONS.md).
(cd "$repo" && cargo build --release --quiet -p sec-client -p sec-daemon)
sec="$repo/target/release/sec"

world=$(mktemp -d "${TMPDIR:-/tmp}/sec-quickstart.XXXXXX")
cleanup() {
  "$sec" daemon stop >/dev/null 2>&1 || true
  rm -rf "$world"
}
trap cleanup EXIT

export HOME="$world/home" XDG_CONFIG_HOME="$world/config" XDG_STATE_HOME="$world/state"
export XDG_DATA_HOME="$world/data" XDG_RUNTIME_DIR="$world/run"
unset DBUS_SESSION_BUS_ADDRESS
mkdir -p "$HOME" "$XDG_CONFIG_HOME/sec" "$XDG_RUNTIME_DIR" "$world/project"
chmod 700 "$XDG_RUNTIME_DIR"
# The vault's passphrase, for this demo from a file descriptor (a person types it instead).
printf 'quickstart passphrase\n' >"$world/passphrase"

set -x
printf 'pypi-quickstart-token' | "$sec" set pypi/quickstart --passphrase-fd 3 3<"$world/passphrase"
cat >"$XDG_CONFIG_HOME/sec/config.toml" <<TOML
[[scope]]
dir = "$world/project"
ttl = "10m"
[scope.env]
TWINE_USERNAME = { value = "__token__" }
TWINE_PASSWORD = "local:pypi/quickstart"
TOML
cd "$world/project"
"$sec" exec -- sh -c 'echo "child: TWINE_USERNAME=$TWINE_USERNAME, TWINE_PASSWORD has ${#TWINE_PASSWORD} characters"'
echo "this shell: TWINE_PASSWORD=${TWINE_PASSWORD-<not set>}"
"$sec" ls
"$sec" status
"$sec" revoke
set +x
