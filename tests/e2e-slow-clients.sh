#!/bin/bash
# Slow clients against the real stack: 4 connections sending a POST body
# one byte every 2 s and 200 slowloris connections sending their headers
# one byte every 2 s (tests/slow-clients.py, reopening every connection
# the server closes) for 22 s, while a normal client fetches GET / every
# 0.2 s.  The normal client's worst and median latency are printed.
# Checks: every one of its answers is 200 (no 5xx, no timeout), its
# worst latency is under LIMIT, and the server cut the slow connections
# (they were closed and opened again).
#
#   tests/e2e-slow-clients.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# One host (scripts/stack.sh, 4 FastCGI workers): LIMIT 5 s, half
# Apache's RequestReadTimeout (10 s), with margin for a busy machine.
# E2E_HOSTS=2 (tests/e2e-slow-clients-hosts.sh): two hosts behind
# HAProxy (scripts/hosts.sh, sessions in a private PostgreSQL), which
# takes the whole request before it picks a host: LIMIT 1 s.
# Prints one TAP line per check; exits non-zero when one fails, 77 when
# a program is missing.
# check passes single-quoted expressions to eval (SC2016); start_stack
# takes optional arguments (SC2119).
# shellcheck disable=SC2016,SC2119
set -u
# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
need apache2 spawn-fcgi multiwatch curl ss python3

HOSTS=${E2E_HOSTS:-1}
SECS=22
case $HOSTS in
1) LIMIT=5 ;;
2)
	LIMIT=1
	need haproxy
	if ! grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD/config.h"; then
		echo "# SKIP: built without the PostgreSQL store"
		exit 77
	fi
	;;
*) echo "# E2E_HOSTS must be 1 or 2" >&2; exit 2 ;;
esac

start_hosts() {
	local try
	for try in 1 2 3; do
		STATE=$W/hosts$try
		PORT=$(free_port) || return 1
		BASE=http://127.0.0.1:$PORT
		: > "$W/stack.out"
		CRUMB_INSECURE_COOKIE=1 PURGE_INTERVAL=0 \
		    "$SRC/scripts/hosts.sh" --port "$PORT" --state-dir "$STATE" \
		    --hosts 2 --workers 4 --build-dir "$BUILD" \
		    > "$W/stack.out" 2> "$W/stack.err" &
		STACK_PID=$!
		for _ in $(seq 1 600); do
			grep -q '^READY ' "$W/stack.out" && return 0
			kill -0 "$STACK_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_stack
		echo "# hosts did not start (try $try):" >&2
		sed 's/^/#   /' "$W/stack.err" >&2
	done
	return 1
}

T0=$SECONDS
if [ "$HOSTS" = 1 ]; then
	start_stack
else
	start_hosts
fi || { echo "not ok 1 - the stack starts"; exit 1; }
ok "the stack starts ($HOSTS host(s))"

python3 "$SRC/tests/slow-clients.py" 127.0.0.1 "$PORT" $((SECS + 2)) \
    4 200 2 > "$W/slow.out" 2> "$W/slow.err" &
SLOW_PID=$!
sleep 1
END=$((SECONDS + SECS))
while [ "$SECONDS" -lt "$END" ]; do
	curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 40 \
	    "$BASE/"
	sleep 0.2
done > "$W/normal"
wait "$SLOW_PID"
SLOW=$(cat "$W/slow.out")
echo "# slow clients: $SLOW"
sed 's/^/# slow-clients.py: /' "$W/slow.err"
sort -k2 -n "$W/normal" > "$W/sorted"
WORST=$(tail -n 1 "$W/sorted" | cut -d' ' -f2)
MEDIAN=$(sed -n "$(( ($(wc -l < "$W/sorted") + 1) / 2 ))p" "$W/sorted" |
    cut -d' ' -f2)
BAD=$(awk '$1 != 200' "$W/normal" | wc -l)
echo "# normal client: $(wc -l < "$W/normal") GET / over $SECS s," \
    "median ${MEDIAN} s, worst ${WORST} s; codes:" \
    "$(cut -d' ' -f1 "$W/normal" | sort | uniq -c | tr -s ' \n' ' ')"
check "the normal client's GET / all answered 200 ($BAD others)" \
    eval '[ "$BAD" = 0 ] && [ -s "$W/normal" ]'
check "its worst latency ${WORST} s is under $LIMIT s" \
    eval 'awk -v w="$WORST" -v l="$LIMIT" "BEGIN { exit !(w < l) }"'
check "the server cut slow connections ($SLOW)" \
    eval '[ "$(echo "$SLOW" | awk "{ print \$4 }")" -ge 200 ]'
stop_stack
echo "# $((SECONDS - T0)) s"
finish
