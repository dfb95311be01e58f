#!/usr/bin/env bash
# Benchmarks for sec/secd: the targets of issue 14, measured side by side in one run, with
# fnox (the closest peer) and direnv beside sec. See bench/README.md for what is measured
# and how.
#
# Usage: bench/run.sh                                (builds release binaries first)
#        SEC_BENCH_NO_BUILD=1 bench/run.sh           (use existing target/release/{sec,secd})
#        SEC_BENCH_BIN_DIR=/some/dir bench/run.sh    (use DIR/{sec,secd}, no build)
# Knobs (defaults shown): SEC_BENCH_RUNS=50 SEC_BENCH_LOOKUPS=30 SEC_BENCH_HITS=200
#        SEC_BENCH_CONCURRENCY=100 SEC_BENCH_PROMPTS=1000 SEC_BENCH_CYCLES=300
#        SEC_BENCH_HEAVY_SCOPES=100 SEC_BENCH_HEAVY_SECRETS=10
#        SEC_BENCH_TOOLS=~/.cache/sec-bench-tools (where fnox is built, outside the repo)
#        SEC_BENCH_FNOX=/path/to/fnox (use this fnox)   SEC_BENCH_NO_FNOX=1 (skip fnox)
#        SEC_BENCH_NO_SHIELD=1 (skip bench/shield.sh)   SEC_BENCH_SHIELD_RUNS=100
#        SEC_BENCH_BUILD=1 (also time two clean release builds: the working tree and
#        SEC_BENCH_BUILD_BASE, default aa6d5a3; ~2 × 5-10 min on 2 cores)
#
# Everything runs in a throw-away world under a temp dir: its own HOME, XDG dirs, a private
# D-Bus session bus and gnome-keyring, gpg home and password store. Nothing of the user's
# session is touched, except the kernel's user keyring (one `keyutils:` key, removed on
# exit). Results go to bench/results.md (overwritten) and the raw data to bench/out/.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
OUT="$BENCH_DIR/out"
RESULTS="$BENCH_DIR/results.md"

LOOKUPS=${SEC_BENCH_LOOKUPS:-30}
HITS=${SEC_BENCH_HITS:-200}
PROMPTS=${SEC_BENCH_PROMPTS:-1000}       # prompts per timed interactive bash (5a)
STRACE_PROMPTS=100                      # `:` lines under strace (5a)
PEER_PROMPTS=100                        # prompts per run for direnv's and fnox's hooks (5a)
PEER_PROMPT_RUNS=10
CYCLES=${SEC_BENCH_CYCLES:-300}         # timed cd cycles per shell (5b): sec fast path, bash
SLOW_CYCLES=100                         # ... sec with a .sec.toml, fnox
DIRENV_CYCLES=50                        # ... direnv
CYCLE_WARMUP=3                          # untimed cycles before them
STRACE_CYCLES=20                        # cd cycles under strace (5b)
RUNS=${SEC_BENCH_RUNS:-50}
WARMUP=5
CONCURRENCY=${SEC_BENCH_CONCURRENCY:-100}
HEAVY_SCOPES=${SEC_BENCH_HEAVY_SCOPES:-100}
# secd hands its code pages back after 10 s without a connection (CODE_IDLE): idle memory
# is read this long after the last request.
CODE_IDLE_WAIT=12
HEAVY_SECRETS=${SEC_BENCH_HEAVY_SECRETS:-10}
SHIELD_RUNS=${SEC_BENCH_SHIELD_RUNS:-100}
OP_DELAY=0.2
SECRET_B=bench-secret-b
OP_VALUE=bench-op-value
FNOX_VERSION=1.46.0
BUILD_BASE=${SEC_BENCH_BUILD_BASE:-aa6d5a3}

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in hyperfine dbus-daemon gnome-keyring-daemon secret-tool jq awk timeout bash strace direnv keyctl curl; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
rm -rf "$OUT" && mkdir -p "$OUT"   # only this script writes there

# ---------------------------------------------------------------------------------------
# Cleanup: stop the daemon(s) we started, the keyring, the bus; remove the temp dir.
# ---------------------------------------------------------------------------------------
WORK=""
KEYRING_PID=""
DBUS_PID=""
SECD_PIDS=()
HEAVY_PIDS=()
SEC=""
SECD=""
FNOX=""
KEYUTILS_NAME=""

# Whether PID runs (a zombie, exited but not yet reaped by its parent, does not count).
alive() {
    local st
    st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ]
}

