#!/usr/bin/env bash
# The long fuzz run: every parser's fuzz target (the `fuzz_*` tests of sec-proto, secd and
# sec) with many cases and a random seed, built optimised with overflow checks and debug
# assertions kept (the `fuzz` profile). Its first build takes a few minutes, the run about
# five on two cores. `cargo test` runs the same targets briefly with a fixed seed.
#
#   tests/fuzz/run.sh [CASES [SEED]]          CASES per target (default 1000000), SEED random
#   SEC_FUZZ_PROFILE=dev tests/fuzz/run.sh    the debug build instead
#
# A failure prints its minimized input and the line that replays it, e.g.
#   SEC_FUZZ_SEED=0x1f2e SEC_FUZZ_CASE=123 cargo test -p sec-proto fuzz_config_parse
set -euo pipefail
cd "$(dirname "$0")/../.."

cases="${1:-1000000}"
seed="${2:-0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')}"
profile="${SEC_FUZZ_PROFILE:-fuzz}"

echo "fuzz: $cases cases per target, seed $seed, profile $profile"
status=0
SEC_FUZZ_ITERATIONS="$cases" SEC_FUZZ_SEED="$seed" \
    cargo test --profile "$profile" --no-fail-fast -p sec-proto -p sec-daemon -p sec-client \
    --lib --bins -- fuzz_ --nocapture || status=$?
if ((status == 0)); then
    echo "fuzz: nothing found with seed $seed"
else
    echo "fuzz: a target failed. Replay it with the line its report ends with, in this build:" >&2
    echo "  SEC_FUZZ_SEED=$seed SEC_FUZZ_CASE=N cargo test --profile $profile -p CRATE TARGET" >&2
fi
exit "$status"
