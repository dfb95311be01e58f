#!/usr/bin/env bash
# Benchmarks for sec/secd. See bench/README.md for what is measured and how.
#
# Usage: bench/run.sh            (builds release binaries first)
#        SEC_BENCH_NO_BUILD=1 bench/run.sh   (use existing target/release/{sec,secd})
#        SEC_BENCH_BIN_DIR=/some/dir bench/run.sh   (use DIR/{sec,secd}, no build)
#        SEC_BENCH_LOOKUPS=30 SEC_BENCH_HITS=200 SEC_BENCH_RUNS=50 SEC_BENCH_CONCURRENCY=100
#        SEC_BENCH_PROMPTS=1000 (defaults shown)
#
# Everything runs in a throw-away world under a temp dir: its own HOME, XDG dirs, a private
# D-Bus session bus and gnome-keyring. Nothing of the user's session is touched. Results go
# to bench/results.md (overwritten) and the raw hyperfine JSON to bench/out/.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
OUT="$BENCH_DIR/out"
RESULTS="$BENCH_DIR/results.md"

LOOKUPS=${SEC_BENCH_LOOKUPS:-30}
HITS=${SEC_BENCH_HITS:-200}
PROMPTS=${SEC_BENCH_PROMPTS:-1000}       # prompts per timed interactive bash (5a)
STRACE_PROMPTS=100                      # `:` lines under strace (5a)
DIRENV_PROMPTS=100                      # prompts per run for direnv's own hook (5a, reference)
DIRENV_PROMPT_RUNS=10
RUNS=${SEC_BENCH_RUNS:-50}
WARMUP=5
CONCURRENCY=${SEC_BENCH_CONCURRENCY:-100}
OP_DELAY=0.2
SECRET_B=bench-secret-b
OP_VALUE=bench-op-value

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in hyperfine dbus-daemon gnome-keyring-daemon secret-tool jq awk timeout bash strace direnv; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# ---------------------------------------------------------------------------------------
# Cleanup: stop the daemon(s) we started, the keyring, the bus; remove the temp dir.
# ---------------------------------------------------------------------------------------
WORK=""
KEYRING_PID=""
DBUS_PID=""
SECD_PIDS=()
SEC=""
SECD=""

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
        # Only inside our world: elsewhere `sec daemon stop` would reach the user's own secd.
        if [ -x "$SEC" ] && [ "${XDG_RUNTIME_DIR:-}" = "$WORK/run" ]; then
            timeout 10 "$SEC" daemon stop >/dev/null 2>&1
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
    (cd "$REPO" && cargo build --release -p sec-client -p sec-daemon)
fi
# The checkout as it is when the binaries are taken (changes under bench/ itself do not
# count: they do not change what is measured).
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
[ -n "$(git -C "$REPO" status --porcelain -- . ':!bench' 2>/dev/null || true)" ] && DIRTY=" (uncommitted changes outside bench/)"
SEC="$BIN_DIR/sec"
SECD="$BIN_DIR/secd"
[ -x "$SEC" ] && [ -x "$SECD" ] || die "no release binaries in $BIN_DIR (build them)"
# secd must time cache hits (issue: "served from the cache ... elapsed=" at debug level).
grep -q 'served from the cache' "$SECD" ||
    die "$SECD does not log cache hits ('served from the cache'): rebuild it"
DIRENV=$(command -v direnv)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

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
for dir in "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"; do
    mkdir -p "$dir"
    chmod 700 "$dir"
done
# secd logs "looked up in the vault" at info and "served from the cache" at debug, both with
# elapsed=. Debug for secd's own modules only: `debug` for everything would also log every
# HTTP/2 frame (h2, tonic), ~25 lines per request, and slow the whole-command figures down.
export SECD_LOG=${SEC_BENCH_SECD_LOG:-info,secd=debug}
unset SSH_AUTH_SOCK GNOME_KEYRING_CONTROL
# Nothing of the user's shell state: direnv's (if it is loaded there), prompt hooks, mail.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^DIRENV_' || true)
unset PROMPT_COMMAND MAIL MAILPATH BASH_ENV ENV
export HISTFILE=                     # interactive bash of test 5 keeps no history
LOG="$XDG_STATE_HOME/sec/secd.log"
rm -rf "$OUT" && mkdir -p "$OUT"   # only this script writes there

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
# `op read --no-newline REF` after OP_DELAY seconds and records each call.
COUNTER="$D/op-calls"
: >"$COUNTER"
mkdir -p "$D/bin"
cat >"$D/bin/op" <<EOF
#!/bin/sh
# stand-in for 1Password's CLI: op read --no-newline REF
[ "\$1" = read ] || { echo "[ERROR] stand-in op only reads" >&2; exit 1; }
sleep $OP_DELAY
echo "\$\$ \$*" >>"$COUNTER"
printf '%s' '$OP_VALUE'
EOF
chmod 755 "$D/bin/op"
# On PATH before secd ever starts: secd inherits sec's environment when sec autostarts it.
export PATH="$D/bin:$PATH"