# Kill PID only if it is alive and runs the executable we expect (no pid-reuse accidents).
kill_if_ours() {
    local pid=$1 exe=$2
    [ -n "$pid" ] || return 0
    alive "$pid" || return 0
    local actual
    actual=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    case "$actual" in
        "$exe"|"$exe (deleted)") kill "$pid" 2>/dev/null || true ;;
        *) return 0 ;;
    esac
    for _ in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # Only inside our world: elsewhere these would reach the user's own daemons.
        if [ "${XDG_RUNTIME_DIR:-}" = "$WORK/run" ]; then
            for pid in "${HEAVY_PIDS[@]}"; do
                alive "$pid" && kill "$pid" 2>/dev/null
            done
            if [ -x "$SEC" ]; then
                [ -n "$KEYUTILS_NAME" ] && timeout 10 "$SEC" rm "keyutils:$KEYUTILS_NAME" >/dev/null 2>&1
                timeout 10 "$SEC" daemon stop >/dev/null 2>&1
            fi
            [ -n "$FNOX" ] && timeout 10 "$FNOX" daemon stop >/dev/null 2>&1
            [ -n "${GNUPGHOME:-}" ] && command -v gpgconf >/dev/null && timeout 10 gpgconf --kill all >/dev/null 2>&1
        fi
        for pid in "${SECD_PIDS[@]}"; do kill_if_ours "$pid" "$SECD"; done
        kill_if_ours "$KEYRING_PID" "$(readlink -f "$(command -v gnome-keyring-daemon)")"
        [ -n "$KEYRING_PID" ] && wait "$KEYRING_PID" 2>/dev/null
        kill_if_ours "$DBUS_PID" "$(readlink -f "$(command -v dbus-daemon)")"
        [ -f "$WORK/state/sec/secd.log" ] && cp "$WORK/state/sec/secd.log" "$OUT/secd.log"
        if [ "$rc" -ne 0 ] && [ -f "$WORK/state/sec/secd.log" ]; then
            printf '\n--- last lines of secd.log ---\n' >&2
            tail -n 20 "$WORK/state/sec/secd.log" >&2
        fi
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------
# Build.
# ---------------------------------------------------------------------------------------
BIN_DIR="$REPO/target/release"
if [ -n "${SEC_BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$(cd "$SEC_BENCH_BIN_DIR" && pwd -P)
elif [ -z "${SEC_BENCH_NO_BUILD:-}" ]; then
    log "building release binaries"
    (cd "$REPO" && cargo build --release --locked -p sec-client -p sec-daemon)
fi
# The checkout as it is when the binaries are taken. Changes under bench/ itself do not
# count (they do not change what is measured); any other difference from HEAD makes the
# checkout "dirty": the binaries were built from a working tree that is not a commit.
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY_FILES=$(git -C "$REPO" status --porcelain -- . ':!bench' 2>/dev/null | wc -l || echo 0)
if [ "$DIRTY_FILES" -gt 0 ]; then
    CHECKOUT="$COMMIT dirty ($DIRTY_FILES paths outside bench/ differ from HEAD; binaries built from the working tree)"
else
    CHECKOUT="$COMMIT (clean outside bench/)"
fi
SEC="$BIN_DIR/sec"
SECD="$BIN_DIR/secd"
[ -x "$SEC" ] && [ -x "$BIN_DIR/sec-cli" ] && [ -x "$SECD" ] || die "no release binaries (sec, sec-cli, secd) in $BIN_DIR (build them)"
# secd must time cache hits (issue: "served from the cache ... elapsed=" at debug level).
grep -q 'served from the cache' "$SECD" ||
    die "$SECD does not log cache hits ('served from the cache'): rebuild it"
# The hook must have the fast path (issue 14: a map in the shell, markers from secd).
"$SEC" hook bash | grep -q '__sec_quick' ||
    die "$SEC hook bash has no fast path (__sec_quick): rebuild sec"
DIRENV=$(command -v direnv)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------
# fnox, the closest peer (before the world: cargo needs the user's HOME). Found as
# SEC_BENCH_FNOX, in the tools dir, or on PATH; else built from the crate with fnox-core
# pinned to the same version (`cargo install fnox` of 1.46.0 resolves an older fnox-core
# and fails to compile; `--locked` fails on a webpki-roots version the crate's lock file
# names and the index no longer offers).
# ---------------------------------------------------------------------------------------
TOOLS=${SEC_BENCH_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/sec-bench-tools}
FNOX_NOTE=""
install_fnox() {
    local src="$TOOLS/src/fnox-$FNOX_VERSION" blog="$TOOLS/fnox-build.log"
    mkdir -p "$TOOLS/src"
    # fnox's FIDO2 support (hidapi) links libudev; the rest of its C code is vendored.
    if ! pkg-config --exists libudev 2>/dev/null; then
        FNOX_NOTE="fnox was not measured: building it needs libudev's development files and pkg-config (apt libudev-dev pkg-config)."
        return 0
    fi
    log "installing fnox $FNOX_VERSION into $TOOLS (a release build, 10+ minutes on 2 cores; log: $blog)"
    if [ ! -f "$src/Cargo.toml" ]; then
        curl -fsSL "https://static.crates.io/crates/fnox/fnox-$FNOX_VERSION.crate" -o "$TOOLS/src/fnox.crate" 2>"$blog" &&
            tar xzf "$TOOLS/src/fnox.crate" -C "$TOOLS/src" 2>>"$blog" || {
            FNOX_NOTE="fnox was not measured: its crate could not be downloaded from static.crates.io (see $blog)."
            return 0
        }
    fi
    # the one line changed: fnox-core = "1" -> "=VERSION"
    sed -i "/^\[dependencies.fnox-core\]/{n;s/^version = .*/version = \"=$FNOX_VERSION\"/}" "$src/Cargo.toml"
    grep -A1 '^\[dependencies.fnox-core\]' "$src/Cargo.toml" | grep -qx "version = \"=$FNOX_VERSION\"" || {
        FNOX_NOTE="fnox was not measured: its Cargo.toml has no [dependencies.fnox-core] version line to pin."
        return 0
    }
    if CARGO_TARGET_DIR="$TOOLS/target" cargo install --root "$TOOLS" --path "$src" >>"$blog" 2>&1; then
        rm -rf "$TOOLS/target"
        FNOX="$TOOLS/bin/fnox"
    else
        FNOX_NOTE="fnox was not measured: \`cargo install\` of fnox $FNOX_VERSION (fnox-core pinned) failed (see $blog)."
    fi
}
if [ -n "${SEC_BENCH_NO_FNOX:-}" ]; then
    FNOX_NOTE="fnox was not measured: SEC_BENCH_NO_FNOX is set."
elif [ -n "${SEC_BENCH_FNOX:-}" ]; then
    FNOX=$SEC_BENCH_FNOX
elif [ -x "$TOOLS/bin/fnox" ]; then
    FNOX="$TOOLS/bin/fnox"
elif command -v fnox >/dev/null; then
    FNOX=$(command -v fnox)
else
    install_fnox
fi
if [ -n "$FNOX" ]; then
    FNOX=$(readlink -f "$FNOX")
    FNOX_VER=$("$FNOX" --version 2>/dev/null | head -n 1) || {
        FNOX_NOTE="fnox was not measured: $FNOX --version failed."
        FNOX=""
    }
fi
[ -n "$FNOX_NOTE" ] && log "$FNOX_NOTE The rest runs without it."

# The user's HOME, for cargo in test 7, which runs after the other tests, in the world.
ORIG_HOME=$HOME
BUILD_DONE=""


# ---------------------------------------------------------------------------------------
# The isolated world.
# ---------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sec-bench.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
D="$WORK"
export HOME="$D/home"
export XDG_CONFIG_HOME="$D/config"
export XDG_STATE_HOME="$D/state"
export XDG_DATA_HOME="$D/data"      # gnome-keyring keeps its keyring files here
export XDG_CACHE_HOME="$D/cache"
export XDG_RUNTIME_DIR="$D/run"
export GNUPGHOME="$D/gnupg"          # pass: a key made here, no passphrase
export PASSWORD_STORE_DIR="$D/password-store"
for dir in "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" "$GNUPGHOME"; do
    mkdir -p "$dir"
    chmod 700 "$dir"
done
# secd logs "looked up in the vault" at info and "served from the cache" at debug, both with
# elapsed=. Debug for secd's own modules only: `debug` for everything would also log every
# HTTP/2 frame (h2, tonic), ~25 lines per request, and slow the whole-command figures down.
export SECD_LOG=${SEC_BENCH_SECD_LOG:-info,secd=debug}
unset SSH_AUTH_SOCK GNOME_KEYRING_CONTROL
# Nothing of the user's shell state: direnv's and fnox's (if loaded there), prompt hooks, mail.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(DIRENV_|FNOX_|__FNOX)' || true)
unset PROMPT_COMMAND MAIL MAILPATH BASH_ENV ENV CDPATH
export HISTFILE=                     # the interactive bash of tests 5 keeps no history
export LC_ALL=C                      # EPOCHREALTIME with a '.' (5b)
LOG="$XDG_STATE_HOME/sec/secd.log"

log "private D-Bus and gnome-keyring in $D"
dbus-daemon --session --fork --address="unix:path=$D/bus" --print-pid=1 >"$D/dbus.pid"
DBUS_PID=$(tr -dc '0-9' <"$D/dbus.pid")
export DBUS_SESSION_BUS_ADDRESS="unix:path=$D/bus"
printf pw | gnome-keyring-daemon --foreground --unlock --components=secrets >"$D/keyring.log" 2>&1 &
KEYRING_PID=$!

ready=""
for _ in $(seq 100); do
    if printf probe | timeout 5 secret-tool store --label=probe service sec-bench-probe username probe 2>/dev/null &&
        [ "$(timeout 5 secret-tool lookup service sec-bench-probe username probe 2>/dev/null)" = probe ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ -n "$ready" ] || { cat "$D/keyring.log" >&2; die "the private Secret Service did not come up"; }

# The 1Password stand-in: 1Password's CLI cannot be installed here. It answers
# `op read [--no-newline] REF` (secd's and fnox's calls) after OP_DELAY seconds and records
# each call.
COUNTER="$D/op-calls"
: >"$COUNTER"
mkdir -p "$D/bin"
cat >"$D/bin/op" <<EOF
#!/bin/sh
# stand-in for 1Password's CLI: op read [--no-newline] REF
[ "\$1" = read ] || { echo "[ERROR] stand-in op only reads" >&2; exit 1; }
sleep $OP_DELAY
echo "\$\$ \$*" >>"$COUNTER"
printf '%s' '$OP_VALUE'
EOF
chmod 755 "$D/bin/op"
# Approving a repository file (`sec allow`, test 5) is confirmed by secd through askpass:
# here a program that says yes.
printf '#!/bin/sh\nexit 0\n' >"$D/bin/askpass-yes"
chmod 755 "$D/bin/askpass-yes"
export SEC_ASKPASS="$D/bin/askpass-yes"
# Installed as `cargo install` installs them: copied into the world's bin directory, and run
# from there. A binary run straight from where the linker wrote it measured 0.15-0.2 ms
# slower per start on this machine (the same bytes; the page cache holds a file written in
# pieces in small pages, so exec takes more page faults than for a file written in one go).
install -m 755 "$BIN_DIR/sec" "$BIN_DIR/sec-cli" "$BIN_DIR/secd" "$D/bin/"
SEC="$D/bin/sec"
SECD="$D/bin/secd"
# On PATH before secd ever starts: secd inherits sec's environment when sec autostarts it.
export PATH="$D/bin:$PATH"

# pass (password-store) with a gpg key of the world, when both are installed.
PASS_OK=""
if command -v pass >/dev/null && command -v gpg >/dev/null; then
    if gpg --batch --quiet --passphrase '' --quick-gen-key 'sec bench <bench@sec.invalid>' \
        future-default default never >"$D/gpg.log" 2>&1; then
        FPR=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr:/ { print $10; exit }')
        pass init "$FPR" >>"$D/gpg.log" 2>&1 && PASS_OK=1
    fi
fi

PROJ="$D/project"      # the config scope of tests 1-3 (and fnox's project: fnox.toml)
BACK="$D/backends"     # a config scope with one secret of every other backend (test 4a)
mkdir -p "$PROJ" "$BACK" "$XDG_CONFIG_HOME/sec"
KEYUTILS_NAME="sec-bench-$(basename "$D" | tr -dc 'A-Za-z0-9')"
CMD_VALUE=bench-cmd-value
LOCAL_VALUE=bench-local-value
KEYUTILS_VALUE=bench-keyutils-value
PASS_VALUE=bench-pass-value
VAULT_PASSPHRASE=bench-vault-passphrase
{
    cat <<EOF
[[scope]]
dir = "$PROJ"
[scope.env]
A = { value = "1" }
B = "keyring:bench/b"
C = "op://Bench/item/field"

[[scope]]
dir = "$BACK"
[scope.env]
K = "keyutils:$KEYUTILS_NAME"
L = "local:bench/l"
X = "cmd:printf %s $CMD_VALUE"
EOF
    if [ -n "$PASS_OK" ]; then echo 'P = "pass:bench/p"'; fi
} >"$XDG_CONFIG_HOME/sec/config.toml"
# secd hands the hook no map for two seconds after an edit of config.toml.
touch -d '-1 minute' "$XDG_CONFIG_HOME/sec/config.toml"

cd "$PROJ"

secd_pid() { "$SEC" status --json | jq -r .pid; }
remember_secd() {
    local pid
    pid=$(secd_pid)
    SECD_PIDS+=("$pid")
    printf '%s\n' "$pid"
}

log "storing keyring:bench/b through sec (autostarts secd), and the other backends' secrets"
printf '%s' "$SECRET_B" | "$SEC" set keyring:bench/b
remember_secd >/dev/null
[ "$(secret-tool lookup service bench username b)" = "$SECRET_B" ] ||
    die "secret-tool cannot find what sec stored (service=bench username=b)"
printf '%s' "$KEYUTILS_VALUE" | "$SEC" set "keyutils:$KEYUTILS_NAME"
printf '%s' "$LOCAL_VALUE" | "$SEC" set local:bench/l --passphrase-fd 3 3<<<"$VAULT_PASSPHRASE" >/dev/null
if [ -n "$PASS_OK" ]; then printf '%s' "$PASS_VALUE" | "$SEC" set pass:bench/p; fi

log "sanity: values reach the command"
got=$("$SEC" exec -- sh -c 'printf "%s|%s|%s" "$A" "$B" "$C"')
[ "$got" = "1|$SECRET_B|$OP_VALUE" ] || die "sec exec gave A|B|C = '$got'"
want="$KEYUTILS_VALUE|$LOCAL_VALUE|$CMD_VALUE|${PASS_OK:+$PASS_VALUE}"
got=$(cd "$BACK" && "$SEC" exec -- sh -c 'printf "%s|%s|%s|%s" "$K" "$L" "$X" "${P-}"')
[ "$got" = "$want" ] || die "sec exec in $BACK gave K|L|X|P = '$got', not '$want'"

# Helpers for hyperfine JSON (times in seconds) ------------------------------------------
hf() { jq -r ".results[$2].$3" "$1"; }                      # file index field
ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }   # seconds -> ms
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.2f", a / b }'; }
div3() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.3f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
HF=(hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS")

# ---------------------------------------------------------------------------------------
# 1. Warm `sec exec -- true` vs a plain `env A=1 B=2 C=3 true`.
# ---------------------------------------------------------------------------------------
log "1. warm sec exec vs env"
"$SEC" exec -- true   # warm the cache (all of A, B, C)
J1="$OUT/1-exec-vs-env.json"
"${HF[@]}" --export-json "$J1" \
    -n "sec exec -- true (warm)" "$SEC exec -- true" \
    -n "env A=1 B=2 C=3 true" "env A=1 B=2 C=3 true"
EXEC_WARM=$(hf "$J1" 0 median)
ENV_BASE=$(hf "$J1" 1 median)
RATIO1=$(div "$EXEC_WARM" "$ENV_BASE")

# ---------------------------------------------------------------------------------------
# 2. Cache hit vs Secret Service lookup of keyring:bench/b.
# ---------------------------------------------------------------------------------------
# `elapsed=` is a Rust Duration's Debug form: 1.5s, 12.3ms, 850.2µs, 900ns. Reads log lines
# on stdin, prints one value in µs per line; a line without a parsable elapsed= is an error.
elapsed_us() {
    LC_ALL=C awk '{
        if (!match($0, /elapsed=[0-9.]+(ns|µs|us|ms|s)/)) { print "unparsable: " $0 > "/dev/stderr"; bad = 1; next }
        f = substr($0, RSTART + 8, RLENGTH - 8)
        match(f, /^[0-9.]+/); v = substr(f, 1, RLENGTH); u = substr(f, RLENGTH + 1)
        if (u == "s") v *= 1e6; else if (u == "ms") v *= 1e3; else if (u == "ns") v /= 1e3
        printf "%.4f\n", v
    } END { exit bad }'
}
# n min median p90 mean max of the numbers in a file (p90: nearest rank, v[ceil(0.9 n)]).
stats() {
    sort -g "$1" | awk '{ v[NR] = $1; sum += $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              r = int(0.9 * NR); if (r < 0.9 * NR) r++
              printf "%d %.4f %.4f %.4f %.4f %.4f\n", NR, v[1], m, v[r], sum / NR, v[NR] }'
}
# The log lines secd wrote since line $1 with message $2 for keyring:bench/b.
log_lines_b() {
    tail -n "+$1" "$LOG" | grep -F "$2" | grep -F 'reference=keyring:bench/b' || true
}

log "2a. daemon's own elapsed=: $LOOKUPS Secret Service lookups, $HITS cache hits of keyring:bench/b"
"$SEC" revoke >/dev/null
"$SEC" exec --only B -- true      # one discarded cold lookup
start_line=$(($(wc -l <"$LOG") + 1))
for _ in $(seq "$LOOKUPS"); do
    "$SEC" revoke >/dev/null
    "$SEC" exec --only B -- true
done
log_lines_b "$start_line" 'looked up in the vault' | elapsed_us >"$OUT/2a-lookup-us.txt"
[ "$(log_lines_b "$start_line" 'served from the cache' | wc -l)" -eq 0 ] ||
    die "a cold exec after sec revoke was served from the cache"
# B is cached now (the last iteration looked it up): every exec below is a hit.
start_line=$(($(wc -l <"$LOG") + 1))
for _ in $(seq "$HITS"); do
    "$SEC" exec --only B -- true
done
log_lines_b "$start_line" 'served from the cache' | elapsed_us >"$OUT/2a-hit-us.txt"
[ "$(log_lines_b "$start_line" 'looked up in the vault' | wc -l)" -eq 0 ] ||
    die "a warm exec looked keyring:bench/b up in the vault (the cache expired?)"
read -r N_LK LK_MIN LK_MED LK_P90 LK_MEAN LK_MAX < <(stats "$OUT/2a-lookup-us.txt")
read -r N_HIT HIT_MIN HIT_MED HIT_P90 HIT_MEAN HIT_MAX < <(stats "$OUT/2a-hit-us.txt")
[ "$N_LK" -eq "$LOOKUPS" ] || die "expected $LOOKUPS 'looked up in the vault' lines for B, found $N_LK"
[ "$N_HIT" -eq "$HITS" ] || die "expected $HITS 'served from the cache' lines for B, found $N_HIT (is SECD_LOG at debug for secd?)"
RATIO2=$(div "$LK_MED" "$HIT_MED")
RATIO2_P90=$(div "$LK_P90" "$HIT_P90")

