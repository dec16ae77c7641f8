#!/bin/bash
# Key rotation under load through the real stack: scripts/stack.sh
# (a private Apache, mod_proxy_fcgi, spawn-fcgi workers of the
# guestbook, which watch their state directory's key files) on a free
# port, four clients each with its own cookie sending GET /counter
# without pause while `crumbctl key rotate STATE_DIR` runs three times
# (the second time promoting a key.next made by `crumbctl key new`).
#
#   tests/e2e-keyrot.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Checks: every answer is 200; each client's counter goes up by exactly
# one per request (no session lost, none restarted) and ends at its
# number of requests + 1; the workers are the same processes at the end;
# a cookie sealed before a rotation is answered (on GET /, which changes
# nothing) with a Set-Cookie sealed with the new key (the cookie's key
# identifier, bytes 1-4, is the first 4 bytes of SHA-256("crumb key id
# v1\0" key)), a cookie of the current key gets none; a cookie whose key
# left both slots (two rotations later) opens no session any more, while
# the re-sealed one still does; key.next was accepted before it sealed.
# Prints one TAP line per check; exits non-zero when one fails, 77 when
# apache2, spawn-fcgi or curl is missing.  The stack is always stopped.
# check passes single-quoted expressions to eval (SC2016); helpers are
# called indirectly (SC2317); variables are read in eval (SC2034).
# shellcheck disable=SC2016,SC2317,SC2034
set -u

# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
CTL=$BUILD/tools/crumbctl
CLIENTS=4

need apache2 spawn-fcgi curl sha256sum base64 od
if [ ! -x "$BUILD/cgi-bin/guestbook" ] || [ ! -x "$CTL" ]; then
	echo "# guestbook or crumbctl not built in $BUILD" >&2
	exit 2
fi

# stack-lib.sh's cleanup, after the clients are stopped.
cleanup() {
	touch "$W/stop"
	wait_clients
	stop_stack
	rm -rf "$W"
}

# ------------------------------------------------------------------
# Keys and cookies

# The key identifier of the key file $1: the first 4 bytes of
# SHA-256("crumb key id v1\0" key), in hex (lib/crypto.c).
key_id() {
	local hex
	hex=$(tr -d ' \t\r\n' < "$1") || return 1
	{ printf 'crumb key id v1\0'
	  printf '%b' "$(printf '%s' "$hex" | sed 's/../\\x&/g')"; } |
	    sha256sum | cut -c1-8
}

# The value of the session cookie "id" in a curl jar.
cookie_of() { awk -F'\t' '$6 == "id" { print $7 }' "$1" 2>/dev/null; }

