#!/bin/bash
# End-to-end test of the guestbook on two hosts behind a balancer:
# scripts/hosts.sh starts a private PostgreSQL, two hosts (Apache +
# spawn-fcgi each, sessions in PostgreSQL, one key copied to both) and
# HAProxy round-robin in front; every request below goes through
# HAProxy, and each answer says which host made it (X-Host).
#
#   tests/e2e-hosts.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Checks: both hosts answer one client; a sign-in made on one host is
# seen on the other; a logout made on one host is seen on the other at
# the next request (also with the old cookie replayed); 4 clients x 50
# concurrent GET /counter with one cookie end at exactly 201; a
# tampered cookie is a fresh session, not a 5xx; the key rotated with
# key.next on one host, then the other, under a /counter load of 3
# clients: all 200, no count lost or doubled; and with PostgreSQL
# stopped for 5 s under a /counter load: only 200 or 503, no request
# past 7 s, 200 again within 2 s of the server being back, and the count
# equals the increments answered 200.
#
# E2E_STORE=redis (default postgresql) runs the same checks with the
# sessions in a private Redis (scripts/hosts.sh --store redis: appendonly
# yes, appendfsync everysec) and the entries in PostgreSQL; the server
# stopped for 5 s (SIGTERM) and started again on its append-only file
# is then Redis: every increment answered 200 must have survived it,
# and the count may exceed them only by the requests cut off by the
# stop (Redis drops the answers to the commands of its last turn).  It
# also checks that the sessions are in Redis and not in PostgreSQL.
# Prints one TAP line per check and exits non-zero when any fails; 77
# (skip) when a program it needs is missing or the build has no
# PostgreSQL store (or, with E2E_STORE=redis, no Redis store).
# Everything it started is stopped.
# check passes single-quoted expressions to eval (SC2016); helpers are
# called indirectly (SC2317); variables are read in eval (SC2034).
# shellcheck disable=SC2016,SC2317,SC2034
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 2

N=0
FAILS=0
HOSTS_PID=
STORE=${E2E_STORE:-postgresql}
case $STORE in
postgresql|redis) ;;
*) echo "# E2E_STORE must be postgresql or redis, not $STORE" >&2; exit 2 ;;
esac
W=$(mktemp -d /tmp/crumb-e2e-hosts.XXXXXX) || exit 2
STATE=$W/state
# The hosts' user (www-data when root) and PostgreSQL's (nobody) enter.
chmod 0711 "$W"

for t in haproxy apache2 spawn-fcgi multiwatch curl python3 ss psql; do
	if ! command -v "$t" >/dev/null; then
		echo "# SKIP: $t not installed (scripts/deps.sh)"
		exit 77
	fi
done
if ! grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD/config.h"; then
	echo "# SKIP: built without the PostgreSQL store"
	exit 77
fi
if [ "$STORE" = redis ]; then
	if ! grep -q '^#define CRUMB_HAVE_REDIS 1' "$BUILD/config.h"; then
		echo "# SKIP: built without the Redis store"
		exit 77
	fi
	for t in redis-server redis-cli; do
		if ! command -v "$t" >/dev/null; then
			echo "# SKIP: $t not installed (scripts/deps.sh)"
			exit 77
		fi
	done
fi

ok() { N=$((N + 1)); echo "ok $N - $1"; }
nok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $1${2:+ ($2)}"; }
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else nok "$desc"; fi
}

# http JAR CURL-ARGS...: CODE, HOST (the X-Host header), $W/h, $W/b.
http() {
	local jar=$1
	shift
	local opts=()
	[ -n "$jar" ] && opts=(-b "$jar" -c "$jar")
	: > "$W/h"
	: > "$W/b"
	CODE=$(curl -s -o "$W/b" -D "$W/h" -w '%{http_code}' --max-time 20 \
	    "${opts[@]}" "$@")
	HOST=$(tr -d '\r' < "$W/h" | awk 'tolower($1) == "x-host:" { print $2 }')
}
has_body() { grep -Fq -- "$1" "$W/b"; }
body_is() { [ "$(cat "$W/b")" = "$1" ]; }
cookie_of() { awk -F'\t' '$6 == "id" { print $7 }' "$1" 2>/dev/null; }
csrf_of_page() {
	grep -o 'name="csrf" value="[^"]*"' "$W/b" | head -n 1 |
	    sed 's/.*value="//; s/"$//'
}

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return 0; }
	done
	return 1
}

