#!/usr/bin/env bash
# The cost of `sec shield -- true` beside bubblewrap with a comparable layout, side by side in
# one hyperfine run. See bench/README.md ("sec shield beside bwrap").
#
# Usage: bench/shield.sh                  (builds release binaries first)
#        SEC_BENCH_NO_BUILD=1 bench/shield.sh
#        SEC_BENCH_BIN_DIR=/some/dir bench/shield.sh
#        SEC_BENCH_RUNS=100 (default)
#
# Writes bench/shield-results.md and bench/out-shield/*.json. Everything runs in a throw-away
# world (its own HOME and XDG directories, its own secd); nothing of the user's is touched.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
RESULTS="$BENCH_DIR/shield-results.md"
OUT="$BENCH_DIR/out-shield"
RUNS=${SEC_BENCH_RUNS:-100}

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
for tool in hyperfine jq bwrap; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install hyperfine jq bubblewrap)"
done

BIN_DIR="$REPO/target/release"
if [ -n "${SEC_BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$(cd "$SEC_BENCH_BIN_DIR" && pwd -P)
elif [ -z "${SEC_BENCH_NO_BUILD:-}" ]; then
    (cd "$REPO" && cargo build --release --locked -p sec-client -p sec-daemon)
fi
SEC="$BIN_DIR/sec"
[ -x "$SEC" ] || die "no sec in $BIN_DIR (build it)"
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
# "dirty" when files outside bench/ differ from HEAD (as bench/run.sh says it)
if [ -n "$(git -C "$REPO" status --porcelain -- . ':!bench' 2>/dev/null || true)" ]; then
    COMMIT="$COMMIT dirty"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sec-bench-shield.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state" \
    XDG_DATA_HOME="$WORK/data" XDG_CACHE_HOME="$WORK/cache" XDG_RUNTIME_DIR="$WORK/run"
for dir in "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR" "$WORK/project"; do
    mkdir -p "$dir"
    chmod 700 "$dir"
done
# Toolchain directories as a developer's home has them: sec shows these read-only.
mkdir -p "$HOME/.cargo/bin" "$HOME/.cargo/registry" "$HOME/.rustup" "$HOME/.local/bin"
cleanup() {
    "$SEC" daemon stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK/project"
"$SEC" daemon start >/dev/null
"$SEC" shield -- true || die "sec shield -- true fails here"

# bubblewrap with what sec shield builds by default: the system read-only, fresh /tmp,
# /var/tmp, /run, /dev and /proc, an empty home in memory with the toolchain directories
# bound read-only, the project writable, new user, mount, PID, IPC (and, below, network)
# namespaces, and death with its parent.
BWRAP_LAYOUT=(
    --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /var/tmp --tmpfs /run
    --tmpfs "$HOME"
    --ro-bind "$HOME/.cargo/bin" "$HOME/.cargo/bin"
    --ro-bind "$HOME/.cargo/registry" "$HOME/.cargo/registry"
    --ro-bind "$HOME/.rustup" "$HOME/.rustup"
    --ro-bind "$HOME/.local/bin" "$HOME/.local/bin"
    --bind "$WORK/project" "$WORK/project"
    --chdir "$WORK/project" --die-with-parent
)
BWRAP_SHARED_NET="bwrap ${BWRAP_LAYOUT[*]} --unshare-all --share-net true"
BWRAP_NO_NET="bwrap ${BWRAP_LAYOUT[*]} --unshare-all true"
$BWRAP_SHARED_NET || die "bwrap fails here: $BWRAP_SHARED_NET"

rm -rf "$OUT"
mkdir -p "$OUT"
HF=(hyperfine -N --style basic --warmup 5 --runs "$RUNS")
"${HF[@]}" --export-json "$OUT/shared-net.json" \
    -n "true" "true" \
    -n "sec shield -- true" "$SEC shield -- true" \
    -n "bwrap --unshare-all --share-net true" "$BWRAP_SHARED_NET"
"${HF[@]}" --export-json "$OUT/no-net.json" \
    -n "true" "true" \
    -n "sec shield --no-network -- true" "$SEC shield --no-network -- true" \
    -n "bwrap --unshare-all true" "$BWRAP_NO_NET"

hf() { jq -r ".results[$2].$3" "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.2f", a / b }'; }
over() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a - b }'; }
row() {
    printf '| %s | %s ms | %s ± %s ms | %s ms |\n' "$(hf "$1" "$2" command)" \
        "$(ms "$(hf "$1" "$2" median)")" "$(ms "$(hf "$1" "$2" mean)")" \
        "$(ms "$(hf "$1" "$2" stddev)")" "$(ms "$(hf "$1" "$2" min)")"
}
ratio() { # JSON -> sec's overhead over true / bwrap's overhead over true
    local base sec bw
    base=$(hf "$1" 0 median)
    sec=$(over "$(hf "$1" 1 median)" "$base")
    bw=$(over "$(hf "$1" 2 median)" "$base")
    printf '%s ms / %s ms = **%s**' "$(ms "$sec")" "$(ms "$bw")" "$(div "$sec" "$bw")"
}

{
cat <<EOF
# sec shield beside bubblewrap

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); checkout: $COMMIT; binaries: \`$BIN_DIR\`
- machine: $(nproc) CPU(s), $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
- $(hyperfine --version), $(bwrap --version); \`-N --warmup 5 --runs $RUNS\`, medians
- \`sec shield\` reads config.toml's \`[shield]\` and the host's mount table and listening
  sockets on every run (included in its time); bwrap has no such step.

## Overhead over \`true\` (median − median of \`true\`), sec / bwrap

| network | sec shield | target |
|---------|------------|--------|
| shared (the default of both here) | $(ratio "$OUT/shared-net.json") | ≤ 1 |
| own namespace, loopback only | $(ratio "$OUT/no-net.json") | ≤ 1 |

| command | median | mean ± σ | min |
|---------|--------|----------|-----|
$(row "$OUT/shared-net.json" 0)
$(row "$OUT/shared-net.json" 1)
$(row "$OUT/shared-net.json" 2)
$(row "$OUT/no-net.json" 1)
$(row "$OUT/no-net.json" 2)

The bwrap command line (layout as sec's default):

\`\`\`
$BWRAP_SHARED_NET
\`\`\`
EOF
} >"$RESULTS"
cat "$RESULTS"