# The key identifier a sealed cookie value names (bytes 1-4 of its
# base64url decoding, after the version byte).
cookie_key_id() {
	local v=$1
	v=$(printf '%s' "$v" | tr '_-' '/+')
	while [ $(( ${#v} % 4 )) -ne 0 ]; do v="$v="; done
	printf '%s' "$v" | base64 -d 2>/dev/null | head -c 5 | tail -c 4 |
	    od -An -tx1 | tr -d ' \n'
}

# get JAR PATH: GET with the jar (read and updated); CODE, $W/h, $W/b.
get() {
	: > "$W/h"
	CODE=$(curl -s -o "$W/b" -D "$W/h" -w '%{http_code}' --max-time 20 \
	    -b "$1" -c "$1" "$BASE$2")
}
sets_cookie() { grep -qi '^set-cookie: id=' "$W/h"; }
count_is() { [ "$(tr -cd '0-9' < "$W/b")" = "$1" ]; }

# As the state directory's owner, what the workers read is what they
# were given: crumbctl runs as whoever runs this test (root gives the
# new files to the directory's owner).
rotate() {
	if "$CTL" --quiet key rotate "$STATE" 2> "$W/ctl.err"; then
		ok "crumbctl key rotate ($1)"
	else
		nok "crumbctl key rotate ($1)" "$(cat "$W/ctl.err")"
	fi
}

# ------------------------------------------------------------------
# The load: client K sends GET /counter in batches of 10 (one curl, one
# cookie engine) until $W/stop exists; "BODY CODE" lines in $W/cK.log.

CLIENT_PIDS=

client() {
	local k=$1 urls=() i
	for i in $(seq 1 10); do urls+=("$BASE/counter"); done
	while [ ! -e "$W/stop" ]; do
		curl -s -b "$W/jar$k" -c "$W/jar$k" --max-time 20 \
		    -w '\nCODE %{http_code}\n' "${urls[@]}" >> "$W/c$k.log"
	done
}

wait_clients() {
	local pid
	for pid in $CLIENT_PIDS; do wait "$pid" 2>/dev/null; done
	CLIENT_PIDS=
}

# Every answer 200 with a body {"count":N}, N going up by one from $2;
# prints the number of answers, or the first wrong one.
client_ok() {
	awk -v start="$2" '
	    /^CODE / { n++
	               if ($2 != "200") { print "answer " n ": " $0; bad = 1; exit }
	               if (c != start + n) { print "answer " n ": count \"" c \
	                   "\", want " start + n; bad = 1; exit }
	               c = ""; next }
	    /count/ { c = $0; gsub(/[^0-9]/, "", c) }
	    END { if (!bad) print n; exit bad }' "$1"
}

# ------------------------------------------------------------------

if ! start_stack --workers 3; then
	nok "the stack starts"
	echo "1..$N"
	exit 1
fi
ok "the stack starts ($BASE)"
T0=$SECONDS
WORKERS_BEFORE=$(sort "$STATE/run/workers.pid" | tr '\n' ' ')
A=$(key_id "$STATE/key")

# Each client's session, counter at 1; and S, a visitor who comes back
# only between rotations.
for k in $(seq 1 "$CLIENTS"); do
	get "$W/jar$k" /counter
	count_is 1 || nok "client $k starts at 1" "$CODE $(cat "$W/b")"
done
get "$W/jarS" /counter
check "a cookie names the key's identifier (the test reads cookies right)" \
    eval '[ "$(cookie_key_id "$(cookie_of "$W/jarS")")" = "$A" ]'
cp "$W/jarS" "$W/jarS-A"

for k in $(seq 1 "$CLIENTS"); do
	client "$k" &
	CLIENT_PIDS="$CLIENT_PIDS $!"
done
sleep 1.2

# 1: a new random key.
rotate "a new key"
B=$(key_id "$STATE/key")
check "key.old is the key before" eval '[ "$(key_id "$STATE/key.old")" = "$A" ]'
check "key is a new one" eval '[ -n "$B" ] && [ "$B" != "$A" ]'
check "the key files belong to the state directory's owner" \
    eval '[ "$(stat -c %u "$STATE/key")" = "$(stat -c %u "$STATE")" ]'
sleep 1.2
get "$W/jarS" /
check "a cookie of the retired key: GET / answers 200" eval '[ "$CODE" = 200 ]'
check "... with a Set-Cookie sealed with the new key" \
    eval 'sets_cookie && [ "$(cookie_key_id "$(cookie_of "$W/jarS")")" = "$B" ]'
cp "$W/jarS" "$W/jarS-B"
get "$W/jarS" /
check "a cookie of the current key: GET / sets no cookie" eval '! sets_cookie'
get "$W/jarS" /counter
check "the re-sealed cookie keeps the session (count 2)" count_is 2

# 2: key.next, made first and picked up, then promoted.
if "$CTL" --quiet key new "$STATE/key.next" 2> "$W/ctl.err"; then
	ok "crumbctl key new STATE_DIR/key.next"
else
	nok "crumbctl key new STATE_DIR/key.next" "$(cat "$W/ctl.err")"
fi
C=$(key_id "$STATE/key.next")
sleep 1.2
rotate "key.next promoted"
check "key is what key.next was" eval '[ "$(key_id "$STATE/key")" = "$C" ]'
check "key.next is gone" eval '[ ! -e "$STATE/key.next" ]'
sleep 1.2
get "$W/jarS" /
check "a cookie of the retired key gets one sealed with key.next's key" \
    eval 'sets_cookie && [ "$(cookie_key_id "$(cookie_of "$W/jarS")")" = "$C" ]'

# 3: a new random key again: B has left both slots.
rotate "a new key again"
sleep 1.2
cp "$W/jarS-B" "$W/jar-replay"
get "$W/jar-replay" /counter
check "a cookie of a key two rotations back opens no session (count 1)" \
    count_is 1
get "$W/jarS" /counter
check "the re-sealed cookie still holds the session (count 3)" count_is 3
cp "$W/jarS-A" "$W/jar-replay"
get "$W/jar-replay" /counter
check "the first cookie (first key) opens no session either" count_is 1

touch "$W/stop"
wait_clients
total=0
for k in $(seq 1 "$CLIENTS"); do
	if r=$(client_ok "$W/c$k.log" 1) && [ "$r" -gt 0 ]; then
		final=$(( r + 1 ))
		got=$(curl -s -b "$W/jar$k" "$BASE/counter" | tr -cd '0-9')
		if [ "$got" = $(( final + 1 )) ]; then
			ok "client $k: $r answers, all 200, counter 2..$final, no session lost"
		else
			nok "client $k: the session holds $((got - 1)) after $r answers, want $final"
		fi
		total=$((total + r))
	else
		nok "client $k: every answer 200, counter up by one each" "$r"
	fi
done
echo "# $total requests in $((SECONDS - T0)) s, three rotations"
check "the workers were not restarted" \
    eval '[ "$(sort "$STATE/run/workers.pid" | tr "\n" " ")" = "$WORKERS_BEFORE" ] &&
          for p in $WORKERS_BEFORE; do kill -0 "$p" || exit 1; done'
check "no key reload failed (fcgi.log)" \
    eval '! grep -q "key files not reloaded" "$STATE/run/fcgi.log"'

stop_stack
echo "1..$N"
if [ "$FAILS" -ne 0 ]; then
	echo "# $FAILS of $N checks failed"
	exit 1
fi
echo "# all $N checks passed"
exit 0
