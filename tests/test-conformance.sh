#!/bin/bash
# The store conformance suite (tests/test-conformance) against every
# store URL in the list below; one failing store fails the whole test.
# A backend adds its URL with one line (its server started above it);
# CRUMB_TEST_STORES (space-separated URLs) adds more by hand.
# CONFORMANCE_WRAP runs the program under a tool, e.g.
#   CONFORMANCE_WRAP='valgrind --error-exitcode=1 --leak-check=full'
set -u
prog="${top_builddir:-.}/tests/test-conformance"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crumb-conformance.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

urls=()
urls+=("memory:")
urls+=("sqlite:$tmp/conformance.db")
# PostgreSQL, when built: a private server (tests/pg-server.sh), over its
# unix socket and over loopback TCP with a password.
case " ${CRUMB_BUILT_STORES:-} " in
*" postgresql "*)
	# shellcheck source=tests/pg-server.sh
	. "${top_srcdir:-.}/tests/pg-server.sh"
	crumb_pg_start >/dev/null || { echo "FAIL: no PostgreSQL server"; exit 1; }
	urls+=("$PGURL" "$PGURL_TCP")
	;;
esac
# Redis, when built: a private server (tests/redis-server.sh), over its
# unix socket and over loopback TCP, each with a key prefix of its own.
case " ${CRUMB_BUILT_STORES:-} " in
*" redis "*)
	# shellcheck source=tests/redis-server.sh
	. "${top_srcdir:-.}/tests/redis-server.sh"
	crumb_redis_start >/dev/null || { echo "FAIL: no Redis server"; exit 1; }
	urls+=("$REDISURL&prefix=t1:" "$REDISURL_TCP?prefix=t%7B2%7D*:")
	;;
esac
for u in ${CRUMB_TEST_STORES:-}; do
	urls+=("$u")
done

failed=0
for u in "${urls[@]}"; do
	if ${CONFORMANCE_WRAP:-} "$prog" "$u"; then
		echo "ok: $u"
	else
		echo "FAIL: $u"
		failed=1
	fi
done
exit $failed
