#!/usr/bin/env bash
# The HTTPS broker (issue 17): what a brokered `curl` request costs against a direct one to
# the same loopback HTTPS echo server. See bench/README.md ("broker").
#
#   1. per request, inside one lease:  curl through the lease's broker (CONNECT, the
#      broker's TLS toward curl and toward the server, the token put in) vs curl straight to
#      the server with the real token (one hyperfine run, both spawned directly, -N);
#   2. whole commands, for context:    `sec exec -- sh -c 'curl …'` (a lease, its broker and
#      CA, one request) vs `sh -c 'curl …'` with the real token, and `sec exec -- sh -c true`
#      in the same scope (the lease and its broker without a request).
#
# Usage: bench/broker.sh                  (builds release binaries first)
#        SEC_BENCH_NO_BUILD=1 bench/broker.sh
#        SEC_BENCH_BIN_DIR=/some/dir bench/broker.sh
#        SEC_BENCH_RUNS=50 (default)
#
# Writes bench/broker-results.md and bench/out-broker/*.json. Everything runs in a throw-away
# world (its own HOME, XDG directories and secd; no keyring: the token is a `cmd:` reference).
# The echo server is the test suite's (tests/support/https_echo.py) with a certificate from a
# throw-away CA for localhost and 127.0.0.1, made here with openssl as the tests make theirs.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
RESULTS="$BENCH_DIR/broker-results.md"
OUT="$BENCH_DIR/out-broker"
RUNS=${SEC_BENCH_RUNS:-50}
ECHO_PY="$REPO/tests/support/https_echo.py"

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
for tool in hyperfine jq curl openssl python3 bc; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install hyperfine jq curl openssl python3 bc)"
done
[ -f "$ECHO_PY" ] || die "the echo server $ECHO_PY is missing"

