#!/bin/bash
# The demo stack's access log stays off the state directory and bounded:
# scripts/stack.sh with CRUMB_LOG_DIR outside the state directory and
# CRUMB_ACCESS_LOG_MAX=16K, then 1,500 requests.  Checks: the access
# log is in the log directory and rotated (access.log and access.log.1,
# no more, together at most 2 x 16 KiB and a line); no access log in
# the state directory; the stack started again without CRUMB_LOG_DIR
# keeps it in run/, rotated at 8M.  Prints the sizes.
#
#   tests/e2e-disk.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Prints one TAP line per check; exits non-zero when one fails, 77 when
# a program is missing.
# check passes single-quoted expressions to eval (SC2016); start_stack
# takes optional arguments (SC2119).
# shellcheck disable=SC2016,SC2119
set -u
# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
need apache2 spawn-fcgi multiwatch curl ss rotatelogs

T0=$SECONDS
LOGS=$W/logs
if ! CRUMB_LOG_DIR=$LOGS CRUMB_ACCESS_LOG_MAX=16K start_stack --workers 2; then
	echo "not ok 1 - the stack starts"
	exit 1
fi
ok "the stack starts with CRUMB_LOG_DIR=$LOGS"
# One curl, one connection, 1,500 requests (about 60 bytes of log each).
curl -s -o /dev/null "$BASE/?[1-1500]"
sleep 1
ls -l "$LOGS" | sed 's/^/# /'
SIZE=$(cat "$LOGS"/access.log* 2>/dev/null | wc -c)
check "the access log is in the log directory, rotated" \
    eval '[ -s "$LOGS/access.log" ] && [ -s "$LOGS/access.log.1" ]'
check "two files at most" eval '[ "$(ls "$LOGS" | wc -l)" = 2 ]'
check "together at most 2 x 16 KiB and a line ($SIZE bytes)" \
    eval '[ "$SIZE" -le $((2 * 16384 + 200)) ]'
check "no access log in the state directory" \
    eval '[ -z "$(find "$STATE" -name "access.log*")" ]'
stop_stack
if start_stack --workers 1; then
	curl -s -o /dev/null "$BASE/?[1-20]"
	sleep 1
	check "without CRUMB_LOG_DIR the access log is run/access.log" \
	    eval '[ "$(grep -c "GET /?" "$STATE/run/access.log")" = 20 ]'
	check "... rotated at 8M" \
	    grep -q 'rotatelogs -n 2 .*/run/access.log 8M' "$STATE/run/httpd.conf"
	stop_stack
else
	nok "the stack starts without CRUMB_LOG_DIR"
fi
echo "# $((SECONDS - T0)) s"
finish