PROJ="$D/project"
mkdir -p "$PROJ"
mkdir -p "$XDG_CONFIG_HOME/sec"
cat >"$XDG_CONFIG_HOME/sec/config.toml" <<EOF
[[scope]]
dir = "$PROJ"
[scope.env]
A = { value = "1" }
B = "keyring:bench/b"
C = "op://Bench/item/field"
EOF

cd "$PROJ"

secd_pid() { "$SEC" status --json | jq -r .pid; }
remember_secd() {
    local pid
    pid=$(secd_pid)
    SECD_PIDS+=("$pid")
    printf '%s\n' "$pid"
}

log "storing keyring:bench/b through sec (autostarts secd)"
printf '%s' "$SECRET_B" | "$SEC" set keyring:bench/b
remember_secd >/dev/null
[ "$(secret-tool lookup service bench username b)" = "$SECRET_B" ] ||
    die "secret-tool cannot find what sec stored (service=bench username=b)"

log "sanity: values reach the command"
got=$("$SEC" exec -- sh -c 'printf "%s|%s|%s" "$A" "$B" "$C"')
[ "$got" = "1|$SECRET_B|$OP_VALUE" ] || die "sec exec gave A|B|C = '$got'"

# Helpers for hyperfine JSON (times in seconds) ------------------------------------------
hf() { jq -r ".results[$2].$3" "$1"; }                      # file index field
ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }   # seconds -> ms
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
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
# start` prints ("secd VERSION runs (pid N)"), not from `sec status`: since the local-vault
# commits a status request makes secd probe the Secret Service for the default store, which
# loads the zbus client (+~2.5 MiB RSS, +4 threads) into a daemon that test 3 and 4 mean to
# see serving `op` only. The effect of one `sec status` is measured separately below.
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
# 4. Resident memory of the daemon.
# ---------------------------------------------------------------------------------------
log "4. secd memory"
mem() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r, h }' "/proc/$1/status"; }
read -r RSS_AFTER HWM_AFTER < <(mem "$SECD_PID")
sleep 2
read -r RSS_IDLE HWM_IDLE < <(mem "$SECD_PID")
thr() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }
THR_IDLE=$(thr "$SECD_PID")
"$SEC" status >/dev/null
sleep 0.5
read -r RSS_STATUS HWM_STATUS < <(mem "$SECD_PID")
THR_STATUS=$(thr "$SECD_PID")
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

# ---------------------------------------------------------------------------------------
# 5. The shell hook (bash): per prompt, and on cd, against direnv.
# ---------------------------------------------------------------------------------------
# Layout: IN is a directory with both a .sec.toml (approved with `sec allow`, its secret
# cached) and an .envrc (`export A=1`, approved with `direnv allow`); OUT has neither and
# is in no scope. PROJ (the config scope, all of A, B, C cached) is a second sec case.
# direnv keeps its approvals under XDG_DATA_HOME and reads XDG_CONFIG_HOME: both are the
# world's private directories.
IN="$D/repo"
OUTSIDE="$D/outside"
mkdir -p "$IN" "$OUTSIDE"
printf 'export A=1\n' >"$IN/.envrc"
printf '[env]\nA = { value = "1" }\nB = "keyring:bench/b"\n' >"$IN/.sec.toml"
(cd "$IN" && "$SEC" allow >/dev/null && "$DIRENV" allow && "$SEC" exec -- true)
"$SEC" exec -- true                  # PROJ's A, B, C cached in this (fresh) secd
start5=$(($(wc -l <"$LOG") + 1))     # from here on, no vault lookup may happen
[ "$(cd "$IN" && "$SEC" exec -- sh -c 'printf %s "$B"')" = "$SECRET_B" ] ||
    die "the approved .sec.toml in $IN does not give B"
q() { printf '%q' "$1"; }            # a word for a generated bash script

# A bash script run by `bash --norc -i` with stdin from it: the hook's `eval`, one line,
# then N `:` lines (an interactive bash reading a non-terminal still prints its prompt and
# runs PROMPT_COMMAND before every line).
prompt_script() { # FILE HOOK-LINE SECOND-LINE N
    { printf '%s\n' "$2" "$3"; for _ in $(seq "$4"); do echo ':'; done; } >"$1"
}
SEC_HOOK_LINE="eval \"\$($(q "$SEC") hook bash)\""
DIRENV_HOOK_LINE="eval \"\$($(q "$DIRENV") hook bash)\""