BIN_DIR="$REPO/target/release"
if [ -n "${SEC_BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$(cd "$SEC_BENCH_BIN_DIR" && pwd -P)
elif [ -z "${SEC_BENCH_NO_BUILD:-}" ]; then
    echo "building release binaries (a few minutes on 2 cores)" >&2
    (cd "$REPO" && cargo build --release --locked -p sec-client -p sec-daemon)
fi
SEC="$BIN_DIR/sec"
if [ ! -x "$SEC" ] || [ ! -x "$BIN_DIR/secd" ]; then die "no sec and secd in $BIN_DIR"; fi

D=$(mktemp -d)
ECHO_PID=
cleanup() {
    "$SEC" daemon stop >/dev/null 2>&1 || true
    if [ -n "$ECHO_PID" ]; then kill "$ECHO_PID" 2>/dev/null || true; fi
    rm -rf "$D"
}
trap cleanup EXIT

export HOME="$D/home" XDG_CONFIG_HOME="$D/config" XDG_STATE_HOME="$D/state" \
    XDG_DATA_HOME="$D/data" XDG_CACHE_HOME="$D/cache" XDG_RUNTIME_DIR="$D/run"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/sec" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" \
    "$D/project" "$D/ca"
install -d -m 0700 "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS
# Nothing of the caller's proxy or CA setup may take part.
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy \
    SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE CURL_HOME

# A throw-away CA and the echo server's certificate for localhost and 127.0.0.1 (EC P-256).
CA="$D/ca/ca.pem"
openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -subj "/CN=sec bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$D/ca/ca.key" -out "$CA" 2>/dev/null
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=localhost \
    -keyout "$D/ca/echo.key" -out "$D/ca/echo.csr" 2>/dev/null
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n' >"$D/ca/echo.ext"
openssl x509 -req -days 2 -CAcreateserial -in "$D/ca/echo.csr" -CA "$CA" -CAkey "$D/ca/ca.key" \
    -extfile "$D/ca/echo.ext" -out "$D/ca/echo.pem" 2>/dev/null

python3 -u "$ECHO_PY" "$D/ca/echo.pem" "$D/ca/echo.key" "$D/seen.jsonl" "$D/echo.port" >"$D/echo.log" 2>&1 &
ECHO_PID=$!
for _ in $(seq 100); do [ -s "$D/echo.port" ] && break; sleep 0.05; done
[ -s "$D/echo.port" ] || die "the echo server did not start: $(cat "$D/echo.log")"
# Brokered requests go to /bench, direct ones to /direct: the server's record tells them apart.
BASE="https://localhost:$(cat "$D/echo.port")"
URL="$BASE/bench" DIRECT_URL="$BASE/direct"

TOKEN="bench-broker-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$XDG_CONFIG_HOME/sec/config.toml" <<TOML
[[scope]]
dir = "$D/project"
[scope.env.API_TOKEN]
secret = "cmd:printf %s $TOKEN"
broker = { host = "localhost", auth = "bearer", ca_cert = "$CA" }
TOML
cd "$D/project"

# curl's header files: the real token (direct), the lease's placeholder (written in the lease).
printf 'header = "Authorization: Bearer %s"\n' "$TOKEN" >"$D/direct.curlrc"
DIRECT="curl -sS -o /dev/null --noproxy * --cacert $CA -K $D/direct.curlrc $DIRECT_URL"
BROKERED="curl -sS -o /dev/null -K $D/brokered.curlrc $URL"

# Correctness before timing: the direct request works, and through the broker the server
# gets the real token while the command has only a placeholder.
[ "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -K "$D/direct.curlrc" "$DIRECT_URL?check")" = 200 ] \
    || die "curl cannot reach the echo server directly ($DIRECT_URL)"
# shellcheck disable=SC2016 # $API_TOKEN and $0 are the lease's, expanded in it
placeholder=$("$SEC" exec -- sh -c 'printf %s "$API_TOKEN"; [ -n "${HTTPS_PROXY:-}" ] || exit 3
    curl -sS -o /dev/null -H "Authorization: Bearer $API_TOKEN" "$0?check=broker"' "$URL") \
    || die "sec exec gave no HTTPS_PROXY or curl failed through the broker: is issue 17's broker in $BIN_DIR/secd?"
[ "$placeholder" != "$TOKEN" ] || die "the command got the real token, not a placeholder: the lease brokers nothing"
delivered=$(jq -r 'select(.path == "/bench?check=broker") | .headers[] | select(.[0] | ascii_downcase == "authorization") | .[1]' "$D/seen.jsonl")
[ "$delivered" = "Bearer $TOKEN" ] || die "the broker did not put the real token into the request (the server got: ${delivered:-nothing})"

rm -rf "$OUT"; mkdir -p "$OUT"
# 1. Per request, in one lease: hyperfine runs inside `sec exec`, so both curls share the
#    lease's environment (the direct one bypasses the proxy with --noproxy and trusts the
#    server's CA with --cacert).
cat >"$D/inner.sh" <<INNER
set -eu
printf 'header = "Authorization: Bearer %s"\n' "\$API_TOKEN" >"$D/brokered.curlrc"
exec hyperfine -N --runs "$RUNS" --warmup 5 --export-json "$OUT/request.json" \
    -n 'curl through the broker' "$BROKERED" \
    -n 'curl direct' "$DIRECT"
INNER
"$SEC" exec -- bash "$D/inner.sh" >&2
# 2. Whole commands.
hyperfine -N --runs "$RUNS" --warmup 5 --export-json "$OUT/command.json" \
    -n "sec exec -- sh -c 'curl …' (lease, broker, one request)" \
    "$SEC exec -- sh -c 'curl -sS -o /dev/null -H \"Authorization: Bearer \$API_TOKEN\" \"\$0\"' $URL" \
    -n "sh -c 'curl …' direct" \
    "sh -c 'curl -sS -o /dev/null --cacert $CA -H \"Authorization: Bearer $TOKEN\" \"\$0\"' $DIRECT_URL" \
    -n "sec exec -- sh -c true (lease and broker, no request)" \
    "$SEC exec -- sh -c true" >&2
through_broker=$(jq '[.[] | select(.path == "/bench" and (.headers | map(select((.[0] | ascii_downcase) == "authorization" and .[1] == "Bearer '"$TOKEN"'")) | length > 0))] | length' -s "$D/seen.jsonl")

median() { jq -r ".results[$2].median * 1000" "$OUT/$1.json"; }
row() { printf '| %s | %.2f ms | %.2f ms |\n' "$(jq -r ".results[$2].command" "$OUT/$1.json")" \
    "$(median "$1" "$2")" "$(jq -r ".results[$2].stddev * 1000" "$OUT/$1.json")"; }
dirty=
[ -n "$(git -C "$REPO" status --porcelain -- . ':!bench' 2>/dev/null)" ] && dirty=" (dirty: the binaries may be built from uncommitted changes)"
{
    echo "# The HTTPS broker, measured"
    echo
    echo "Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty, $(date -u +%Y-%m-%d), $(nproc) cores, $(curl --version | head -n1 | cut -d' ' -f1-2)."
    echo "Method: hyperfine medians of $RUNS runs (5 warm-up), binaries from $BIN_DIR, one loopback HTTPS"
    echo "echo server (Python, HTTP/1.1) with a test CA's certificate, one GET with a bearer token per curl."
    echo "Table 1 runs inside one \`sec exec\` lease, both rows spawned directly (-N): the brokered curl"
    echo "goes through the lease's HTTPS_PROXY and trusts its CA bundle; the direct curl bypasses the proxy"
    echo "(--noproxy '*') and trusts the test CA. Every curl opens a new connection (and, through the broker,"
    echo "a new tunnel and an upstream connection). Table 2 times whole commands through \`sh -c\`."
    echo
    echo "| per request (in one lease) | median | σ |"
    echo "|---|---|---|"
    row request 0; row request 1
    echo
    echo "| whole command | median | σ |"
    echo "|---|---|---|"
    row command 0; row command 1; row command 2
    echo
    printf 'Broker overhead per request: %.2f ms (%.2f× a direct request).\n' \
        "$(echo "$(median request 0) - $(median request 1)" | bc -l)" \
        "$(echo "$(median request 0) / $(median request 1)" | bc -l)"
    printf 'A whole brokered command: %.2f× the direct one; the lease and its broker alone take %.2f ms.\n' \
        "$(echo "$(median command 0) / $(median command 1)" | bc -l)" "$(median command 2)"
    echo "Requests to /bench (all of them brokered) that reached the server with the real token: $through_broker of $((2 * (RUNS + 5)))."
} >"$RESULTS"
cat "$RESULTS"
