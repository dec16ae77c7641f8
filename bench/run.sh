#!/bin/bash
# `make bench`: in-process round trips against the floor, scaling and
# purge (bench-session), the same round trips on PostgreSQL and on Redis
# when they are built, then end to end through Apache (e2e.sh).  The
# last lines are one per target: "target NAME: MEASURED (want OP GOAL) met".
#
#   bench/run.sh BUILD_DIR [--quick]
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: bench/run.sh BUILD_DIR [--quick]}" && pwd)
QUICK=${2:-}
OUT=$BUILD/bench-output
mkdir -p "$OUT"
HAVE_PG=
grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD/config.h" && HAVE_PG=1
HAVE_REDIS=
grep -q '^#define CRUMB_HAVE_REDIS 1' "$BUILD/config.h" && HAVE_REDIS=1
bash "$TOP/scripts/deps.sh" wrk apache2 spawn-fcgi curl sqlite3 python3 \
    ${HAVE_PG:+postgresql} ${HAVE_REDIS:+redis-server}

echo "== crumb $(sed -n 's/^#define CRUMB_VERSION_STRING "\(.*\)"/\1/p' "$TOP/lib/crumb.h")," \
    "$(nproc) cores, $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)"
args=(-o "$OUT/targets-session.txt" -d "$OUT")
[ "$QUICK" = --quick ] && args+=(-q)
"$BUILD/bench/bench-session" "${args[@]}" | grep -v '^target '

# The PostgreSQL store, when configure built it: a private server
# (tests/pg-server.sh), reached over loopback TCP as a deployment on
# another host would be, stopped when the subshell exits.
PG_TARGETS=
if [ -n "$HAVE_PG" ]; then
	PG_TARGETS=$OUT/targets-pg.txt
	echo
	(
		. "$TOP/tests/pg-server.sh"
		crumb_pg_start >/dev/null
		"$BUILD/bench/bench-session" ${QUICK:+-q} -p "$PGURL_TCP" \
		    -o "$PG_TARGETS" | grep -v '^target '
	)
fi

# The Redis store, when configure built it: a private server
# (tests/redis-server.sh) reached over its unix socket, as a Redis on the
# same host would be, stopped by its PID when the subshell exits.
REDIS_TARGETS=
if [ -n "$HAVE_REDIS" ]; then
	REDIS_TARGETS=$OUT/targets-redis.txt
	echo
	(
		. "$TOP/tests/redis-server.sh"
		crumb_redis_start >/dev/null
		"$BUILD/bench/bench-session" ${QUICK:+-q} -r "$REDISURL" \
		    -o "$REDIS_TARGETS" | grep -v '^target '
	)
fi

echo
# The memory figure is taken on a store of the size the scaling figures
# reach (a million sessions): on a small store the worker's RSS first
# grows by SQLite's page cache (at most 8 MiB a connection) while the
# pages it touches outnumber the cache; that is warm-up, not a leak.
E2E_MEM_PREFILL=${E2E_MEM_PREFILL:-1000000} \
    bash "$TOP/bench/e2e.sh" "$BUILD" ${QUICK:+"$QUICK"} | tee "$OUT/e2e.log" |
    grep -v '^target '

echo
echo "Targets:"
cat "$OUT/targets-session.txt"
if [ -n "$PG_TARGETS" ]; then
	cat "$PG_TARGETS" 2>/dev/null || echo "target pg: no result (missed)"
fi
if [ -n "$REDIS_TARGETS" ]; then
	cat "$REDIS_TARGETS" 2>/dev/null ||
	    echo "target redis: no result (missed)"
fi
grep '^target ' "$OUT/e2e.log" || echo "target e2e: no result (missed)"