log "2b. whole command: sec exec --only B -- true, warm vs cold"
"$SEC" exec --only B -- true      # warm again
J2W="$OUT/2b-warm.json"
J2C="$OUT/2b-cold.json"
J2S="$OUT/2b-secret-tool.json"
# `--only A` (a literal) takes the same path as `--only B` (process start, connect, hello
# and lease RPCs, scope match, one variable, spawn) without touching the cache. Both in one
# hyperfine run so they share conditions.
"${HF[@]}" --export-json "$J2W" \
    -n "sec exec --only B -- true (warm)" "$SEC exec --only B -- true" \
    -n "sec exec --only A -- true (literal, no cache access)" "$SEC exec --only A -- true"
"${HF[@]}" --export-json "$J2C" --prepare "$SEC revoke" \
    -n "sec exec --only B -- true (cold, after sec revoke)" "$SEC exec --only B -- true"
"${HF[@]}" --export-json "$J2S" \
    -n "secret-tool lookup service bench username b" "secret-tool lookup service bench username b"
B_WARM=$(hf "$J2W" 0 median)
B_COLD=$(hf "$J2C" 0 median)
A_ONLY=$(hf "$J2W" 1 median)
ST_MED=$(hf "$J2S" 0 median)
RATIO2_CMD=$(div "$B_COLD" "$B_WARM")