log "5a. hook at a prompt without cd: processes under strace ($STRACE_PROMPTS prompts)"
# Markers are `umask` builtins (bash makes the umask syscall, strace shows it): between
# them only `:` lines and printf builtins. Before: the eval (runs `sec hook bash`) and the
# first prompt (runs `sec hook-event`, the directory is new to the hook). After: a cd out
# of the scope, whose prompt must run `sec hook-event` again (the control).
strace_hook() { # NAME HOOK-LINE DIR -> SP_EXEC SP_CLONE (between markers), SP_BEFORE SP_AFTER
    local script="$D/5a-$1.in" trace="$OUT/5a-strace-$1.log"
    {
        printf '%s\n' "$2" 'umask 0077' 'printf "in scope: %s\n" "${SEC_SCOPE-unset} ${A-unset}"'
        for _ in $(seq "$STRACE_PROMPTS"); do echo ':'; done
        printf '%s\n' 'umask 0022' "cd $(q "$OUTSIDE")" ':' 'printf "left: %s\n" "${SEC_SCOPE-unset} ${A-unset}"'
    } >"$script"
    (cd "$3" && strace -f -qq -e trace=execve,clone,clone3,fork,vfork,umask -o "$trace" \
        bash --norc -i <"$script" >"$D/5a-$1.out" 2>"$D/5a-$1.err") ||
        die "bash under strace failed ($1): $(tail -n 3 "$D/5a-$1.err")"
    # execve and clone/fork lines between the markers; hook runs (sec hook-event, direnv
    # export) before and after them
    # (a clone with CLONE_THREAD starts a thread in an existing process, e.g. direnv's Go
    # runtime; any other clone, fork or vfork starts a process)
    read -r SP_EXEC SP_CLONE SP_THREAD SP_BEFORE SP_AFTER < <(awk '
        /umask\(0?077\)/ && !m { m = 1; next }
        /umask\(0?022\)/ && m == 1 { m = 2; next }
        /execve\(/ && m == 1 { ex++ }
        /(clone3?|v?fork)\(/ && m == 1 { if (/CLONE_THREAD/) th++; else cl++ }
        /execve\(.*"(hook-event|export)"/ { if (m == 0) before++; if (m == 2) after++ }
        END { if (m != 2) ex = -1; printf "%d %d %d %d %d\n", ex, cl, th, before, after }' "$trace")
    [ "$SP_EXEC" -ge 0 ] || die "no umask markers in $trace"
}
strace_hook sec "$SEC_HOOK_LINE" "$PROJ"
SP_SEC_EXEC=$SP_EXEC SP_SEC_CLONE=$SP_CLONE SP_SEC_THREAD=$SP_THREAD
grep -qx "in scope: $PROJ unset" "$D/5a-sec.out" && grep -qx 'left: unset unset' "$D/5a-sec.out" ||
    die "the sec hook did not set/unset SEC_SCOPE: $(cat "$D/5a-sec.out")"
[ "$SP_BEFORE" -eq 1 ] && [ "$SP_AFTER" -eq 1 ] ||
    die "expected one sec hook-event before and one after the markers, got $SP_BEFORE/$SP_AFTER"
strace_hook direnv "$DIRENV_HOOK_LINE" "$IN"
SP_DIR_EXEC=$SP_EXEC SP_DIR_CLONE=$SP_CLONE SP_DIR_THREAD=$SP_THREAD
grep -qx 'in scope: unset 1' "$D/5a-direnv.out" && grep -qx 'left: unset unset' "$D/5a-direnv.out" ||
    die "direnv's hook did not load/unload A: $(cat "$D/5a-direnv.out")"

log "5a. time per prompt: $PROMPTS prompts with the hook vs without"
# with:    eval the hook; `:` (its prompt runs hook-event once); PROMPTS × `:`
# without: eval the hook; `unset PROMPT_COMMAND` (its prompt runs hook-event once, then
#          the hook is gone); PROMPTS × `:`
# Same one-time work in both, so the difference is PROMPTS runs of the hook at a prompt.
prompt_script "$D/5a-with.in" "$SEC_HOOK_LINE" ':' "$PROMPTS"
prompt_script "$D/5a-without.in" "$SEC_HOOK_LINE" 'unset PROMPT_COMMAND' "$PROMPTS"
prompt_script "$D/5a-plain.in" ':' ':' "$PROMPTS"
prompt_script "$D/5a-direnv-with.in" "$DIRENV_HOOK_LINE" ':' "$DIRENV_PROMPTS"
prompt_script "$D/5a-direnv-without.in" "$DIRENV_HOOK_LINE" 'unset PROMPT_COMMAND' "$DIRENV_PROMPTS"
# Sanity: one prompt per line (PS1 on stderr) and the hook live in the timed script.
npr=$(PS1='@sec-bench-prompt@ ' bash --norc -i <"$D/5a-with.in" 2>&1 >/dev/null | grep -oF '@sec-bench-prompt@' | wc -l || true)
[ "$npr" -ge $((PROMPTS + 2)) ] || die "expected >= $((PROMPTS + 2)) prompts from the timed script, saw $npr"
bash_i() { printf "sh -c 'exec bash --norc -i <\"\$0\"' %s" "$(q "$1")"; }   # stdin from FILE
J5P="$OUT/5a-prompts.json"
J5D="$OUT/5a-prompts-direnv.json"
"${HF[@]}" --export-json "$J5P" \
    -n "bash -i, sec hook, $PROMPTS prompts" "$(bash_i "$D/5a-with.in")" \
    -n "bash -i, sec hook removed after its first prompt, $PROMPTS prompts" "$(bash_i "$D/5a-without.in")" \
    -n "bash -i, no hook, $PROMPTS prompts" "$(bash_i "$D/5a-plain.in")" </dev/null
(cd "$IN" && hyperfine -N --style basic --warmup 2 --runs "$DIRENV_PROMPT_RUNS" --export-json "$J5D" \
    -n "bash -i in IN, direnv hook, $DIRENV_PROMPTS prompts" "$(bash_i "$D/5a-direnv-with.in")" \
    -n "bash -i in IN, direnv hook removed after its first prompt, $DIRENV_PROMPTS prompts" "$(bash_i "$D/5a-direnv-without.in")" </dev/null)
# Per prompt, in µs: difference of medians / N, with 2 standard errors of the difference
# of means (σ from hyperfine, n runs each); and the same for user+system CPU (means).
per_prompt() { # JSON N RUNS -> diff_us se2_us cpu_us
    awk -v w="$(hf "$1" 0 median)" -v o="$(hf "$1" 1 median)" -v sw="$(hf "$1" 0 stddev)" \
        -v so="$(hf "$1" 1 stddev)" -v n="$2" -v r="$3" \
        -v cw="$(jq -r '.results[0] | .user + .system' "$1")" -v co="$(jq -r '.results[1] | .user + .system' "$1")" \
        'BEGIN { printf "%.2f %.2f %.2f\n", (w - o) / n * 1e6, 2 * sqrt((sw * sw + so * so) / r) / n * 1e6, (cw - co) / n * 1e6 }'
}
read -r PP_SEC PP_SEC_SE2 PP_SEC_CPU < <(per_prompt "$J5P" "$PROMPTS" "$RUNS")
read -r PP_DIR PP_DIR_SE2 PP_DIR_CPU < <(per_prompt "$J5D" "$DIRENV_PROMPTS" "$DIRENV_PROMPT_RUNS")
PP_BASH=$(awk -v p="$(hf "$J5P" 2 median)" -v n="$PROMPTS" 'BEGIN { printf "%.2f", p / n * 1e6 }')

log "5b. cd into a scope and out of it: sec hook-event vs direnv export"
# Each transition as the hook runs it: command substitution, then eval of the output.
sec_event() { # FROM TO
    printf 'if __sec_code=$(%s hook-event bash --from %s --to %s --declined "${__sec_declined-}"); then eval "$__sec_code"; fi\n' \
        "$(q "$SEC")" "$(q "$1")" "$(q "$2")"
}
direnv_event() { printf 'eval "$(%s export bash)"\n' "$(q "$DIRENV")"; }
show() { printf 'printf "%s: %%s\\n" "${SEC_SCOPE-unset} ${A-unset}" >&2\n' "$1"; }
# cycle-TOOL.sh: cd IN + transition, cd OUT + transition; CHECK=1 adds state printouts.
cycle_script() { # FILE KIND DIR CHECK
    local file=$1 kind=$2 in=$3 check=${4:-}
    {
        echo "cd $(q "$in")"
        case $kind in sec) sec_event "$OUTSIDE" "$in" ;; direnv) direnv_event ;; bash) ;; esac
        if [ -n "$check" ]; then show in; fi
        echo "cd $(q "$OUTSIDE")"
        case $kind in sec) sec_event "$in" "$OUTSIDE" ;; direnv) direnv_event ;; bash) ;; esac
        if [ -n "$check" ]; then show out; fi
    } >"$file"
}
# in-only and out-only; direnv's out needs the state it left in the shell when it loaded IN.
half_script() { # FILE KIND IN DIRECTION
    local file=$1 kind=$2 in=$3 dir=$4
    {
        if [ "$dir" = in ]; then
            echo "cd $(q "$in")"
            case $kind in sec) sec_event "$OUTSIDE" "$in" ;; direnv) direnv_event ;; esac
        else
            if [ "$kind" = direnv ]; then echo ". $(q "$D/direnv-in-state.sh")"; fi
            echo "cd $(q "$OUTSIDE")"
            case $kind in sec) sec_event "$in" "$OUTSIDE" ;; direnv) direnv_event ;; esac
        fi
    } >"$file"
}
cycle_script "$D/cycle-sec.sh" sec "$IN"
cycle_script "$D/cycle-sec-config.sh" sec "$PROJ"
cycle_script "$D/cycle-direnv.sh" direnv "$IN"
cycle_script "$D/cycle-bash.sh" bash "$IN"
for k in sec direnv; do
    half_script "$D/in-$k.sh" "$k" "$IN" in
    half_script "$D/out-$k.sh" "$k" "$IN" out
