#!/bin/bash
# The SQLite session store's files deleted, replaced or overwritten
# under running workers (scripts/stack.sh: Apache + 4 FastCGI workers),
# each while 3 clients load GET /counter with a signed-in cookie:
#  - sessions.db-wal deleted;
#  - sessions.db replaced by another database (mv over it);
#  - sessions.db overwritten in place with something that is not a
#    database.
# In each case the workers must notice within about a second: from 2 s
# after the fault on, no answer is 200 (they are 503: nothing is
# acknowledged that the files on disk will not hold), the workers'
# log (run/fcgi.log) says what happened, once per worker at most, and
# the answers stay 503 (nothing quietly starts over with an empty store).
#
#   tests/e2e-store-vanish.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Prints one TAP line per check and the figures as comments; exits
# non-zero when a check fails, 77 when a program is missing.
# check passes single-quoted expressions to eval (SC2016); start_stack
# takes optional arguments (SC2119).
# shellcheck disable=SC2016,SC2119
set -u
# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
need apache2 spawn-fcgi multiwatch curl ss sqlite3

# fault NAME WHAT-THE-LOG-SAYS SCRIPT: a fresh stack, a signed-in load,
# the shell SCRIPT run as the files' owner in the state directory after
# 1.5 s, 4 s more of load.
fault() {
	local name=$1 says=$2 j=$W/jar c pids="" t_f late200 first503 n200 nlog
	local codes
	shift 2
	if ! start_stack; then
		nok "$name: the stack starts"
		return
	fi
	j=$W/jar-$name
	http "$j" -d "name=$name" "$BASE/login"
	http "$j" "$BASE/counter"
	check "$name: signed in, counting" \
	    eval '[ "$CODE" = 200 ] && [ "$(count_of)" = 1 ]'
	rm -f "$W/stop"
	for c in 1 2 3; do
		load_client "$W/load-$c" "$j" "$W/stop" &
		pids="$pids $!"
	done
	sleep 1.5
	t_f=$EPOCHREALTIME
	(cd "$STATE" && as_owner bash -c "$1")
	sleep 4
	: > "$W/stop"
	# shellcheck disable=SC2086
	wait $pids
	cat "$W"/load-? > "$W/load"
	codes=$(awk -v t="$t_f" '$1 >= t { print $3 }' "$W/load" | sort |
	    uniq -c | tr -s ' \n' ' ')
	first503=$(awk -v t="$t_f" '$1 >= t && $3 == 503 { print $2 }' \
	    "$W/load" | sort -n | head -n 1)
	echo "# $name: after the fault:$codes; first 503" \
	    "$(awk -v f="${first503:-0}" -v t="$t_f" \
	    'BEGIN { printf "%.2f", f - t }') s after it"
	check "$name: 200s before the fault" \
	    eval 'awk -v t="$t_f" "\$2 < t && \$3 == 200 { f = 1 } END { exit !f }" "$W/load"'
	late200=$(awk -v t="$t_f" '$1 > t + 2 && $3 == 200' "$W/load" | wc -l)
	check "$name: no 200 from 2 s after the fault on ($late200 were)" \
	    eval '[ "$late200" = 0 ]'
	check "$name: 503s after the fault" \
	    eval '[ -n "$first503" ]'
	n200=$(awk -v t="$t_f" '$1 > t + 2 && $3 != 503' "$W/load" | wc -l)
	check "$name: only 503 from 2 s after the fault on ($n200 others)" \
	    eval '[ "$n200" = 0 ]'
	http "$j" "$BASE/counter"
	check "$name: still 503 at the end" eval '[ "$CODE" = 503 ]'
	nlog=$(grep -c "crumb: sqlite: .*$says" "$STATE/run/fcgi.log")
	check "$name: the workers' log says \"$says\" (1 to 4 lines: $nlog)" \
	    eval '[ "$nlog" -ge 1 ] && [ "$nlog" -le 4 ]'
	grep -m 1 "crumb: sqlite:" "$STATE/run/fcgi.log" | sed 's/^/# /'
	stop_stack
}

T0=$SECONDS
fault wal-deleted "sessions.db-wal was deleted" 'rm sessions.db-wal'
fault db-replaced "sessions.db was replaced" \
    "sqlite3 new.db < '$SRC/sql/sqlite-store.sql' && mv new.db sessions.db"
fault db-overwritten "no longer a SQLite database" \
    'head -c 8192 /dev/urandom | dd of=sessions.db conv=notrunc status=none'

echo "# $((SECONDS - T0)) s"
finish