# ---------------------------------------------------------------------------------------
# 3. CONCURRENCY concurrent cold `sec exec --only C -- true`: one `op` call expected.
# ---------------------------------------------------------------------------------------
log "3. $CONCURRENCY concurrent cold sec exec --only C -- true (op stand-in sleeps ${OP_DELAY}s)"
old_pid=$(secd_pid)
"$SEC" daemon stop >/dev/null
for _ in $(seq 50); do alive "$old_pid" || break; sleep 0.1; done
alive "$old_pid" && die "secd $old_pid did not exit after sec daemon stop"
[ "$(command -v op)" = "$D/bin/op" ] || die "the op stand-in is not first on PATH"
# Fresh secd: inherits PATH with the stand-in, cold cache. Its pid from what `sec daemon
# start` prints ("secd VERSION runs (pid N)"), not from `sec status` (a status request makes
# secd probe the Secret Service for the default store): the first row of test 4 is a daemon
# that has served nothing. Test 4a then makes it serve every backend.
start_out=$("$SEC" daemon start)
SECD_PID=$(sed -nE 's/.*\(pid ([0-9]+)\).*/\1/p' <<<"$start_out" | head -n 1)
[ -n "$SECD_PID" ] || SECD_PID=$(secd_pid)
SECD_PIDS+=("$SECD_PID")
sleep 0.5
read -r FRESH_RSS FRESH_HWM < <(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$SECD_PID/status")
: >"$COUNTER"
start_line=$(($(wc -l <"$LOG") + 1))
pids=()
t0=$(date +%s%N)
for i in $(seq "$CONCURRENCY"); do
    "$SEC" exec --only C -- true 2>"$D/conc-$i.err" &
    pids+=($!)
done
OK3=0
for pid in "${pids[@]}"; do
    if wait "$pid"; then OK3=$((OK3 + 1)); fi
done
t1=$(date +%s%N)
WALL3=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')
CALLS3=$(wc -l <"$COUNTER")
VAULT3=$(tail -n "+$start_line" "$LOG" | grep 'looked up in the vault' | grep -c 'reference=op://Bench/item/field' || true)
FAIL_SAMPLE=$(cat "$D"/conc-*.err 2>/dev/null | sort | uniq -c | sort -rn | head -n 3 || true)


# ---------------------------------------------------------------------------------------
# 4a. Resident memory of the daemon after it served every configured backend, then idle.
# ---------------------------------------------------------------------------------------
mem() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$1/status"; }
thr() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
BACKENDS_USED="Secret Service (keyring:), 1Password (op stand-in), keyutils:, local: (the vault unlocked with --passphrase-fd), cmd:${PASS_OK:+, pass:}"
log "4a. secd memory after serving every backend: $BACKENDS_USED"
read -r RSS_AFTER HWM_AFTER < <(mem "$SECD_PID")
# This secd served only op (test 3). Now: the Secret Service (B; C is cached), the local
# vault (unlocked first, as a user would), keyutils, cmd, pass; and a status request (the
# default-store probe of the Secret Service).
"$SEC" exec -- true
read -r RSS_SS HWM_SS < <(mem "$SECD_PID")
"$SEC" unlock --local --passphrase-fd 3 3<<<"$VAULT_PASSPHRASE" >/dev/null
read -r RSS_UNLOCK HWM_UNLOCK < <(mem "$SECD_PID")
got=$(cd "$BACK" && "$SEC" exec -- sh -c 'printf "%s|%s|%s|%s" "$K" "$L" "$X" "${P-}"')
[ "$got" = "$want" ] || die "sec exec in $BACK (test 4a) gave K|L|X|P = '$got'"
"$SEC" status >/dev/null
read -r RSS_SERVED HWM_SERVED < <(mem "$SECD_PID")
n_backends=$(tail -n "+$start_line" "$LOG" | grep 'looked up in the vault' |
    grep -oE 'reference="?(keyring|op|keyutils|local|cmd|pass):' | sed -E 's/^reference="?//' | sort -u | wc -l)
[ "$n_backends" -eq $((5 + ${PASS_OK:-0})) ] ||
    die "expected lookups in $((5 + ${PASS_OK:-0})) backends since test 3 started, secd.log shows $n_backends"
sleep 2
read -r RSS_IDLE2 HWM_IDLE2 < <(mem "$SECD_PID")
# secd hands its code pages back after CODE_IDLE (10 s) without a connection
# (daemon/src/host/memory.rs): idle is judged after that.
sleep "$CODE_IDLE_WAIT"
read -r RSS_IDLE HWM_IDLE < <(mem "$SECD_PID")
THR_IDLE=$(thr "$SECD_PID")
# What that costs the next command: the first `sec exec` after the idle time against the one
# right after it (wall time of one run each, in ms).
first_after_idle() {
    local a b c
    a=$(date +%s%N); (cd "$PROJ" && "$SEC" exec -- true); b=$(date +%s%N)
    (cd "$PROJ" && "$SEC" exec -- true); c=$(date +%s%N)
    awk -v x=$((b - a)) -v y=$((c - b)) 'BEGIN { printf "%.2f %.2f\n", x / 1e6, y / 1e6 }'
}
read -r FIRST_AFTER_IDLE NEXT_AFTER_IDLE < <(first_after_idle)

# ---------------------------------------------------------------------------------------
# 5. The shell hook (bash): per prompt, and on cd, against direnv and fnox.
# ---------------------------------------------------------------------------------------
# Layout: IN is a directory with both a .sec.toml (approved with `sec allow`, its secret
# cached) and an .envrc (`export A=1`, approved with `direnv allow`); OUT and OUT2 have
# neither and are in no scope. PROJ (the config scope, all of A, B, C cached: unlocked) is
# the second sec case, and fnox's project (fnox.toml with the same three secrets).
# direnv keeps its approvals under XDG_DATA_HOME and reads XDG_CONFIG_HOME: both are the
# world's private directories; so does fnox.
IN="$D/repo"
OUTSIDE="$D/outside"
OUTSIDE2="$D/outside2"
mkdir -p "$IN" "$OUTSIDE" "$OUTSIDE2"
printf 'export A=1\n' >"$IN/.envrc"
printf '[env]\nA = { value = "1" }\nB = "keyring:bench/b"\n' >"$IN/.sec.toml"
(cd "$IN" && "$SEC" allow >/dev/null && "$DIRENV" allow && "$SEC" exec -- true)
"$SEC" unlock "$PROJ" >/dev/null    # PROJ's A, B, C cached (they are: 4a), its marker set
start5=$(($(wc -l <"$LOG") + 1))     # from here on, no vault lookup may happen
[ "$(cd "$IN" && "$SEC" exec -- sh -c 'printf %s "$B"')" = "$SECRET_B" ] ||
    die "the approved .sec.toml in $IN does not give B"
MARKERS="$XDG_RUNTIME_DIR/sec/hook/unlocked"
[ -n "$(ls -A "$MARKERS" 2>/dev/null)" ] || die "secd keeps no unlock marker in $MARKERS for $PROJ"
q() { printf '%q' "$1"; }            # a word for a generated bash script

# fnox in PROJ: the same three secrets, B through its keychain provider (the same Secret
# Service), C through its 1Password provider (the same stand-in), its daemon on (a memory
# cache like secd's).
if [ -n "$FNOX" ]; then
    log "fnox: $FNOX_VER in $PROJ (fnox.toml: A default, B keychain, C 1password; daemon on)"
    cat >"$PROJ/fnox.toml" <<'EOF'
[daemon]
enabled = true

[providers.keychain]
type = "keychain"
service = "fnox-bench"

[providers.op]
type = "1password"
vault = "Bench"

[secrets]
A = { default = "1" }
C = { provider = "op", value = "item/field" }
EOF
    if ! printf '%s' "$SECRET_B" | "$FNOX" set B --provider keychain --key-name b >"$D/fnox-set.log" 2>&1; then
        FNOX_NOTE="fnox was not measured: \`fnox set B --provider keychain\` failed: $(tail -n 1 "$D/fnox-set.log")"
    elif ! got=$("$FNOX" exec -- sh -c 'printf "%s|%s|%s" "$A" "$B" "$C"' 2>"$D/fnox-exec.log") ||
        [ "$got" != "1|$SECRET_B|$OP_VALUE" ]; then
        FNOX_NOTE="fnox was not measured: \`fnox exec\` gave A|B|C = '$got' ($(tail -n 1 "$D/fnox-exec.log"))"
    fi
    if [ -n "$FNOX_NOTE" ]; then
        log "$FNOX_NOTE The rest runs without it."
        FNOX=""
    fi
fi

# A bash script run by `bash --norc -i` with stdin from it: the hook's `eval`, one line,
# then N `:` lines (an interactive bash reading a non-terminal still prints its prompt and
# runs PROMPT_COMMAND before every line).
prompt_script() { # FILE HOOK-LINE SECOND-LINE N
    { printf '%s\n' "$2" "$3"; for _ in $(seq "$4"); do echo ':'; done; } >"$1"
}
SEC_HOOK_LINE="eval \"\$($(q "$SEC") hook bash)\""
DIRENV_HOOK_LINE="eval \"\$($(q "$DIRENV") hook bash)\""
FNOX_HOOK_LINE=""
if [ -n "$FNOX" ]; then FNOX_HOOK_LINE="eval \"\$($(q "$FNOX") activate bash)\""; fi

log "5a. hook at a prompt without cd: processes under strace ($STRACE_PROMPTS prompts)"
# The shell alone is traced (no -f): every process the hook starts is a fork of the shell
# (a command substitution or a command), which the trace shows; sec refuses to run under a
# tracer, so its children are not traced. Markers are `umask` builtins (bash makes the
# umask syscall, strace shows it): between them only `:` lines and printf builtins. Before:
# the eval (runs `sec hook bash`) and the first prompt (runs `sec hook-event`, the
# directory is new to the hook). After: a cd out of the scope (sec's hook settles it
# without a process: PROJ is unlocked).
strace_hook() { # NAME HOOK-LINE DIR -> SP_PROC (between markers), SP_AFTER (after them)
    local script="$D/5a-$1.in" trace="$OUT/5a-strace-$1.log"
    {
        printf '%s\n' "$2" 'umask 0077' 'printf "in scope: %s\n" "${SEC_SCOPE-unset} ${A-unset}"'
        for _ in $(seq "$STRACE_PROMPTS"); do echo ':'; done
        printf '%s\n' 'umask 0022' "cd $(q "$OUTSIDE")" ':' 'printf "left: %s\n" "${SEC_SCOPE-unset} ${A-unset}"'
    } >"$script"
    (cd "$3" && strace -qq -e trace=clone,clone3,fork,vfork,umask -o "$trace" \
        bash --norc -i <"$script" >"$D/5a-$1.out" 2>"$D/5a-$1.err") ||
        die "bash under strace failed ($1): $(tail -n 3 "$D/5a-$1.err")"
    SP_PROC=$(count_procs "$trace" 1)
    SP_AFTER=$(count_procs "$trace" 2)
    [ "$SP_PROC" -ge 0 ] || die "no umask markers in $trace"
}
# Processes the traced shell started (fork, vfork, clone/clone3 without CLONE_THREAD) in
# part PART of the trace: 0 before the start marker, 1 between the markers, 2 after the
# end marker; -1 when the markers are missing.
count_procs() { # TRACE PART
    awk -v part="$2" '
        /umask\(0?077\)/ && !m { m = 1; next }
        /umask\(0?022\)/ && m == 1 { m = 2; next }
        /(clone3?|v?fork)\(/ && !/CLONE_THREAD/ && m == part { n++ }
        END { if (m != 2) n = -1; printf "%d\n", n }' "$1"
}
strace_hook sec "$SEC_HOOK_LINE" "$PROJ"
SP_SEC=$SP_PROC SP_SEC_AFTER=$SP_AFTER
grep -qx "in scope: $PROJ unset" "$D/5a-sec.out" && grep -qx 'left: unset unset' "$D/5a-sec.out" ||
    die "the sec hook did not set/unset SEC_SCOPE: $(cat "$D/5a-sec.out") $(tail -n 3 "$D/5a-sec.err")"
strace_hook direnv "$DIRENV_HOOK_LINE" "$IN"
SP_DIR=$SP_PROC
grep -qx 'in scope: unset 1' "$D/5a-direnv.out" && grep -qx 'left: unset unset' "$D/5a-direnv.out" ||
    die "direnv's hook did not load/unload A: $(cat "$D/5a-direnv.out")"
if [ -n "$FNOX" ]; then
    strace_hook fnox "$FNOX_HOOK_LINE" "$PROJ"
    SP_FNOX=$SP_PROC
    grep -qx 'in scope: unset 1' "$D/5a-fnox.out" && grep -qx 'left: unset unset' "$D/5a-fnox.out" ||
        die "fnox's hook did not load/unload A: $(cat "$D/5a-fnox.out")"
fi

log "5a. time per prompt: $PROMPTS prompts with the hook vs without"
# with:    eval the hook; `:` (its prompt runs hook-event once); PROMPTS × `:`
# without: eval the hook; `unset PROMPT_COMMAND` (its prompt runs hook-event once, then
#          the hook is gone); PROMPTS × `:`
# Same one-time work in both, so the difference is PROMPTS runs of the hook at a prompt.
prompt_script "$D/5a-with.in" "$SEC_HOOK_LINE" ':' "$PROMPTS"
prompt_script "$D/5a-without.in" "$SEC_HOOK_LINE" 'unset PROMPT_COMMAND' "$PROMPTS"
prompt_script "$D/5a-plain.in" ':' ':' "$PROMPTS"
prompt_script "$D/5a-direnv-with.in" "$DIRENV_HOOK_LINE" ':' "$PEER_PROMPTS"
prompt_script "$D/5a-direnv-without.in" "$DIRENV_HOOK_LINE" 'unset PROMPT_COMMAND' "$PEER_PROMPTS"
if [ -n "$FNOX" ]; then
    prompt_script "$D/5a-fnox-with.in" "$FNOX_HOOK_LINE" ':' "$PEER_PROMPTS"
    prompt_script "$D/5a-fnox-without.in" "$FNOX_HOOK_LINE" 'unset PROMPT_COMMAND' "$PEER_PROMPTS"
fi
# Sanity: one prompt per line (PS1 on stderr) and the hook live in the timed script.
npr=$(PS1='@sec-bench-prompt@ ' bash --norc -i <"$D/5a-with.in" 2>&1 >/dev/null | grep -oF '@sec-bench-prompt@' | wc -l || true)
[ "$npr" -ge $((PROMPTS + 2)) ] || die "expected >= $((PROMPTS + 2)) prompts from the timed script, saw $npr"
bash_i() { printf "sh -c 'exec bash --norc -i <\"\$0\"' %s" "$(q "$1")"; }   # stdin from FILE
J5P="$OUT/5a-prompts.json"
J5D="$OUT/5a-prompts-direnv.json"
J5F="$OUT/5a-prompts-fnox.json"
"${HF[@]}" --export-json "$J5P" \
    -n "bash -i, sec hook, $PROMPTS prompts" "$(bash_i "$D/5a-with.in")" \
    -n "bash -i, sec hook removed after its first prompt, $PROMPTS prompts" "$(bash_i "$D/5a-without.in")" \
    -n "bash -i, no hook, $PROMPTS prompts" "$(bash_i "$D/5a-plain.in")" </dev/null
(cd "$IN" && hyperfine -N --style basic --warmup 2 --runs "$PEER_PROMPT_RUNS" --export-json "$J5D" \
    -n "bash -i in IN, direnv hook, $PEER_PROMPTS prompts" "$(bash_i "$D/5a-direnv-with.in")" \
    -n "bash -i in IN, direnv hook removed after its first prompt, $PEER_PROMPTS prompts" "$(bash_i "$D/5a-direnv-without.in")" </dev/null)
if [ -n "$FNOX" ]; then
    hyperfine -N --style basic --warmup 2 --runs "$PEER_PROMPT_RUNS" --export-json "$J5F" \
        -n "bash -i in PROJ, fnox activate, $PEER_PROMPTS prompts" "$(bash_i "$D/5a-fnox-with.in")" \
        -n "bash -i in PROJ, fnox hook removed after its first prompt, $PEER_PROMPTS prompts" "$(bash_i "$D/5a-fnox-without.in")" </dev/null
fi
# Per prompt, in µs: difference of medians / N, with 2 standard errors of the difference
# of means (σ from hyperfine, n runs each); and the same for user+system CPU (means).
per_prompt() { # JSON N RUNS -> diff_us se2_us cpu_us
    awk -v w="$(hf "$1" 0 median)" -v o="$(hf "$1" 1 median)" -v sw="$(hf "$1" 0 stddev)" \
        -v so="$(hf "$1" 1 stddev)" -v n="$2" -v r="$3" \
        -v cw="$(jq -r '.results[0] | .user + .system' "$1")" -v co="$(jq -r '.results[1] | .user + .system' "$1")" \
        'BEGIN { printf "%.2f %.2f %.2f\n", (w - o) / n * 1e6, 2 * sqrt((sw * sw + so * so) / r) / n * 1e6, (cw - co) / n * 1e6 }'
}
read -r PP_SEC PP_SEC_SE2 PP_SEC_CPU < <(per_prompt "$J5P" "$PROMPTS" "$RUNS")
read -r PP_DIR PP_DIR_SE2 PP_DIR_CPU < <(per_prompt "$J5D" "$PEER_PROMPTS" "$PEER_PROMPT_RUNS")
if [ -n "$FNOX" ]; then
    read -r PP_FNOX PP_FNOX_SE2 PP_FNOX_CPU < <(per_prompt "$J5F" "$PEER_PROMPTS" "$PEER_PROMPT_RUNS")
fi
PP_BASH=$(awk -v p="$(hf "$J5P" 2 median)" -v n="$PROMPTS" 'BEGIN { printf "%.2f", p / n * 1e6 }')

log "5b. cd into a scope and out of it, in a running interactive bash with each tool's hook"
# Each tool in its own `bash --norc --noprofile -i FILE` (stdin /dev/null, so nobody asks
# anything): with -i the shell is interactive, so sec's hook script passes its
# `[[ $- == *i* ]]` guard and defines its functions, exactly as in a user's ~/.bashrc; a
# shell that reads its commands from a file prints no prompt and runs no PROMPT_COMMAND,
# so the script calls the hook itself after every `cd`, as PROMPT_COMMAND would:
#   sec:    eval "$(sec hook bash)" once; after each cd: __sec_hook
#   fnox:   eval "$(fnox activate bash)" once; after each cd: _fnox_hook
#   direnv: after each cd: eval "$(direnv export bash)" (as before; what _direnv_hook runs)
#   bash:   nothing (the two cd alone)
# The script first goes to OUT and runs the hook (sec: the first prompt runs sec
# hook-event, which leaves its map in the shell), then CYCLE_WARMUP untimed cycles and one
# checked cycle (the state in IN and in OUT printed), then N timed cycles: each
# `cd IN; HOOK; cd OUT; HOOK` between two reads of $EPOCHREALTIME (µs); the N values go to
# a file.
HOOK_SEC=__sec_hook
HOOK_FNOX=_fnox_hook
HOOK_DIRENV="eval \"\$($(q "$DIRENV") export bash)\""
cycle_body() { # IN HOOK -> `cd IN; HOOK; cd OUT; HOOK` (HOOK may be empty)
    printf 'cd %s; %scd %s; %s' "$(q "$1")" "${2:+$2; }" "$(q "$OUTSIDE")" "${2:+$2; }"
}
cycle_script() { # FILE SETUP IN HOOK N RESULT CHECK-VARS
    local body
    body=$(cycle_body "$3" "$4")
    {
        [ -n "$2" ] && printf '%s\n' "$2"
        printf 'cd %s; %s\n' "$(q "$OUTSIDE")" "${4:+$4}"
        printf 'for ((__i = 0; __i < %d; __i++)); do %s done\n' "$CYCLE_WARMUP" "$body"
        printf 'cd %s; %s\nprintf "in: %%s\\n" "%s"\n' "$(q "$3")" "${4:+$4}" "$7"
        printf 'cd %s; %s\nprintf "out: %%s\\n" "%s"\n' "$(q "$OUTSIDE")" "${4:+$4}" "$7"
        printf '__t=()\n'
        printf 'for ((__i = 0; __i < %d; __i++)); do __s=${EPOCHREALTIME/./}; %s __e=${EPOCHREALTIME/./}; __t+=($((__e - __s))); done\n' "$5" "$body"
        printf 'printf "%%s\\n" "${__t[@]}" >%s\n' "$(q "$6")"
    } >"$1"
}
run_cycles() { # NAME SETUP IN HOOK N CHECK-VARS WANT-IN WANT-OUT -> $OUT/5b-NAME-us.txt
    local script="$D/5b-$1.sh" res="$OUT/5b-$1-us.txt"
    cycle_script "$script" "$2" "$3" "$4" "$5" "$res" "$6"
    bash --norc --noprofile -i "$script" </dev/null >"$D/5b-$1.out" 2>"$D/5b-$1.err" ||
        die "5b $1: the shell failed: $(tail -n 3 "$D/5b-$1.err")"
    local got
    got=$(grep -E '^(in|out): ' "$D/5b-$1.out" | tr '\n' '|')
    [ "$got" = "in: $7|out: $8|" ] || die "5b $1: state after the checked cycle: '$got', expected 'in: $7|out: $8|'"
    [ "$(wc -l <"$res")" -eq "$5" ] || die "5b $1: expected $5 timings in $res"
}
SEC_SETUP="$SEC_HOOK_LINE"
# the map must be in the shell before timing, or every cd would run sec
SEC_CHECK='${SEC_SCOPE-unset} map=${__sec_cfg:+yes}'
run_cycles sec-config "$SEC_SETUP" "$PROJ" "$HOOK_SEC" "$CYCLES" "$SEC_CHECK" "$PROJ map=yes" "unset map=yes"
run_cycles sec-repo "$SEC_SETUP" "$IN" "$HOOK_SEC" "$SLOW_CYCLES" "$SEC_CHECK" "$IN map=yes" "unset map=yes"
run_cycles sec-uncovered "$SEC_SETUP" "$OUTSIDE2" "$HOOK_SEC" "$CYCLES" "$SEC_CHECK" "unset map=yes" "unset map=yes"
run_cycles direnv "" "$IN" "$HOOK_DIRENV" "$DIRENV_CYCLES" '${A-unset}' "1" "unset"
run_cycles bash "" "$IN" "" "$CYCLES" '${A-unset}' "unset" "unset"
if [ -n "$FNOX" ]; then
    run_cycles fnox "$FNOX_HOOK_LINE" "$PROJ" "$HOOK_FNOX" "$SLOW_CYCLES" '${A-unset} ${B:+B=set}' "1 B=set" "unset "
fi
# n min median p90 mean max of each, in µs
read -r CY_N_CFG CY_MIN_CFG CY_CFG CY_P90_CFG CY_MEAN_CFG CY_MAX_CFG < <(stats "$OUT/5b-sec-config-us.txt")
read -r CY_N_REPO CY_MIN_REPO CY_REPO CY_P90_REPO CY_MEAN_REPO CY_MAX_REPO < <(stats "$OUT/5b-sec-repo-us.txt")
read -r CY_N_UNC CY_MIN_UNC CY_UNC CY_P90_UNC CY_MEAN_UNC CY_MAX_UNC < <(stats "$OUT/5b-sec-uncovered-us.txt")
read -r CY_N_DIR CY_MIN_DIR CY_DIR CY_P90_DIR CY_MEAN_DIR CY_MAX_DIR < <(stats "$OUT/5b-direnv-us.txt")
read -r CY_N_BASH CY_MIN_BASH CY_BASH CY_P90_BASH CY_MEAN_BASH CY_MAX_BASH < <(stats "$OUT/5b-bash-us.txt")
if [ -n "$FNOX" ]; then
    read -r CY_N_FNOX CY_MIN_FNOX CY_FNOX CY_P90_FNOX CY_MEAN_FNOX CY_MAX_FNOX < <(stats "$OUT/5b-fnox-us.txt")
fi
RATIO5C=$(div3 "$CY_CFG" "$CY_DIR")
RATIO5R=$(div3 "$CY_REPO" "$CY_DIR")
net() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
RATIO5CN=$(div3 "$(net "$CY_CFG" "$CY_BASH")" "$(net "$CY_DIR" "$CY_BASH")")
RATIO5RN=$(div3 "$(net "$CY_REPO" "$CY_BASH")" "$(net "$CY_DIR" "$CY_BASH")")

log "5b. processes per cd cycle under strace ($STRACE_CYCLES cycles each)"
# The same kind of script, the shell under strace (no -f, as in 5a): after the warm-up,
# STRACE_CYCLES cycles between two umask markers; counted there: the processes the shell
# started (fork, vfork, clone/clone3 without CLONE_THREAD).
strace_cycles() { # NAME SETUP IN HOOK -> SC_PROC (total over STRACE_CYCLES cycles)
    local script="$D/5b-strace-$1.sh" trace="$OUT/5b-strace-$1.log" body
    body=$(cycle_body "$3" "$4")
    {
        [ -n "$2" ] && printf '%s\n' "$2"
        printf 'cd %s; %s\n' "$(q "$OUTSIDE")" "${4:+$4}"
        printf 'for ((__i = 0; __i < %d; __i++)); do %s done\n' "$CYCLE_WARMUP" "$body"
        printf 'umask 0077\n'
        printf 'for ((__i = 0; __i < %d; __i++)); do %s done\n' "$STRACE_CYCLES" "$body"
        printf 'umask 0022\n'
    } >"$script"
    strace -qq -e trace=clone,clone3,fork,vfork,umask -o "$trace" \
        bash --norc --noprofile -i "$script" </dev/null >"$D/5b-strace-$1.out" 2>"$D/5b-strace-$1.err" ||
        die "5b $1 under strace failed: $(tail -n 3 "$D/5b-strace-$1.err")"
    SC_PROC=$(count_procs "$trace" 1)
    [ "$SC_PROC" -ge 0 ] || die "no umask markers in $trace"
}
strace_cycles sec-uncovered "$SEC_SETUP" "$OUTSIDE2" "$HOOK_SEC"
SC_UNC=$SC_PROC
strace_cycles sec-config "$SEC_SETUP" "$PROJ" "$HOOK_SEC"
SC_CFG=$SC_PROC
strace_cycles sec-repo "$SEC_SETUP" "$IN" "$HOOK_SEC"
SC_REPO=$SC_PROC
strace_cycles direnv "" "$IN" "$HOOK_DIRENV"
SC_DIR=$SC_PROC
if [ -n "$FNOX" ]; then
    strace_cycles fnox "$FNOX_HOOK_LINE" "$PROJ" "$HOOK_FNOX"
    SC_FNOX=$SC_PROC
fi
per_cycle() { awk -v a="$1" -v n="$STRACE_CYCLES" 'BEGIN { v = a / n; if (v == int(v)) printf "%d", v; else printf "%.2f", v }'; }

# no process may touch the vault during 5: the hooks never look secrets up
[ "$(tail -n "+$start5" "$LOG" | grep -c 'looked up in the vault' || true)" -eq 0 ] ||
    die "a vault lookup happened during the hook benchmarks"

# ---------------------------------------------------------------------------------------
# 6. Beside fnox: `fnox exec` and `sec exec` on the same three secrets in PROJ, warm (both
# serve them from memory: secd's cache, fnox's daemon), and through their keychain backends
# uncached (B only: sec after `sec revoke`, fnox without its daemon).
# ---------------------------------------------------------------------------------------
J6="$OUT/6-exec-fnox.json"
J6K="$OUT/6-keychain-fnox.json"
if [ -n "$FNOX" ]; then
    log "6. sec exec vs fnox exec ($FNOX_VER)"
    "$SEC" exec -- true
    "$FNOX" exec -- true      # its daemon has A, B, C (the sanity run above filled it)
    "${HF[@]}" --export-json "$J6" \
        -n "sec exec -- true (warm)" "$SEC exec -- true" \
        -n "fnox exec -- true (daemon, warm)" "$FNOX exec -- true"
    # fnox must not have asked op during the timed runs (its daemon served C)
    calls_before=$(wc -l <"$COUNTER")
    "${HF[@]}" --export-json "$J6K" --prepare "$SEC revoke" \
        -n "sec exec --only B -- true (keyring:, uncached: after sec revoke)" "$SEC exec --only B -- true" \
        -n "fnox --no-daemon exec --only B -- true (keychain provider)" "$FNOX --no-daemon exec --only B -- true"
    [ "$(wc -l <"$COUNTER")" -eq "$calls_before" ] || die "op was called during the keychain-only runs"
    "$SEC" unlock "$PROJ" >/dev/null   # C again (one op call), for what follows
    EX_SEC=$(hf "$J6" 0 median)
    EX_FNOX=$(hf "$J6" 1 median)
    KC_SEC=$(hf "$J6K" 0 median)
    KC_FNOX=$(hf "$J6K" 1 median)
fi

# ---------------------------------------------------------------------------------------
# 4b. secd memory holding HEAVY_SCOPES × HEAVY_SECRETS cached secrets with HEAVY_SCOPES live
# leases (last: it adds scopes to config.toml, which would change the hook's map).
# ---------------------------------------------------------------------------------------
HEAVY_TOTAL=$((HEAVY_SCOPES * HEAVY_SECRETS))
log "4b. secd memory holding $HEAVY_TOTAL cached secrets with $HEAVY_SCOPES live leases"
# cmd: references print a value and need no storage (keyutils: would put 1,000 keys into
# the kernel's user keyring, which is the uid's, not the bench world's).
MANY="$D/many"
{
    for i in $(seq "$HEAVY_SCOPES"); do
        mkdir -p "$MANY/s$i"
        printf '\n[[scope]]\ndir = "%s"\nttl = "1h"\n[scope.env]\n' "$MANY/s$i"
        for j in $(seq "$HEAVY_SECRETS"); do
            printf 'V%d = "cmd:printf %%s value-of-secret-%d-%d-for-the-memory-bench"\n' "$j" "$i" "$j"
        done
    done
} >>"$XDG_CONFIG_HOME/sec/config.toml"
read -r RSS_PRE_HEAVY HWM_PRE_HEAVY < <(mem "$SECD_PID")
for i in $(seq "$HEAVY_SCOPES"); do
    (cd "$MANY/s$i" && exec "$SEC" exec -- sleep 600) >/dev/null 2>"$D/heavy-$i.err" &
    HEAVY_PIDS+=($!)
done
heavy_state() { # -> live leases, cached references under MANY
    "$SEC" status --json | jq -r --arg m "$MANY/" \
        '"\(.leases | length) \([.cached[] | select(.dir | startswith($m)) | .references | length] | add // 0)"'
}
for _ in $(seq 600); do
    read -r N_LEASES N_CACHED < <(heavy_state)
    [ "$N_LEASES" -ge "$HEAVY_SCOPES" ] && [ "$N_CACHED" -ge "$HEAVY_TOTAL" ] && break
    sleep 0.2
done
[ "$N_LEASES" -ge "$HEAVY_SCOPES" ] && [ "$N_CACHED" -ge "$HEAVY_TOTAL" ] ||
    die "after 2 min: $N_LEASES live leases, $N_CACHED cached secrets under $MANY ($(cat "$D"/heavy-*.err | sort | uniq -c | sort -rn | head -n 2))"
sleep 2
read -r RSS_HEAVY2 HWM_HEAVY2 < <(mem "$SECD_PID")
sleep "$CODE_IDLE_WAIT"
read -r RSS_HEAVY HWM_HEAVY < <(mem "$SECD_PID")
THR_HEAVY=$(thr "$SECD_PID")
read -r N_LEASES N_CACHED < <(heavy_state)
# the leases end: revocation stops their commands
"$SEC" revoke >/dev/null
for pid in "${HEAVY_PIDS[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
done
HEAVY_PIDS=()

# ---------------------------------------------------------------------------------------
# 4c. sec shield beside bwrap: bench/shield.sh, run from here with the same binaries.
# ---------------------------------------------------------------------------------------
SHIELD_NOTE=""
if [ -n "${SEC_BENCH_NO_SHIELD:-}" ]; then
    SHIELD_NOTE="not run (SEC_BENCH_NO_SHIELD is set)"
elif ! command -v bwrap >/dev/null; then
    SHIELD_NOTE="not run: bwrap is not installed (apt bubblewrap)"
else
    log "4c. bench/shield.sh (sec shield vs bwrap), $SHIELD_RUNS runs"
    if ! (cd "$BENCH_DIR" && SEC_BENCH_BIN_DIR="$D/bin" SEC_BENCH_RUNS="$SHIELD_RUNS" \
        bash "$BENCH_DIR/shield.sh") >"$OUT/4c-shield.log" 2>&1; then
        SHIELD_NOTE="bench/shield.sh failed: $(tail -n 1 "$OUT/4c-shield.log")"
    fi
fi
overhead() { # JSON INDEX -> median minus the median of `true` (index 0), seconds
    awk -v a="$(hf "$1" "$2" median)" -v b="$(hf "$1" 0 median)" 'BEGIN { printf "%.6f", a - b }'
}
if [ -z "$SHIELD_NOTE" ]; then
    SJ1="$BENCH_DIR/out-shield/shared-net.json"
    SJ2="$BENCH_DIR/out-shield/no-net.json"
    SH_SEC1=$(overhead "$SJ1" 1) SH_BW1=$(overhead "$SJ1" 2)
    SH_SEC2=$(overhead "$SJ2" 1) SH_BW2=$(overhead "$SJ2" 2)
    SH_R1=$(div "$SH_SEC1" "$SH_BW1")
    SH_R2=$(div "$SH_SEC2" "$SH_BW2")
    V4C=$(verdict eval 'le "$SH_R1" 1 && le "$SH_R2" 1')
fi

# ---------------------------------------------------------------------------------------
# 7 (optional; last: its writeback and deletion of gigabytes, on the other core, slowed
# `sec exec`'s two processes far more than `env` when it ran first). Two clean release builds
# of both binaries, one after the other, with the user's HOME for cargo: BUILD_BASE (the tree issue 14 calls "today") and the
# working tree as it is now, each copied into a temp dir with its own target dir.
# ---------------------------------------------------------------------------------------
if [ -n "${SEC_BENCH_BUILD:-}" ]; then
    BWORK=$(mktemp -d "${TMPDIR:-/tmp}/sec-bench-build.XXXXXX")
    build_tree() { # DIR NAME -> seconds and crates compiled in BUILD_SECS BUILD_CRATES
        (cd "$1" && HOME=$ORIG_HOME cargo fetch --locked -q) # downloads are not timed
        # What the previous build wrote is flushed first, so that neither build pays for the
        # other's writeback.
        sync
        local t0 t1
        t0=$(date +%s%N)
        (cd "$1" && HOME=$ORIG_HOME CARGO_TARGET_DIR="$1/target" cargo build --release --locked -p sec-client -p sec-daemon) >"$OUT/7-build-$2.log" 2>&1 ||
            { rm -rf "$BWORK"; die "the clean build of $2 failed: $OUT/7-build-$2.log"; }
        t1=$(date +%s%N)
        BUILD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
        BUILD_CRATES=$(grep -c '^ *Compiling ' "$OUT/7-build-$2.log" || true)
    }
    mkdir -p "$BWORK/base" "$BWORK/head"
    git -C "$REPO" archive "$BUILD_BASE" | tar x -C "$BWORK/base"
    # tracked and untracked files as they are (not ignored ones, not deleted ones)
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        tar --null --no-recursion -T - -cf -) | tar x -C "$BWORK/head"
    log "7. clean release build of $BUILD_BASE (base)"
    build_tree "$BWORK/base" base
    BUILD_BASE_SECS=$BUILD_SECS BUILD_BASE_CRATES=$BUILD_CRATES
    log "7. clean release build of the working tree"
    build_tree "$BWORK/head" head
    BUILD_HEAD_SECS=$BUILD_SECS BUILD_HEAD_CRATES=$BUILD_CRATES
    rm -rf "$BWORK"
    BUILD_DONE=1
fi

# ---------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
us2ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
us() { awk -v u="$1" 'BEGIN { printf "%.2f", u }'; }
inv() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) print "inf"; else printf "%.1f", b / a }'; }   # b/a
V1=$(verdict le "$RATIO1" 1.25)
V2=$(verdict le 20 "$RATIO2")
V3=$(verdict test "$OK3" -eq "$CONCURRENCY" -a "$CALLS3" -eq 1)
V4A=$(verdict le "$RSS_IDLE" 10240)
V4B=$(verdict le "$RSS_HEAVY" 16384)
V5A=$(verdict test "$SP_SEC" -eq 0)
V5PU=$(verdict test "$SC_UNC" -eq 0)
V5PC=$(verdict test "$SC_CFG" -eq 0)
V5C=$(verdict le "$RATIO5C" 0.1)
V5R=$(verdict le "$RATIO5R" 0.1)
if [ -n "$FNOX" ]; then
    R6X=$(div "$EX_SEC" "$EX_FNOX")
    R6K=$(div "$KC_SEC" "$KC_FNOX")
    R6P=$(div3 "$PP_SEC" "$PP_FNOX")
    R6C=$(div3 "$CY_CFG" "$CY_FNOX")
    V6X=$(verdict lt "$EX_SEC" "$EX_FNOX")
    V6K=$(verdict lt "$KC_SEC" "$KC_FNOX")
    V6P=$(verdict eval 'lt "$PP_SEC" "$PP_FNOX" && [ "$SP_SEC" -le "$SP_FNOX" ]')
    V6C=$(verdict lt "$CY_CFG" "$CY_FNOX")