done
(cd "$IN" && eval "$("$DIRENV" export bash 2>/dev/null)" &&
    declare -px A DIRENV_DIR DIRENV_FILE DIRENV_DIFF DIRENV_WATCHES) >"$D/direnv-in-state.sh"
# Sanity: each tool sets its state in IN and clears it in OUT, without a terminal.
for c in "sec|$IN|$IN unset" "sec|$PROJ|$PROJ unset" "direnv|$IN|unset 1"; do
    IFS='|' read -r kind target want <<<"$c"
    cycle_script "$D/check.sh" "$kind" "$target" check
    got=$(bash "$D/check.sh" 2>&1 </dev/null | grep -E '^(in|out): ' | tr '\n' '|')
    [ "$got" = "in: $want|out: unset unset|" ] || die "$kind cycle via $target: got '$got'"
done
got=$(bash -c ". $(q "$D/out-direnv.sh"); printf %s \"\${A-unset}\"" 2>/dev/null </dev/null)
[ "$got" = unset ] || die "direnv out-only script did not unload A (got '$got')"
J5C="$OUT/5b-cycle.json"
J5H="$OUT/5b-in-out.json"
"${HF[@]}" --export-json "$J5C" \
    -n "sec: cd IN (.sec.toml) + hook-event, cd OUT + hook-event" "bash $D/cycle-sec.sh" \
    -n "sec: cd PROJ (config scope) + hook-event, cd OUT + hook-event" "bash $D/cycle-sec-config.sh" \
    -n "direnv: cd IN (.envrc) + direnv export, cd OUT + direnv export" "bash $D/cycle-direnv.sh" \
    -n "bash alone: cd IN, cd OUT" "bash $D/cycle-bash.sh" </dev/null
