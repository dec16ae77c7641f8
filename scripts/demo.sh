#!/bin/bash
# The README's one-command demo: installs what is missing, builds, and
# serves the guestbook at http://127.0.0.1:$PORT/ through a private
# Apache in front of 4 FastCGI workers.  Ctrl-C or SIGTERM stops it all.
#
#   PORT=8080 STATE_DIR=./state scripts/demo.sh
#
# PORT (default 8080) is the listen port; STATE_DIR (default state/ in
# the repository) keeps the session database, the guestbook database
# and the secret key across runs.  Cookies go without Secure here: the
# demo is plain HTTP on loopback.  Expired sessions are purged every
# PURGE_INTERVAL seconds (default 300; scripts/stack.sh).
#
#   STORE=postgresql HOSTS=2 PORT=8080 STATE_DIR=./state scripts/demo.sh
#
# serves it from HOSTS hosts behind HAProxy on PORT instead, with the
# sessions in a private PostgreSQL (scripts/hosts.sh; its data in
# STATE_DIR/pg).
#
#   STORE=redis HOSTS=2 PORT=8080 STATE_DIR=./state scripts/demo.sh
#
# the same with the sessions in a private Redis (appendonly yes; its data
# in STATE_DIR/redis) and the guestbook's entries in the PostgreSQL.
# STORE defaults to sqlite and HOSTS to 1: the plain demo above; SQLite
# is one file on one machine, so HOSTS above 1 needs STORE=postgresql or
# STORE=redis.
# -h or --help prints the usage; any other argument exits with 2.
set -eu

usage() {
	echo "usage: [PORT=8080] [STATE_DIR=DIR] [PURGE_INTERVAL=300] scripts/demo.sh"
	echo "       STORE=postgresql|redis [HOSTS=2] [PORT=8080] [STATE_DIR=DIR] scripts/demo.sh"
}
case $# in
0) ;;
*)	case $1 in
	-h|--help) usage; exit 0 ;;
	*) echo "demo.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac ;;
esac

TOP=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-8080}
STATE_DIR=${STATE_DIR:-}
STORE=${STORE:-sqlite}
HOSTS=${HOSTS:-1}
case $STORE in
sqlite)	[ "$HOSTS" = 1 ] || {
		echo "demo.sh: HOSTS=$HOSTS needs STORE=postgresql or STORE=redis" >&2
		exit 2
	} ;;
postgresql|redis) ;;
*)	echo "demo.sh: STORE is sqlite, postgresql or redis, not $STORE" >&2
	exit 2 ;;
esac

# shellcheck source=scripts/deps.sh
. "$TOP/scripts/deps.sh"
# shellcheck disable=SC2086
crumb_deps $CRUMB_DEMO_PACKAGES
if [ "$STORE" != sqlite ]; then
	# shellcheck disable=SC2086
	crumb_deps $CRUMB_HOSTS_PACKAGES
fi
if [ "$STORE" = redis ]; then
	# shellcheck disable=SC2086
	crumb_deps $CRUMB_REDIS_PACKAGES
fi

# Build chatter goes to stderr: stdout carries only the READY line.
cd "$TOP"
# Built out of the source tree (build/demo), like the test suite's
# builds, so that the two never get in each other's way; a tree that was
# configured in place by hand is used as it is.
BUILD=$TOP/build/demo
[ -f "$TOP/config.status" ] && BUILD=$TOP
{
	[ -x configure ] || ./autogen.sh
	if [ ! -f "$BUILD/Makefile" ]; then
		mkdir -p "$BUILD"
		(cd "$BUILD" && "$TOP/configure" -q)
	fi
	# A tree configured before libpq-dev (or libhiredis-dev) was
	# there: again, to find it.
	if { [ "$STORE" != sqlite ] &&
	    ! grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD/config.h"; } ||
	    { [ "$STORE" = redis ] &&
	    ! grep -q '^#define CRUMB_HAVE_REDIS 1' "$BUILD/config.h"; }; then
		(cd "$BUILD" && ./config.status --recheck && ./config.status)
	fi
	make -C "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"
} >&2

# As root, Apache and the workers run as www-data, who cannot enter a
# checkout under /root: keep the state where it can, then.
if [ -z "$STATE_DIR" ]; then
	STATE_DIR=$TOP/state
	if [ "$(id -u)" -eq 0 ] &&
	    ! runuser -u www-data -- test -x "$TOP" 2>/dev/null; then
		STATE_DIR=/var/lib/crumb-demo
	fi
fi

echo "demo: guestbook at http://127.0.0.1:$PORT/ (state in $STATE_DIR;" \
    "Ctrl-C stops everything)" >&2
CRUMB_INSECURE_COOKIE=1
export CRUMB_INSECURE_COOKIE
if [ "$STORE" != sqlite ]; then
	exec "$TOP/scripts/hosts.sh" --port "$PORT" --state-dir "$STATE_DIR" \
	    --hosts "$HOSTS" --workers 4 --store "$STORE" --build-dir "$BUILD"
fi
exec "$TOP/scripts/stack.sh" --port "$PORT" --state-dir "$STATE_DIR" \
    --mode fcgi --workers 4 --build-dir "$BUILD"