fi
if [ -n "$BUILD_DONE" ]; then
    R7=$(div "$BUILD_HEAD_SECS" "$BUILD_BASE_SECS")
    V7=$(verdict le "$R7" 0.5)
fi

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
row() { # JSON INDEX -> a table row: command, median, mean ± σ, min, max
    printf '| %s | %s ms | %s ± %s ms | %s ms | %s ms |\n' \
        "$(hf "$1" "$2" command)" "$(ms "$(hf "$1" "$2" median)")" "$(ms "$(hf "$1" "$2" mean)")" \
        "$(ms "$(hf "$1" "$2" stddev)")" "$(ms "$(hf "$1" "$2" min)")" "$(ms "$(hf "$1" "$2" max)")"
}
cyrow() { # LABEL N MIN MEDIAN P90 MEAN MAX (µs) -> a table row in ms
    printf '| %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms |\n' "$1" "$2" "$(us2ms "$4")" \
        "$(us2ms "$6")" "$(us2ms "$3")" "$(us2ms "$5")" "$(us2ms "$7")"
}
HEADER='| command | median | mean ± σ | min | max |
|---------|--------|----------|-----|-----|'
FNOX_LABEL=${FNOX_VER:-fnox}

{
cat <<EOF
# sec benchmark results

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- checkout: **$CHECKOUT**; binaries: \`$BIN_DIR\` (secd built $(date -u -r "$BIN_DIR/secd" '+%Y-%m-%d %H:%M UTC')), installed (copied) into the world's bin directory and run from there${SEC_BENCH_NOTE:+ — $SEC_BENCH_NOTE}
- machine: $(nproc) CPU(s), ${CPU:-unknown CPU}, $(uname -sr); load average (1/5/15 min) at the start: $LOAD_START, at the end: $LOAD_END
- $(hyperfine --version), $(gnome-keyring-daemon --version 2>/dev/null | head -n 1), $(bash --version | head -n 1 | sed 's/ (.*//'), direnv $("$DIRENV" version), ${FNOX_VER:-fnox: not measured}, $(strace -V | head -n 1)
- method (bench/README.md has the details): one throw-away world (own HOME, XDG dirs,
  D-Bus session, gnome-keyring, gpg home, password store), one secd, everything in one run
  of \`bench/run.sh\`; whole commands timed by hyperfine \`-N --warmup $WARMUP --runs $RUNS\`
  unless stated, medians unless stated; the hook's \`cd\` cycles timed inside a running
  interactive bash with \`\$EPOCHREALTIME\`; processes counted with strace; memory from
  \`/proc/PID/status\`; shield from bench/shield.sh, run by this script with the same binaries
- secd runs with \`SECD_LOG=$SECD_LOG\` (debug for secd's own modules: the cache-hit lines)
- 1Password: \`op\` is a stand-in shell script (1Password's CLI cannot be installed here);
  it sleeps ${OP_DELAY}s and prints a fixed value; secd and fnox both call it
EOF
if [ -n "$FNOX_NOTE" ]; then printf -- '- %s\n' "$FNOX_NOTE"; fi
cat <<EOF

## Summary

The targets of issue 14 ("what to reach" 1–5, and "beside the peers"), one verdict per
metric; § is the section below with the details:

| issue | what | result | target | verdict |
|---|------|--------|--------|---------|
| 1 | warm \`sec exec -- true\` / \`env A=1 B=2 C=3 true\` (whole commands, medians) (§1) | $(ms "$EXEC_WARM") ms / $(ms "$ENV_BASE") ms = **${RATIO1}×** | ≤ 1.25× | $V1 |
| 2 | hook: a \`cd\` between two directories no scope covers, processes the shell started (strace, $((2 * STRACE_CYCLES)) \`cd\`) (§5b) | **$SC_UNC** | 0 | $V5PU |
| 2 | hook: \`cd\` into an unlocked config scope and out, processes the shell started (strace, $STRACE_CYCLES cycles) (§5b) | **$SC_CFG** | 0 | $V5PC |
| 2 | hook: \`cd\` into an unlocked config scope and out, one cycle / direnv's (.envrc), medians (§5b) | $(us2ms "$CY_CFG") ms / $(us2ms "$CY_DIR") ms = **${RATIO5C}** (1/$(inv "$CY_CFG" "$CY_DIR")) | ≤ 0.1 | $V5C |
| 2 | hook: \`cd\` into an unlocked .sec.toml scope and out, one cycle / direnv's, medians (§5b) | $(us2ms "$CY_REPO") ms / $(us2ms "$CY_DIR") ms = **${RATIO5R}** (1/$(inv "$CY_REPO" "$CY_DIR")) | ≤ 0.1 | $V5R |
| 2 | hook: $((STRACE_PROMPTS + 1)) prompts without \`cd\`, processes started (strace) (§5a) | **$SP_SEC** | 0 | $V5A |
| 3 | secd VmRSS after serving every configured backend, then ${CODE_IDLE_WAIT} s idle (§4a) | **$(mib "$RSS_IDLE") MiB** | ≤ 10 MiB | $V4A |
| 3 | secd VmRSS holding $HEAVY_TOTAL cached secrets with $HEAVY_SCOPES live leases (§4b) | **$(mib "$RSS_HEAVY") MiB** | ≤ 16 MiB | $V4B |
EOF
if [ -z "$SHIELD_NOTE" ]; then
    echo "| 4 | \`sec shield -- true\` overhead / bwrap's (same layout; bench/shield.sh): network shared; own network namespace (§4c) | $(ms "$SH_SEC1") / $(ms "$SH_BW1") ms = **$SH_R1**; $(ms "$SH_SEC2") / $(ms "$SH_BW2") ms = **$SH_R2** | ≤ 1 (both) | $V4C |"
else
    echo "| 4 | \`sec shield -- true\` overhead / bwrap's | $SHIELD_NOTE | ≤ 1 | not run |"
fi
if [ -n "$BUILD_DONE" ]; then
    echo "| 5 | clean \`cargo build --release\` of both binaries: working tree / $BUILD_BASE (§7) | ${BUILD_HEAD_SECS} s ($BUILD_HEAD_CRATES crates) / ${BUILD_BASE_SECS} s ($BUILD_BASE_CRATES crates) = **$R7** | ≤ 0.5 | $V7 |"
else
    echo "| 5 | clean \`cargo build --release\` of both binaries / today's | not measured in this run (\`SEC_BENCH_BUILD=1\` times it) | ≤ 0.5 | not run |"
fi
if [ -n "$FNOX" ]; then
cat <<EOF
| peers | \`sec exec -- true\` / \`fnox exec -- true\` ($FNOX_LABEL, daemon on), both warm, medians (§6) | $(ms "$EX_SEC") / $(ms "$EX_FNOX") ms = **$R6X** (fnox takes $(inv "$EX_SEC" "$EX_FNOX")× sec's time) | < 1: sec ahead | $V6X |
| peers | keychain backends uncached: \`sec exec --only B\` after \`sec revoke\` (\`keyring:\`) / \`fnox --no-daemon exec --only B\` (keychain provider) (§6) | $(ms "$KC_SEC") / $(ms "$KC_FNOX") ms = **$R6K** ($(inv "$KC_SEC" "$KC_FNOX")×) | < 1: sec ahead | $V6K |
| peers | hook at a prompt without \`cd\`: sec / fnox, time added per prompt; processes in $((STRACE_PROMPTS + 1)) prompts (§5a, §6) | $(us "$PP_SEC") µs / $(us2ms "$PP_FNOX") ms = **$R6P**; $SP_SEC vs $SP_FNOX processes | < 1: sec ahead | $V6P |
| peers | hook, \`cd\` into PROJ and out: sec (config scope) / fnox (fnox.toml), medians (§5b, §6) | $(us2ms "$CY_CFG") / $(us2ms "$CY_FNOX") ms = **$R6C** (1/$(inv "$CY_CFG" "$CY_FNOX")) | < 1: sec ahead | $V6C |
EOF
else
    echo "| peers | sec beside fnox | $FNOX_NOTE | < 1: sec ahead | not run |"
fi
cat <<EOF

Context (no verdict; the issue judges only the metrics above):

| issue | what | result |
|---|------|--------|
| 2 | hook \`cd\` cycles net of the two \`cd\` alone ($(us "$CY_BASH") µs): config scope / direnv; .sec.toml scope / direnv | $(us2ms "$(net "$CY_CFG" "$CY_BASH")") / $(us2ms "$(net "$CY_DIR" "$CY_BASH")") ms = ${RATIO5CN}; $(us2ms "$(net "$CY_REPO" "$CY_BASH")") / $(us2ms "$(net "$CY_DIR" "$CY_BASH")") ms = ${RATIO5RN} |
| 2 | hook: \`cd\` into an unlocked .sec.toml scope and out, processes per cycle (an approved, unchanged file: the hook decides from its map and markers) | $(per_cycle "$SC_REPO") processes (direnv's cycle: $(per_cycle "$SC_DIR")) |
| 2 | hook: time added per prompt without \`cd\` | $(us "$PP_SEC") ± $(us "$PP_SEC_SE2") µs (direnv's hook: $(us2ms "$PP_DIR") ms) |
| – | earlier target: Secret Service lookup / cache hit, timed by secd (\`elapsed=\`, medians of $N_LK / $N_HIT) | $(us2ms "$LK_MED") ms / $(us "$HIT_MED") µs = ${RATIO2}× (p90: ${RATIO2_P90}×), ≥ 20×: $V2 |
| – | earlier target: $CONCURRENCY concurrent cold \`sec exec --only C -- true\` | $OK3/$CONCURRENCY ok, $CALLS3 \`op\` call(s), wall $WALL3 ms; all ok and 1 call: $V3 |

## 1. Warm exec overhead (target ≤ 1.25×)

$HEADER
$(row "$J1" 0)
$(row "$J1" 1)

Ratio of medians: **${RATIO1}×** (sec exec adds $(ms "$(awk -v a="$EXEC_WARM" -v b="$ENV_BASE" 'BEGIN { print a - b }')") ms).

## 2. Cache hit vs Secret Service lookup (\`keyring:bench/b\`)

(a) **As timed by secd.** secd measures \`elapsed\` around the cache's get-or-fetch of one
secret and logs it: "looked up in the vault" (info) when it had to ask the vault, "served
from the cache" (debug) when it did not. $LOOKUPS lookups: each \`sec revoke\` then
\`sec exec --only B -- true\` (after one discarded lookup); then $HITS hits: \`sec exec --only B
-- true\` with B cached. The \`elapsed=\` values of the lines for \`keyring:bench/b\` written
during each phase are parsed with their unit (ns, µs, ms, s) — raw values in
\`bench/out/2a-*.txt\`:

| secd log line | n | min | median | p90 | mean | max |
|---------------|---|-----|--------|-----|------|-----|
| looked up in the vault (Secret Service) | $N_LK | $(us "$LK_MIN") µs | $(us "$LK_MED") µs | $(us "$LK_P90") µs | $(us "$LK_MEAN") µs | $(us "$LK_MAX") µs |
| served from the cache | $N_HIT | $(us "$HIT_MIN") µs | $(us "$HIT_MED") µs | $(us "$HIT_P90") µs | $(us "$HIT_MEAN") µs | $(us "$HIT_MAX") µs |

Lookup / hit: **${RATIO2}×** (medians), ${RATIO2_P90}× (p90s). The lookup is a Secret
Service round trip through keyring-core and sec's own D-Bus client over a connection secd
keeps open (made by \`sec set\` earlier), i.e. the steady-state lookup, not the first one.

(b) **Whole commands** (hyperfine; what a user waits for, dominated by sec's fixed
per-command cost):

$HEADER
$(row "$J2W" 0)
$(row "$J2W" 1)
$(row "$J2C" 0)
$(row "$J2S" 0)

- cold / warm whole command: $(ms "$B_COLD") / $(ms "$B_WARM") = ${RATIO2_CMD}× (\`sec revoke\`
  runs in \`--prepare\`, outside the timing). This ratio is bounded by (fixed + lookup) /
  fixed and is not the cache's ratio; that is (a).
- warm \`--only B\` − \`--only A\` (a literal: the same path without touching the cache):
  $(ms "$(net "$B_WARM" "$A_ONLY")") ms, i.e. the hit is lost in the noise of a whole command.
- for reference, a whole \`secret-tool lookup\` process: $(ms "$ST_MED") ms

## 3. Concurrent cold requests (single flight)

$CONCURRENCY × \`sec exec --only C -- true\` started in the background at once against a freshly
started secd (cold cache), \`op\` stand-in sleeping ${OP_DELAY}s:

| successes | \`op\` calls (counter file) | vault lookups (secd.log) | wall time |
|-----------|---------------------------|--------------------------|-----------|
| $OK3/$CONCURRENCY | $CALLS3 | $VAULT3 | $WALL3 ms |
EOF
if [ "$OK3" -ne "$CONCURRENCY" ]; then
    printf '\nMost frequent error output of the failures:\n\n```\n%s\n```\n' "$FAIL_SAMPLE"
fi
cat <<EOF

## 4. secd memory (/proc/PID/status), and sec shield

(a) **After serving every configured backend** (targets ≤ 10 MiB idle). The fresh secd of
test 3 (its pid from \`sec daemon start\`'s output), after test 3 (op only), then one
\`sec exec\` in PROJ (B from the Secret Service), \`sec unlock --local --passphrase-fd 3\`,
one \`sec exec\` in BACK (keyutils, local vault, cmd${PASS_OK:+, pass}), one \`sec status\`;
secd.log shows lookups in every one of: $BACKENDS_USED.$(if [ -z "$PASS_OK" ]; then echo " pass: not measured (pass or gpg is not installed, or no key could be made)."; fi)

| when | VmRSS | VmHWM (peak so far) | threads |
|------|-------|-------|---------|
| freshly started, before test 3 | $(mib "$FRESH_RSS") MiB | $(mib "$FRESH_HWM") MiB | |
| right after test 3 (op only) | $(mib "$RSS_AFTER") MiB | $(mib "$HWM_AFTER") MiB | |
| after \`sec exec\` in PROJ (the Secret Service) | $(mib "$RSS_SS") MiB | $(mib "$HWM_SS") MiB | |
| after \`sec unlock --local\` (scrypt) | $(mib "$RSS_UNLOCK") MiB | $(mib "$HWM_UNLOCK") MiB | |
| after \`sec exec\` in BACK and \`sec status\` | $(mib "$RSS_SERVED") MiB | $(mib "$HWM_SERVED") MiB | |
| then 2 s idle | $(mib "$RSS_IDLE2") MiB | $(mib "$HWM_IDLE2") MiB | |
| then ${CODE_IDLE_WAIT} s idle (code pages handed back after 10 s without a connection) — judged | **$(mib "$RSS_IDLE") MiB** | $(mib "$HWM_IDLE") MiB | $THR_IDLE |

After 10 s without a connection secd hands the pages of its own code back to the kernel
(\`MADV_PAGEOUT\`; daemon/src/host/memory.rs); the next request reads what it needs again:
the first \`sec exec -- true\` after the idle time took $FIRST_AFTER_IDLE ms, the one right after
it $NEXT_AFTER_IDLE ms (one run each, wall time).

VmHWM is the resident peak over the daemon's life: opening the local vault runs scrypt,
whose working memory is resident for the length of the unlock and returned after it.

(b) **Holding $HEAVY_TOTAL cached secrets with $HEAVY_SCOPES live leases** (target ≤ 16 MiB), at the
end of the run (the same secd, after tests 5 and 6): $HEAVY_SCOPES config scopes (appended to
config.toml) × $HEAVY_SECRETS \`cmd:printf %s VALUE\` references each (~40-byte values; \`cmd:\` needs no
storage), then \`sec exec -- sleep 600\` started in each scope in the background; measured
2 s and ${CODE_IDLE_WAIT} s after \`sec status --json\` showed $HEAVY_SCOPES live leases and $HEAVY_TOTAL cached secrets in those
scopes (at the measurement: $N_LEASES leases, $N_CACHED secrets); then \`sec revoke\` ended them.

| when | VmRSS | VmHWM | threads |
|------|-------|-------|---------|
| before (after tests 5, 6) | $(mib "$RSS_PRE_HEAVY") MiB | $(mib "$HWM_PRE_HEAVY") MiB | |
| $HEAVY_TOTAL secrets cached, $HEAVY_SCOPES leases live, 2 s | $(mib "$RSS_HEAVY2") MiB | $(mib "$HWM_HEAVY2") MiB | |
| the same, ${CODE_IDLE_WAIT} s — judged | **$(mib "$RSS_HEAVY") MiB** | $(mib "$HWM_HEAVY") MiB | $THR_HEAVY |

(c) **sec shield beside bwrap** (target: overhead ≤ bwrap's). bench/shield.sh, run by this
script with the same binaries (\`SEC_BENCH_BIN_DIR\`, \`--runs $SHIELD_RUNS\`; its own world; full
output in bench/shield-results.md): overhead = median − median of \`true\`, each against
\`bwrap\` with the layout \`sec shield\` builds by default.
EOF
if [ -z "$SHIELD_NOTE" ]; then
cat <<EOF

| network | sec shield | bwrap | sec / bwrap |
|---------|------------|-------|-------------|
| shared (both tools' default here) | $(ms "$SH_SEC1") ms | $(ms "$SH_BW1") ms | **$SH_R1** |
| own namespace (\`--no-network\` / \`--unshare-all\`) | $(ms "$SH_SEC2") ms | $(ms "$SH_BW2") ms | **$SH_R2** |
EOF
else
    printf '\nShield: %s.\n' "$SHIELD_NOTE"
fi
cat <<EOF

## 5. Shell hook (bash)

Layout: \`IN\` holds a \`.sec.toml\` (\`A\` literal, \`B = "keyring:bench/b"\`, approved with
\`sec allow\`, its secrets cached) and an \`.envrc\` (\`export A=1\`, approved with \`direnv
allow\`); \`OUT\` and \`OUT2\` are in no scope and have neither file; \`PROJ\` is the config
scope of tests 1–3, unlocked (its secrets all cached, so secd keeps its marker), and holds
fnox's \`fnox.toml\`. secd logged no vault lookup during test 5.

### 5a. At a prompt without \`cd\`

**Processes.** \`strace -e trace=clone,clone3,fork,vfork,umask\` on \`bash --norc -i\` (the
shell only, no \`-f\`: every process a hook starts is a fork of the shell; sec refuses to run
under a tracer) reading its commands from stdin (an interactive bash prints its prompt and
runs PROMPT_COMMAND before every line even when stdin is not a terminal), started in PROJ:
the hook's \`eval\`, a start marker (\`umask 0077\`), $STRACE_PROMPTS \`:\` lines, an end marker
(\`umask 0022\`), then \`cd OUT\` and \`:\`. Counted between the markers ($((STRACE_PROMPTS + 1)) prompts):
the processes the shell started (fork, vfork, clone/clone3 without CLONE_THREAD).

| hook | processes started |
|------|-------------------|
| \`sec hook bash\` | **$SP_SEC** |
| \`direnv hook bash\` (started in IN), for reference | $SP_DIR |
EOF
if [ -n "$FNOX" ]; then
    echo "| \`fnox activate bash\` (started in PROJ), for reference | $SP_FNOX |"
fi
cat <<EOF

Controls: the shell had \`SEC_SCOPE=PROJ\` between the markers (the first prompt ran \`sec
hook-event\`, before the start marker) and none after leaving; after the end marker (the
prompt after \`cd OUT\`, which leaves an unlocked config scope) the shell started
$SP_SEC_AFTER process(es). Traces: \`bench/out/5a-strace-*.log\`.

**Time.** hyperfine runs \`sh -c 'exec bash --norc -i <FILE'\` with three files, started in PROJ:
with the hook (\`eval "\$(sec hook bash)"\`, \`:\`, then $PROMPTS × \`:\`), hook removed after its
first prompt (\`unset PROMPT_COMMAND\` as the second line), and no hook at all. The first two
do the same one-time work, so their difference is $PROMPTS runs of the hook at a prompt where
the directory did not change.

$HEADER
$(row "$J5P" 0)
$(row "$J5P" 1)
$(row "$J5P" 2)

- added per prompt: (with − removed) / $PROMPTS = **$(us "$PP_SEC") µs** (± $(us "$PP_SEC_SE2") µs:
  two standard errors of the difference, from hyperfine's σ); in CPU time (user + system,
  means) $(us "$PP_SEC_CPU") µs. For scale, bash itself spends $(us "$PP_BASH") µs per
  prompt + line here (the no-hook run / $PROMPTS, including bash's start).
- direnv's hook the same way (started in IN, $PEER_PROMPTS prompts, \`--warmup 2 --runs $PEER_PROMPT_RUNS\`):
  **$(us2ms "$PP_DIR") ms** per prompt (± $(us2ms "$PP_DIR_SE2") ms; CPU $(us2ms "$PP_DIR_CPU") ms): it runs
  \`direnv export bash\` at every prompt.
EOF
if [ -n "$FNOX" ]; then
cat <<EOF
- fnox's hook the same way (\`eval "\$(fnox activate bash)"\`, started in PROJ, $PEER_PROMPTS prompts):
  **$(us2ms "$PP_FNOX") ms** per prompt (± $(us2ms "$PP_FNOX_SE2") ms; CPU $(us2ms "$PP_FNOX_CPU") ms): it runs
  \`fnox hook-env -s bash\` at every prompt.
EOF
fi
cat <<EOF

$HEADER
$(row "$J5D" 0)
$(row "$J5D" 1)
EOF
if [ -n "$FNOX" ]; then
    row "$J5F" 0
    row "$J5F" 1
fi
cat <<EOF

### 5b. \`cd\` into a scope and out of it

What a user's shell does: each tool's hook loaded into a running interactive bash
(\`bash --norc --noprofile -i FILE\`, stdin /dev/null: with \`-i\` sec's hook script passes its
\`[[ \$- == *i* ]]\` guard as in ~/.bashrc; a shell reading a script file prints no prompt and
runs no PROMPT_COMMAND, so the script calls the hook after each \`cd\` itself, as
PROMPT_COMMAND would). sec: \`eval "\$(sec hook bash)"\` once, then \`__sec_hook\` after each
\`cd\`; fnox: \`eval "\$(fnox activate bash)"\`, then \`_fnox_hook\`; direnv: \`eval "\$(direnv
export bash)"\` after each \`cd\` (what its hook runs); bash: the two \`cd\` alone. Each shell
goes to OUT and runs the hook once (sec's first run starts \`sec hook-event\`, which leaves
its map in the shell), does $CYCLE_WARMUP untimed cycles and one checked cycle (state printed in IN
and in OUT: \`SEC_SCOPE\` and the map for sec, \`A\` for direnv, \`A\` and \`B\` for fnox), then N
timed cycles, each \`cd IN; HOOK; cd OUT; HOOK\` between two reads of \`\$EPOCHREALTIME\`.
No row includes a shell's start. Per cycle:

| cycle | n | median | mean | min | p90 | max |
|-------|---|--------|------|-----|-----|-----|
$(cyrow "sec: OUT → PROJ (config scope, unlocked) → OUT" "$CY_N_CFG" "$CY_MIN_CFG" "$CY_CFG" "$CY_P90_CFG" "$CY_MEAN_CFG" "$CY_MAX_CFG")
$(cyrow "sec: OUT → IN (.sec.toml scope, unlocked) → OUT" "$CY_N_REPO" "$CY_MIN_REPO" "$CY_REPO" "$CY_P90_REPO" "$CY_MEAN_REPO" "$CY_MAX_REPO")
$(cyrow "sec: OUT → OUT2 (no scope) → OUT" "$CY_N_UNC" "$CY_MIN_UNC" "$CY_UNC" "$CY_P90_UNC" "$CY_MEAN_UNC" "$CY_MAX_UNC")
$(cyrow "direnv: OUT → IN (.envrc) → OUT" "$CY_N_DIR" "$CY_MIN_DIR" "$CY_DIR" "$CY_P90_DIR" "$CY_MEAN_DIR" "$CY_MAX_DIR")
EOF
if [ -n "$FNOX" ]; then
    cyrow "fnox: OUT → PROJ (fnox.toml; daemon warm) → OUT" "$CY_N_FNOX" "$CY_MIN_FNOX" "$CY_FNOX" "$CY_P90_FNOX" "$CY_MEAN_FNOX" "$CY_MAX_FNOX"
fi
cat <<EOF
$(cyrow "bash alone: cd IN, cd OUT" "$CY_N_BASH" "$CY_MIN_BASH" "$CY_BASH" "$CY_P90_BASH" "$CY_MEAN_BASH" "$CY_MAX_BASH")

- sec / direnv, whole cycle (medians): config scope **${RATIO5C}** (1/$(inv "$CY_CFG" "$CY_DIR")); .sec.toml scope **${RATIO5R}** (1/$(inv "$CY_REPO" "$CY_DIR"))
- context, net of the two \`cd\` alone: config scope ${RATIO5CN}; .sec.toml scope ${RATIO5RN}
EOF
if [ -n "$FNOX" ]; then
    echo "- sec (config scope) / fnox: **${R6C}** (1/$(inv "$CY_CFG" "$CY_FNOX"))"
fi
cat <<EOF

**Processes per cycle.** The same scripts, the shell under \`strace -e
trace=clone,clone3,fork,vfork,umask\` (no \`-f\`, as in 5a), with $STRACE_CYCLES cycles between two
\`umask\` markers after the warm-up; counted: the processes the shell started (traces:
\`bench/out/5b-strace-*.log\`):

| cycle ($STRACE_CYCLES of them) | processes started | per cycle |
|-------|---------------|-----------|
| sec: OUT → OUT2 → OUT (no scope: $((2 * STRACE_CYCLES)) \`cd\`) | **$SC_UNC** | $(per_cycle "$SC_UNC") |
| sec: OUT → PROJ (config scope, unlocked) → OUT | **$SC_CFG** | $(per_cycle "$SC_CFG") |
| sec: OUT → IN (.sec.toml scope) → OUT | $SC_REPO | $(per_cycle "$SC_REPO") |
| direnv: OUT → IN (.envrc) → OUT | $SC_DIR | $(per_cycle "$SC_DIR") |
EOF
if [ -n "$FNOX" ]; then
    echo "| fnox: OUT → PROJ (fnox.toml) → OUT | $SC_FNOX | $(per_cycle "$SC_FNOX") |"
fi
if [ -n "$FNOX" ]; then
cat <<EOF

## 6. Beside fnox ($FNOX_LABEL)

fnox built by this script from its crate (fnox-core pinned to the same version) or found
installed: \`$FNOX\`. Its project is PROJ, with a \`fnox.toml\` holding the same three
secrets: \`A = { default = "1" }\`, \`B\` through its \`keychain\` provider (service
\`fnox-bench\`, stored with \`fnox set B --provider keychain\`: the same gnome-keyring as
sec's \`keyring:bench/b\`), \`C\` through its \`1password\` provider (vault \`Bench\`, item
\`item/field\`: the same \`op\` stand-in), and \`[daemon] enabled = true\` (fnox's in-memory
cache, the counterpart of secd's). The sanity run checked that \`fnox exec\` gives the same
A, B, C.

Warm (sec: cached by secd; fnox: served by its daemon), in one hyperfine run:

$HEADER
$(row "$J6" 0)
$(row "$J6" 1)

Through the keychain backends, uncached (only B; sec: \`sec revoke\` in \`--prepare\`, secd looks
B up in the Secret Service; fnox: \`--no-daemon\`, fnox reads the Secret Service itself):

$HEADER
$(row "$J6K" 0)
$(row "$J6K" 1)

- exec, warm: sec / fnox = **$R6X** (fnox takes $(inv "$EX_SEC" "$EX_FNOX")× sec's time)
- exec through the keychain, uncached: sec / fnox = **$R6K** ($(inv "$KC_SEC" "$KC_FNOX")×)
- hook at a prompt without \`cd\` (5a): $(us "$PP_SEC") µs per prompt and $SP_SEC processes in $((STRACE_PROMPTS + 1)) prompts against $(us2ms "$PP_FNOX") ms and $SP_FNOX: **$R6P**
- hook, \`cd\` into PROJ and out (5b): $(us2ms "$CY_CFG") ms against $(us2ms "$CY_FNOX") ms: **$R6C**; processes per cycle $(per_cycle "$SC_CFG") against $(per_cycle "$SC_FNOX")
EOF
else
    printf '\n## 6. Beside fnox\n\n%s\n' "$FNOX_NOTE"
fi
if [ -n "$BUILD_DONE" ]; then
cat <<EOF

## 7. Build

Two clean \`cargo build --release --locked -p sec-client -p sec-daemon\`, one after the
other, each in a fresh copy with its own target dir (downloads done before, untimed):
$BUILD_BASE (\`git archive\`) and the working tree (tracked and untracked files).

| tree | wall time | crates compiled |
|------|-----------|-----------------|
| $BUILD_BASE | ${BUILD_BASE_SECS} s | $BUILD_BASE_CRATES |
| working tree | ${BUILD_HEAD_SECS} s | $BUILD_HEAD_CRATES |

Ratio: **$R7** (target ≤ 0.5). Logs: \`bench/out/7-build-*.log\`.
EOF
fi
cat <<EOF

Raw data: \`bench/out/\` (hyperfine JSON, the per-lookup and per-hit times of 2a, the
per-cycle times of 5b, strace logs of 5a and 5b, the daemon's log, bench/shield.sh's output).
EOF
} >"$RESULTS"

# ---------------------------------------------------------------------------------------
# Console summary.
# ---------------------------------------------------------------------------------------
line() { printf '%-58s %-52s %-10s %s\n' "$@"; }
printf '\n'
line "test" "result" "target" "verdict"
line "1 warm sec exec / env (medians)" "$(ms "$EXEC_WARM")/$(ms "$ENV_BASE") ms = ${RATIO1}x" "<= 1.25x" "$V1"
line "2 hook: processes, $((2 * STRACE_CYCLES)) cd between uncovered dirs" "$SC_UNC" "0" "$V5PU"
line "2 hook: processes, $STRACE_CYCLES cycles unlocked config scope" "$SC_CFG" "0" "$V5PC"
line "2 hook: cd cycle config scope / direnv" "$(us2ms "$CY_CFG")/$(us2ms "$CY_DIR") ms = ${RATIO5C}" "<= 0.1" "$V5C"
line "2 hook: cd cycle .sec.toml scope / direnv" "$(us2ms "$CY_REPO")/$(us2ms "$CY_DIR") ms = ${RATIO5R}" "<= 0.1" "$V5R"
line "2 hook: processes, $((STRACE_PROMPTS + 1)) prompts without cd" "$SP_SEC" "0" "$V5A"
line "3 secd VmRSS after all backends, ${CODE_IDLE_WAIT} s idle" "$(mib "$RSS_IDLE") MiB" "<= 10MiB" "$V4A"
line "3 secd VmRSS, $HEAVY_TOTAL secrets + $HEAVY_SCOPES leases" "$(mib "$RSS_HEAVY") MiB" "<= 16MiB" "$V4B"
if [ -z "$SHIELD_NOTE" ]; then
    line "4 shield overhead / bwrap (shared net; own netns)" "$SH_R1; $SH_R2" "<= 1" "$V4C"
else
    line "4 shield overhead / bwrap" "$SHIELD_NOTE" "<= 1" "not run"
fi
if [ -n "$BUILD_DONE" ]; then
    line "5 clean release build / $BUILD_BASE" "${BUILD_HEAD_SECS}/${BUILD_BASE_SECS} s = $R7" "<= 0.5" "$V7"
else
    line "5 clean release build" "not measured (SEC_BENCH_BUILD=1)" "<= 0.5" "not run"
fi
if [ -n "$FNOX" ]; then
    line "peers: sec exec / fnox exec (warm)" "$(ms "$EX_SEC")/$(ms "$EX_FNOX") ms = $R6X" "< 1" "$V6X"
    line "peers: keychain uncached sec / fnox" "$(ms "$KC_SEC")/$(ms "$KC_FNOX") ms = $R6K" "< 1" "$V6K"
    line "peers: hook per prompt sec / fnox" "$(us "$PP_SEC") us/$(us2ms "$PP_FNOX") ms = $R6P" "< 1" "$V6P"
    line "peers: hook cd cycle sec / fnox" "$(us2ms "$CY_CFG")/$(us2ms "$CY_FNOX") ms = $R6C" "< 1" "$V6C"
else
    line "peers: fnox" "$FNOX_NOTE" "" "not run"
fi
printf '\nwritten: %s\n' "$RESULTS"