"${HF[@]}" --export-json "$J5H" \
    -n "sec: cd IN + hook-event" "bash $D/in-sec.sh" \
    -n "sec: cd OUT + hook-event (from IN)" "bash $D/out-sec.sh" \
    -n "direnv: cd IN + direnv export (loads .envrc)" "bash $D/in-direnv.sh" \
    -n "direnv: cd OUT + direnv export (unloads; state of IN sourced first)" "bash $D/out-direnv.sh" </dev/null
# Where sec's time per transition goes: the bare processes, without bash around them.
J5S="$OUT/5b-sec-parts.json"
"${HF[@]}" --export-json "$J5S" \
    -n "true (a process start)" "true" \
    -n "sec --version (sec's process start, no daemon)" "$SEC --version" \
    -n "sec hook-event bash --from OUT --to IN" "$SEC hook-event bash --from $OUTSIDE --to $IN" \
    -n "sec hook-event bash --from IN --to OUT" "$SEC hook-event bash --from $IN --to $OUTSIDE" </dev/null
CY_SEC=$(hf "$J5C" 0 median)
CY_SECC=$(hf "$J5C" 1 median)
CY_DIR=$(hf "$J5C" 2 median)
CY_BASH=$(hf "$J5C" 3 median)
RATIO5=$(div "$CY_SEC" "$CY_DIR")
RATIO5C=$(div "$CY_SECC" "$CY_DIR")
net() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
RATIO5N=$(div "$(net "$CY_SEC" "$CY_BASH")" "$(net "$CY_DIR" "$CY_BASH")")
# no process may touch the cache during 5: the hook never looks secrets up
[ "$(tail -n "+$start5" "$LOG" | grep -c 'looked up in the vault' || true)" -eq 0 ] ||
    die "a vault lookup happened during the hook benchmarks"

# ---------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
us2ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
us() { awk -v u="$1" 'BEGIN { printf "%.2f", u }'; }
V1=$(verdict le "$RATIO1" 2)
V2=$(verdict le 20 "$RATIO2")
V3=$(verdict test "$OK3" -eq "$CONCURRENCY" -a "$CALLS3" -eq 1)
V4=$(verdict le "$RSS_IDLE" 10240)
V5A=$(verdict test "$SP_SEC_EXEC" -eq 0 -a "$SP_SEC_CLONE" -eq 0 -a "$SP_SEC_THREAD" -eq 0)
V5B=$(verdict le "$RATIO5" 0.2)
V5BC=$(verdict le "$RATIO5C" 0.2)
V5BN=$(verdict le "$RATIO5N" 0.2)

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
row() { # JSON INDEX -> a table row: command, median, mean ± σ, min, max
    printf '| %s | %s ms | %s ± %s ms | %s ms | %s ms |\n' \
        "$(hf "$1" "$2" command)" "$(ms "$(hf "$1" "$2" median)")" "$(ms "$(hf "$1" "$2" mean)")" \
        "$(ms "$(hf "$1" "$2" stddev)")" "$(ms "$(hf "$1" "$2" min)")" "$(ms "$(hf "$1" "$2" max)")"
}
HEADER='| command | median | mean ± σ | min | max |
|---------|--------|----------|-----|-----|'