stop_hosts() {
	if [ -n "$HOSTS_PID" ]; then
		kill -TERM "$HOSTS_PID" 2>/dev/null
		wait "$HOSTS_PID" 2>/dev/null
		HOSTS_PID=
	fi
}
cleanup() {
	stop_hosts
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_hosts() {
	local try
	for try in 1 2 3; do
		PORT=$(free_port) || return 1
		BASE=http://127.0.0.1:$PORT
		: > "$W/hosts.out"
		CRUMB_INSECURE_COOKIE=1 "$SRC/scripts/hosts.sh" --port "$PORT" \
		    --state-dir "$STATE" --hosts 2 --workers 4 \
		    --store "$STORE" --build-dir "$BUILD" > "$W/hosts.out" 2> "$W/hosts.err" &
		HOSTS_PID=$!
		for _ in $(seq 1 600); do
			grep -q '^READY ' "$W/hosts.out" && return 0
			kill -0 "$HOSTS_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_hosts
		echo "# hosts did not start (try $try):" >&2
		sed 's/^/#   /' "$W/hosts.err" >&2
	done
	return 1
}

# ------------------------------------------------------------------

both_hosts() {
	local seen=" " i
	for i in 1 2 3 4; do
		http "$W/jar-a" "$BASE/"
		seen="$seen$HOST "
	done
	check "one client's requests reach host1 and host2 (saw:$seen)" \
	    eval 'case $seen in *" host1 "*) ;; *) false ;; esac &&
	          case $seen in *" host2 "*) ;; *) false ;; esac'
}

# Sign in on whichever host answers; the next two requests (so both
# hosts) are signed in.  Then log out; the next request, on the other
# host, is signed out, and the signed-in cookie replayed is dead on both.
login_logout() {
	local j=$W/jar-login at h seen=" " token i
	http "$j" -d 'name=alice' "$BASE/login"
	at=$HOST
	check "POST /login through the balancer is 303 (on $at)" \
	    eval '[ "$CODE" = 303 ] && [ -n "$(cookie_of "$j")" ]'
	for i in 1 2; do
		http "$j" "$BASE/"
		h=$HOST
		seen="$seen$h "
		check "signed in on $at, request $i on $h is signed in" \
		    eval '[ "$CODE" = 200 ] && has_body "id=\"user\">alice"'
	done
	check "the signed-in requests reached the other host too (saw:$seen)" \
	    eval '[ -n "$at" ] && printf "%s\n" $seen | grep -qvx "$at"'
	# The entries live in the shared database too: one book.
	token=$(csrf_of_page)
	msg="shared entry $$ $RANDOM"
	http "$j" -d "csrf=$token" --data-urlencode "message=$msg" "$BASE/post"
	at=$HOST
	check "POST /post through the balancer is 303 (on $at)" \
	    eval '[ "$CODE" = 303 ]'
	seen=" "
	for i in 1 2; do
		http "$j" "$BASE/"
		seen="$seen$HOST "
		check "the entry posted on $at shows on $HOST" \
		    eval '[ "$CODE" = 200 ] && has_body "$msg"'
	done
	check "the entry was read from both hosts (saw:$seen)" \
	    eval 'case $seen in *" host1 "*) ;; *) false ;; esac &&
	          case $seen in *" host2 "*) ;; *) false ;; esac'
	token=$(csrf_of_page)
	cp "$j" "$W/signed-in"
	http "$j" -d "csrf=$token" "$BASE/logout"
	at=$HOST
	check "POST /logout is 303 (on $at)" eval '[ "$CODE" = 303 ]'
	http "$j" "$BASE/"
	check "the next request ($HOST, not $at) is signed out" \
	    eval '[ "$CODE" = 200 ] && [ "$HOST" != "$at" ] &&
	          has_body "id=\"login\"" && ! has_body "id=\"user\">alice"'
	seen=" "
	for i in 1 2; do
		http "" -b "$W/signed-in" "$BASE/"
		seen="$seen$HOST "
		check "the signed-in cookie replayed after the logout on $at is signed out on $HOST" \
		    eval '[ "$CODE" = 200 ] && has_body "id=\"login\"" && ! has_body "id=\"user\">alice"'
	done
}

