#!/bin/bash
# No keep-alive connection closed unanswered under load: the real stack
# (scripts/stack.sh, 4 FastCGI workers) driven by 64 clients, each on one
# persistent HTTP/1.1 connection (tests/keepalive-load.py), GET / and GET
# /counter in turn for 10 s, then 10 s more after a 3 s lull (when an
# idle Apache child would be stopped).  64 clients are more than one
# Apache child's 25 threads: the event MPM dropped 300-430 of them in
# the first burst, the worker MPM none (conf/apache-common.conf.in).
# Checks: some thousands of requests answered, and not one transport
# error (a request on an open connection that got no answer, a reset, a
# refused connection), nor any answer but 2xx/3xx.  Prints the longest
# request of each burst.
#
#   tests/e2e-keepalive.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Prints one TAP line per check and the figures; exits non-zero when one
# fails, 77 when a program is missing.
# check passes single-quoted expressions to eval (SC2016); start_stack
# takes optional arguments (SC2119).
# shellcheck disable=SC2016,SC2119
set -u
# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
need apache2 spawn-fcgi multiwatch curl ss python3

T0=$SECONDS
if ! start_stack; then
	echo "not ok 1 - the stack starts"
	exit 1
fi
ok "the stack starts"

burst() { # NAME CLIENTS SECONDS
	python3 "$SRC/tests/keepalive-load.py" 127.0.0.1 "$PORT" "$2" "$3" \
	    / /counter > "$W/ka-$1" 2>&1
	echo "# $1: $2 clients, $3 s: $(tr '\n' ';' < "$W/ka-$1")"
	# shellcheck disable=SC2046 # the figures, one a word
	set -- $(head -n 1 "$W/ka-$1")
	REQ=$2 ERR=$6 NON=$8
}

for run in first second; do
	burst "$run" 64 10
	check "$run burst: requests answered ($REQ)" eval '[ "${REQ:-0}" -ge 100 ]'
	check "$run burst: no transport error ($ERR)" eval '[ "$ERR" = 0 ]'
	check "$run burst: no answer but 2xx/3xx ($NON)" eval '[ "$NON" = 0 ]'
	sleep 3
done
check "Apache's error log has no 'scoreboard is full' or MaxRequestWorkers" \
    eval '! grep -Eq "scoreboard is full|MaxRequestWorkers" "$STATE/run/error.log"'
stop_stack
echo "# $((SECONDS - T0)) s"
finish