{
cat <<EOF
# sec benchmark results

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- checkout: $COMMIT$DIRTY; binaries: \`$BIN_DIR\`${SEC_BENCH_NOTE:+ — $SEC_BENCH_NOTE}
- machine: $(nproc) CPU(s), ${CPU:-unknown CPU}, $(uname -sr); load average (1/5/15 min) at the start: $LOAD_START, at the end: $LOAD_END
- $(hyperfine --version), $(gnome-keyring-daemon --version 2>/dev/null | head -n 1), $(bash --version | head -n 1 | sed 's/ (.*//'), direnv $("$DIRENV" version), $(strace -V | head -n 1)
- hyperfine: \`-N --warmup $WARMUP --runs $RUNS\` unless stated; times are medians unless stated
- secd runs with \`SECD_LOG=$SECD_LOG\` (debug for secd's own modules: the cache-hit lines)
- 1Password: \`op\` is a stand-in shell script (1Password's CLI cannot be installed here);
  it sleeps ${OP_DELAY}s and prints a fixed value

## Summary

| # | what | result | target | verdict |
|---|------|--------|--------|---------|
| 1 | warm \`sec exec -- true\` / \`env A=1 B=2 C=3 true\` (whole commands) | $(ms "$EXEC_WARM") ms / $(ms "$ENV_BASE") ms = **${RATIO1}×** | ≤ 2× | $V1 |
| 2 | Secret Service lookup / cache hit, timed by secd (\`elapsed=\`, medians of $N_LK / $N_HIT) | $(us2ms "$LK_MED") ms / $(us "$HIT_MED") µs = **${RATIO2}×** (p90: ${RATIO2_P90}×) | ≥ 20× | $V2 |
| 2 | context, whole command: cold / warm \`sec exec --only B -- true\` | $(ms "$B_COLD") ms / $(ms "$B_WARM") ms = ${RATIO2_CMD}× | – | – |
| 3 | $CONCURRENCY concurrent cold \`sec exec --only C -- true\` | $OK3/$CONCURRENCY ok, $CALLS3 \`op\` call(s), wall $WALL3 ms | $CONCURRENCY ok, 1 call | $V3 |
| 4 | secd VmRSS after 2 s idle | $(mib "$RSS_IDLE") MiB (VmHWM $(mib "$HWM_IDLE") MiB) | ≤ 10 MiB | $V4 |
| 5a | bash hook, $STRACE_PROMPTS prompts without \`cd\`: processes started (strace) | $SP_SEC_EXEC execve, $SP_SEC_CLONE processes, $SP_SEC_THREAD threads (direnv's hook: $SP_DIR_EXEC execve, $SP_DIR_CLONE processes) | 0 | $V5A |
| 5a | bash hook, time added per prompt without \`cd\` | $(us "$PP_SEC") ± $(us "$PP_SEC_SE2") µs (direnv's hook: $(us2ms "$PP_DIR") ms) | – | – |
| 5b | \`cd\` into a scope and out, one cycle: sec (.sec.toml) / direnv (.envrc) | $(ms "$CY_SEC") ms / $(ms "$CY_DIR") ms = **${RATIO5}** | ≤ 0.2 | $V5B |
| 5b | same, sec in a config scope / direnv | $(ms "$CY_SECC") ms / $(ms "$CY_DIR") ms = ${RATIO5C} | ≤ 0.2 | $V5BC |
| 5b | same, net of bash's own start and two \`cd\` ($(ms "$CY_BASH") ms): sec (.sec.toml) / direnv | $(ms "$(net "$CY_SEC" "$CY_BASH")") ms / $(ms "$(net "$CY_DIR" "$CY_BASH")") ms = ${RATIO5N} | ≤ 0.2 | $V5BN |

## 1. Warm exec overhead

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
Service round trip through keyring-core and the zbus client over a D-Bus connection secd
keeps open (made by \`sec set\` earlier), i.e. the steady-state lookup, not the first one.

(b) **Whole commands** (hyperfine; what a user waits for, dominated by sec's fixed
per-command cost — process start, connect, hello and lease RPCs, spawning the child):

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

## 4. secd memory (/proc/PID/status)

| when | VmRSS | VmHWM |
|------|-------|-------|
| freshly started, before test 3 | $(mib "$FRESH_RSS") MiB | $(mib "$FRESH_HWM") MiB |
| right after test 3 | $(mib "$RSS_AFTER") MiB | $(mib "$HWM_AFTER") MiB |
| after 2 s idle ($THR_IDLE threads) — judged | $(mib "$RSS_IDLE") MiB | $(mib "$HWM_IDLE") MiB |
| then one \`sec status\`, 0.5 s later ($THR_STATUS threads) | $(mib "$RSS_STATUS") MiB | $(mib "$HWM_STATUS") MiB |

The pid of this secd comes from \`sec daemon start\`'s output, not from \`sec status\`: the
last row shows what a status request alone adds.

## 5. Shell hook (bash)

Layout: \`IN\` holds a \`.sec.toml\` (\`A\` literal, \`B = "keyring:bench/b"\`, approved with
\`sec allow\`) and an \`.envrc\` (\`export A=1\`, approved with \`direnv allow\`; direnv's data
and config dirs are the world's private XDG dirs); \`OUT\` is in no scope and has no
\`.envrc\`; \`PROJ\` is the config-file scope of tests 1–3. The daemon runs and the secrets of
IN and PROJ are cached before any of this: secd logged no vault lookup during test 5.

### 5a. At a prompt without \`cd\`

**Processes.** \`strace -f -e trace=execve,clone,clone3,fork,vfork,umask\` on \`bash --norc
-i\` reading its commands from a file (an interactive bash prints its prompt and runs
PROMPT_COMMAND before every line even when stdin is not a terminal), started in PROJ:
\`eval "\$(sec hook bash)"\`, a start marker (\`umask 0077\`: a builtin whose syscall strace
shows), $STRACE_PROMPTS \`:\` lines, an end marker (\`umask 0022\`), then \`cd OUT\` and \`:\`.
Counted between the markers ($((STRACE_PROMPTS + 1)) prompts):

| hook | execve | new processes (fork, vfork, clone/clone3 without CLONE_THREAD) | new threads (clone/clone3 with CLONE_THREAD) |
|------|--------|-----------------|-------------|
| \`sec hook bash\` | **$SP_SEC_EXEC** | **$SP_SEC_CLONE** | **$SP_SEC_THREAD** |
| \`direnv hook bash\` (same script, started in IN), for reference | $SP_DIR_EXEC | $SP_DIR_CLONE | $SP_DIR_THREAD |

Controls: exactly one \`sec hook-event\` ran before the start marker (the first prompt in a
new directory) and one after the end marker (the prompt after \`cd OUT\`), and the shell
had \`SEC_SCOPE=PROJ\` between the markers and none after leaving. Traces:
\`bench/out/5a-strace-*.log\`.

**Time.** hyperfine runs \`sh -c 'exec bash --norc -i <FILE'\` (\`sh\` only to redirect stdin;
the same in every command) with three files, started in PROJ:

- with the hook: \`eval "\$(sec hook bash)"\`, \`:\` (its prompt runs hook-event once), then $PROMPTS × \`:\`
- hook removed: \`eval "\$(sec hook bash)"\`, \`unset PROMPT_COMMAND\` (its prompt runs
  hook-event once, then there is no hook), then $PROMPTS × \`:\`
- no hook at all: \`:\`, \`:\`, then $PROMPTS × \`:\`

The first two do the same one-time work (sec hook, one hook-event), so their difference is
$PROMPTS runs of the hook at a prompt where the directory did not change.

$HEADER
$(row "$J5P" 0)
$(row "$J5P" 1)
$(row "$J5P" 2)

- added per prompt: (with − removed) / $PROMPTS = **$(us "$PP_SEC") µs** (± $(us "$PP_SEC_SE2") µs:
  two standard errors of the difference, from hyperfine's σ); in CPU time (user + system,
  means) $(us "$PP_SEC_CPU") µs. For scale, bash itself spends $(us "$PP_BASH") µs per
  prompt + line here (the no-hook run / $PROMPTS, including bash's start).
- for reference, direnv's hook the same way (started in IN, $DIRENV_PROMPTS prompts,
  \`--warmup 2 --runs $DIRENV_PROMPT_RUNS\`): **$(us2ms "$PP_DIR") ms** per prompt (± $(us2ms "$PP_DIR_SE2") ms;
  CPU $(us2ms "$PP_DIR_CPU") ms): it runs \`direnv export bash\` at every prompt.

$HEADER
$(row "$J5D" 0)
$(row "$J5D" 1)

### 5b. \`cd\` into a scope and out of it

One full cycle per tool as a small bash script run by hyperfine (\`bash FILE\`, stdin
/dev/null, so sec never prompts), each transition done as the tool's hook does it —
command substitution, then \`eval\` of the output:

- sec: \`cd IN\`; \`sec hook-event bash --from OUT --to IN --declined "\$__sec_declined"\`,
  eval; \`cd OUT\`; \`sec hook-event bash --from IN --to OUT --declined …\`, eval. (The
  command line the bash hook runs when \`\$PWD\` changed.)
- direnv: \`cd IN\`; \`eval "\$(direnv export bash)"\` (loads \`.envrc\`, which makes direnv
  run bash on it); \`cd OUT\`; \`eval "\$(direnv export bash)"\` (unloads). Every run starts
  with no \`DIRENV_*\` state, so every run does both transitions.
- bash alone: \`cd IN\`; \`cd OUT\` — the script's own cost, shared by all.

Before timing, a checking variant of each script printed the state after each transition:
\`SEC_SCOPE\` set in IN / PROJ and unset in OUT; \`A=1\` in IN and unset in OUT for direnv.

$HEADER
$(row "$J5C" 0)
$(row "$J5C" 1)
$(row "$J5C" 2)
$(row "$J5C" 3)

- sec / direnv, whole cycle: $(ms "$CY_SEC") / $(ms "$CY_DIR") = **${RATIO5}** (1/$(div "$CY_DIR" "$CY_SEC")); config scope: ${RATIO5C} (1/$(div "$CY_DIR" "$CY_SECC"))
- net of the script's own cost (− bash alone): $(ms "$(net "$CY_SEC" "$CY_BASH")") / $(ms "$(net "$CY_DIR" "$CY_BASH")") = **${RATIO5N}** (1/$(div "$(net "$CY_DIR" "$CY_BASH")" "$(net "$CY_SEC" "$CY_BASH")"))

Each direction alone (direnv's out-only script first sources the \`DIRENV_*\` state and \`A\`
that \`direnv export\` left in a shell in IN, then does \`cd OUT\` and its export):

$HEADER
$(row "$J5H" 0)
$(row "$J5H" 1)
$(row "$J5H" 2)
$(row "$J5H" 3)

Where sec's share goes, per transition (each process run directly by hyperfine, no bash):

$HEADER
$(row "$J5S" 0)
$(row "$J5S" 1)
$(row "$J5S" 2)
$(row "$J5S" 3)

Raw data: \`bench/out/\` (hyperfine JSON, the per-lookup and per-hit times of 2a, strace
logs of 5a, the daemon's log).
EOF
} >"$RESULTS"

# ---------------------------------------------------------------------------------------
# Console summary.
# ---------------------------------------------------------------------------------------
line() { printf '%-56s %-44s %-9s %s\n' "$@"; }
printf '\n'
line "test" "result" "target" "verdict"
line "1 warm sec exec / env (medians)" "$(ms "$EXEC_WARM")/$(ms "$ENV_BASE") ms = ${RATIO1}x" "<= 2x" "$V1"
line "2 SS lookup / cache hit (secd elapsed=, medians)" "$(us2ms "$LK_MED") ms/$(us "$HIT_MED") us = ${RATIO2}x" ">= 20x" "$V2"
line "  p90s" "$(us2ms "$LK_P90") ms/$(us "$HIT_P90") us = ${RATIO2_P90}x" "" ""
line "  whole command cold/warm exec --only B (context)" "$(ms "$B_COLD")/$(ms "$B_WARM") ms = ${RATIO2_CMD}x" "" ""
line "3 $CONCURRENCY concurrent cold exec --only C" "$OK3 ok, $CALLS3 op call(s), ${WALL3} ms" "all, 1" "$V3"
line "4 secd VmRSS/VmHWM after 2 s idle" "$(mib "$RSS_IDLE")/$(mib "$HWM_IDLE") MiB" "<= 10MiB" "$V4"
line "5a hook: $STRACE_PROMPTS prompts: execve/processes/threads" "$SP_SEC_EXEC/$SP_SEC_CLONE/$SP_SEC_THREAD (direnv $SP_DIR_EXEC/$SP_DIR_CLONE/$SP_DIR_THREAD)" "0" "$V5A"
line "5a hook: added time per prompt" "$(us "$PP_SEC") +- $(us "$PP_SEC_SE2") us (direnv $(us2ms "$PP_DIR") ms)" "" ""
line "5b cd in+out: sec .sec.toml / direnv .envrc" "$(ms "$CY_SEC")/$(ms "$CY_DIR") ms = ${RATIO5}" "<= 0.2" "$V5B"
line "5b cd in+out: sec config scope / direnv" "$(ms "$CY_SECC")/$(ms "$CY_DIR") ms = ${RATIO5C}" "<= 0.2" "$V5BC"
line "5b cd in+out net of bash ($(ms "$CY_BASH") ms)" "$(ms "$(net "$CY_SEC" "$CY_BASH")")/$(ms "$(net "$CY_DIR" "$CY_BASH")") ms = ${RATIO5N}" "<= 0.2" "$V5BN"
printf '\nwritten: %s\n' "$RESULTS"