# 4 clients x 50 requests at once with the cookie of a fresh sign-in
# (a session with no count yet): every answer 200 with a distinct
# count, and the next request says 201.
concurrent_counter() {
	local j=$W/jar-count c pids=""
	http "$j" -d 'name=counter' "$BASE/login"
	for c in 1 2 3 4; do
		(
			for _ in $(seq 1 50); do
				curl -s -o - -w ' %{http_code}\n' --max-time 20 \
				    -b "$j" "$BASE/counter"
			done > "$W/conc-$c"
		) &
		pids="$pids $!"
	done
	# Not a bare wait: hosts.sh is a child too.
	# shellcheck disable=SC2086
	wait $pids
	cat "$W"/conc-? > "$W/conc"
	check "200 concurrent GET /counter all answered 200" \
	    eval '[ "$(grep -c " 200$" "$W/conc")" = 200 ]'
	check "the 200 answers are the counts 1 to 200, each once" \
	    eval '[ "$(grep -o "\"count\":[0-9]*" "$W/conc" | sort -u | wc -l)" = 200 ] &&
	          grep -q "\"count\":200}" "$W/conc"'
	http "$j" "$BASE/counter"
	check "the next GET /counter is exactly 201" body_is '{"count":201}'
}

# Where the sessions are: with Redis, the counter's session and its
# user's index in Redis, and no session table in PostgreSQL (which
# holds the entries only); with PostgreSQL, rows in crumb_sessions.
store_holds() {
	local pgurl keys idx tables rows
	# shellcheck disable=SC1091
	pgurl=$(. "$STATE/pg/env" && echo "$PGURL_TCP")
	tables=$(psql -XAtq "$pgurl" -c "SELECT count(*) FROM pg_tables
	    WHERE tablename = 'crumb_sessions'")
	if [ "$STORE" = redis ]; then
		keys=$(rcli --scan --pattern 'crumb:s:*' | grep -c .)
		idx=$(rcli zcard crumb:u:counter)
		check "the sessions are in Redis ($keys crumb:s: keys, $idx in crumb:u:counter), none in PostgreSQL ($tables session tables)" \
		    eval '[ "$keys" -ge 1 ] && [ "$idx" = 1 ] && [ "$tables" = 0 ]'
	else
		rows=$(psql -XAtq "$pgurl" -c 'SELECT count(*) FROM crumb_sessions')
		check "the sessions are in PostgreSQL ($rows rows)" \
		    eval '[ "$tables" = 1 ] && [ "${rows:-0}" -ge 1 ]'
	fi
}

# redis-cli on the hosts' Redis (its database 0).
rcli() {
	# shellcheck disable=SC1091
	(. "$STATE/redis/env" && REDISCLI_AUTH=$REDIS_PASSWORD \
	    redis-cli --no-auth-warning -p "$REDIS_PORT" -n 0 "$@")
}

tampered() {
	local j=$W/jar-count v t i
	v=$(cookie_of "$j")
	# Flip one character in the middle of the sealed value.
	i=$(( ${#v} / 2 ))
	case ${v:$i:1} in A) t=B ;; *) t=A ;; esac
	t=${v:0:$i}$t${v:$((i + 1))}
	for i in 1 2; do
		http "" -H "Cookie: id=$t" "$BASE/counter"
		check "a tampered cookie on $HOST is a fresh session (count 1)" \
		    eval '[ "$CODE" = 200 ] && body_is "{\"count\":1}" &&
		          grep -qi "^set-cookie: id=" "$W/h"'
	done
}

# ------------------------------------------------------------------
# The session store's server (PostgreSQL, or Redis) stopped for 5 s
# under a /counter load from 3 clients.  Each request is logged as
# "START END CODE COUNT" (epoch seconds).  Redis is stopped by SIGTERM,
# which writes its append-only file out, and started again on it.

load_client() { # OUT COOKIES STOPFILE
	local t0 t1 out
	while [ ! -e "$3" ]; do
		t0=$EPOCHREALTIME
		out=$(curl -s -o - -w ' %{http_code}' --max-time 10 -b "$2" \
		    "$BASE/counter")
		t1=$EPOCHREALTIME
		printf '%s %s %s %s\n' "$t0" "$t1" "${out##* }" \
		    "$(printf '%s' "$out" | grep -o '"count":[0-9]*' | cut -d: -f2)"
	done > "$1"
}

fault() {
	local j=$W/jar-fault c pids="" t_pause t_resume final n200 other slow
	local t_down cut
	local first_ok late srv=PostgreSQL ctl=$SRC/tests/pg-server.sh
	local dir=$STATE/pg
	if [ "$STORE" = redis ]; then
		srv=Redis ctl=$SRC/tests/redis-server.sh dir=$STATE/redis
	fi
	http "$j" -d 'name=fault' "$BASE/login"
	check "fault test: signed in" eval '[ "$CODE" = 303 ]'
	for c in 1 2 3; do
		load_client "$W/fault-$c" "$j" "$W/stop" &
		pids="$pids $!"
	done
	sleep 1
	t_pause=$EPOCHREALTIME
	bash "$ctl" pause "$dir"
	t_down=$EPOCHREALTIME
	sleep 5
	bash "$ctl" resume "$dir"
	t_resume=$EPOCHREALTIME
	sleep 3
	: > "$W/stop"
	# shellcheck disable=SC2086
	wait $pids
	cat "$W"/fault-? > "$W/fault"
	echo "# fault: $(wc -l < "$W/fault") requests, paused at $t_pause," \
	    "resumed at $t_resume; codes: $(awk '{ print $3 }' "$W/fault" |
	    sort | uniq -c | tr -s ' \n' ' ')"
	other=$(awk '$3 != 200 && $3 != 503' "$W/fault" | wc -l)
	check "fault: every answer is 200 or 503 ($other others)" \
	    eval '[ "$other" = 0 ]'
	check "fault: some answers were 503 while $srv was down" \
	    eval 'awk -v a="$t_pause" -v b="$t_resume" \
	        "\$1 > a && \$2 < b && \$3 == 503 { f = 1 } END { exit !f }" "$W/fault"'
	slow=$(awk '$2 - $1 > 7' "$W/fault" | wc -l)
	check "fault: no request took more than 7 s ($slow did)" \
	    eval '[ "$slow" = 0 ]'
	first_ok=$(awk -v b="$t_resume" '$1 >= b && $3 == 200 { print $2 }' \
	    "$W/fault" | sort -n | head -n 1)
	late=$(awk -v f="${first_ok:-0}" -v b="$t_resume" \
	    'BEGIN { printf "%.2f", f - b }')
	check "fault: a 200 again within 2 s of $srv being back (${late} s)" \
	    eval '[ -n "$first_ok" ] && awk -v l="$late" "BEGIN { exit !(l <= 2) }"'
	n200=$(awk '$3 == 200' "$W/fault" | wc -l)
	http "$j" "$BASE/counter"
	final=$(grep -o '"count":[0-9]*' "$W/b" | cut -d: -f2)
	if [ "$STORE" = postgresql ]; then
		check "fault: the count ($final) is the increments answered 200 ($n200) + 1" \
		    eval '[ "$CODE" = 200 ] && [ "$final" = "$((n200 + 1))" ]'
		return
	fi
	# Redis, stopped by SIGTERM, writes out its append-only file but
	# drops the answers to the commands it ran in its last turn: a
	# request under way at that moment may have counted and still been
	# answered 503.  So: every increment answered 200 is there, and any
	# more are at most the requests cut off by the stop: one a client at
	# most (the one it had under way when the server exited), counted
	# for each client that had a request not answered 200 running while
	# the server went down.
	cut=0
	for c in 1 2 3; do
		awk -v a="$t_pause" -v b="$t_down" \
		    '$1 < b && $2 > a && $3 != 200 { f = 1 } END { exit !f }' \
		    "$W/fault-$c" && cut=$((cut + 1))
	done
	check "fault: no increment answered 200 lost: the count ($final) is at least the increments answered 200 ($n200) + 1" \
	    eval '[ "$CODE" = 200 ] && [ -n "$final" ] &&
	          [ "$final" -ge "$((n200 + 1))" ]'
	check "fault: no increment counted twice: at most $cut more (the requests cut off by the stop)" \
	    eval '[ -n "$final" ] && [ "$final" -le "$((n200 + 1 + cut))" ]'
}

# ------------------------------------------------------------------
# Key rotation on both hosts, one after the other, under a /counter load
# of 3 clients (each its own session): key.next (one key, made by
# crumbctl key new) copied to both hosts first, then crumbctl key rotate
# on host1, and 1.5 s later on host2.  Meanwhile the balancer sends each
# client's requests to both: host1 seals with the new key, which host2
# opens as key.next; host2 seals with the old one, which host1 opens as
# key.old.  Every answer 200, every count up by one.

rot_client() { # OUT JAR STOPFILE
	while [ ! -e "$3" ]; do
		curl -s -o - -w '\nCODE %{http_code}\n' --max-time 10 \
		    -b "$2" -c "$2" "$BASE/counter"
	done > "$1"
}

# put_next K FILE: FILE as host K's key.next, owned like its directory,
# moved into place in one rename.
put_next() {
	local d=$STATE/host$1
	install -m 0600 -o "$(stat -c %u "$d")" -g "$(stat -c %g "$d")" \
	    "$2" "$d/.key.next.tmp" && mv "$d/.key.next.tmp" "$d/key.next"
}

rotation() {
	local c pids="" bad k ctl=$BUILD/tools/crumbctl
	for c in 1 2 3; do
		http "$W/jar-rot$c" "$BASE/counter"
		rot_client "$W/rot-$c" "$W/jar-rot$c" "$W/rot-stop" &
		pids="$pids $!"
	done
	check "rotation: crumbctl key new makes the next key" \
	    "$ctl" --quiet key new "$W/next"
	check "rotation: the next key copied to both hosts as key.next" \
	    eval 'put_next 1 "$W/next" && put_next 2 "$W/next"'
	sleep 1.5
	check "rotation: crumbctl key rotate --next on host1" \
	    "$ctl" --quiet key rotate --next "$STATE/host1"
	sleep 1.5
	check "rotation: crumbctl key rotate --next on host2" \
	    "$ctl" --quiet key rotate --next "$STATE/host2"
	sleep 1.5
	: > "$W/rot-stop"
	# shellcheck disable=SC2086
	wait $pids
	check "rotation: both hosts hold the same key, the previous one retired" \
	    eval 'cmp -s "$STATE/host1/key" "$W/next" &&
	          cmp -s "$STATE/host2/key" "$W/next" &&
	          cmp -s "$STATE/host1/key.old" "$STATE/host2/key.old"'
	for c in 1 2 3; do
		# From 2 (the first request made 1), up by one per answer.
		bad=$(awk '/count/ { c = $0; gsub(/[^0-9]/, "", c) }
		    /^CODE / { n++
		               if ($2 != 200 || c != n + 1) {
		                       print n ": " $2 " count " c; exit }
		               c = "" }' "$W/rot-$c")
		check "rotation: client $c, $(grep -c '^CODE ' "$W/rot-$c") answers, all 200, counting up by one${bad:+ (answer $bad)}" \
		    eval '[ -z "$bad" ] && grep -q "^CODE " "$W/rot-$c"'
	done
	for k in 1 2; do
		check "rotation: host$k reloaded its keys without a complaint" \
		    eval '! grep -q "key files not reloaded" "$STATE/host$k/run/fcgi.log"'
	done
}

# ------------------------------------------------------------------

T0=$SECONDS
if ! start_hosts; then
	echo "not ok 1 - the two-host stack starts"
	exit 1
fi
ok "the two-host stack starts ($((SECONDS - T0)) s)"
both_hosts
login_logout
concurrent_counter
store_holds
tampered
rotation
fault
REDIS_PID=
[ "$STORE" = redis ] && REDIS_PID=$(cat "$STATE/redis/pid" 2>/dev/null)
stop_hosts
check "hosts.sh stopped PostgreSQL" \
    eval '[ ! -e "$STATE/pg/data/postmaster.pid" ]'
if [ "$STORE" = redis ]; then
	check "hosts.sh stopped Redis (pid ${REDIS_PID:-none})" \
	    eval '[ -n "$REDIS_PID" ] && [ ! -e "$STATE/redis/pid" ] &&
	          ! kill -0 "$REDIS_PID" 2>/dev/null'
fi
echo "# $((SECONDS - T0)) s"
echo "1..$N"
[ "$FAILS" -eq 0 ]
