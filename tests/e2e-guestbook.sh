#!/bin/bash
# End-to-end test of the guestbook: starts the real stack (private Apache
# + spawn-fcgi, then Apache + mod_cgid) with scripts/stack.sh on a free
# port and a fresh state directory, and drives every route with curl.
#
#   tests/e2e-guestbook.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# E2E_MODES=fcgi (or cgi) runs one mode only.
#
# E2E_STORE=postgresql runs it all against a PostgreSQL-backed guestbook:
# a private server (tests/pg-server.sh, stopped at exit) whose URL goes
# to the stack as CRUMB_STORE, so that sessions and entries both live
# there; rows are then counted with psql rather than sqlite3.
#
# E2E_HOSTS=N (2 or more; implies E2E_STORE=postgresql) runs the same
# checks through scripts/hosts.sh instead: N hosts, each its own Apache
# and workers and state directory, sharing one private PostgreSQL,
# behind HAProxy sending requests round-robin.  Each request may land on
# another host, so every check also shows that the hosts share what the
# guestbook promises to keep; one more check asserts that the requests
# really reached every host (their X-Host headers).
#
# E2E_STORE=redis with E2E_HOSTS=N (2 or more) does the same with the
# sessions in a private Redis and the entries in the PostgreSQL
# (scripts/hosts.sh --store redis): sessions are counted with redis-cli,
# entries with psql, and Redis is restarted as PostgreSQL is.
#
# Prints one TAP line per check ("ok N - ..." / "not ok N - ...") and
# exits non-zero when any check fails; 77 (skip) when apache2,
# spawn-fcgi or curl are missing, or with E2E_STORE=redis when the
# build has no Redis or PostgreSQL store.  The stack is always stopped.
# Checks pass single-quoted expressions to eval on purpose (SC2016), and
# their variables are read there (SC2034); check calls the helpers
# indirectly (SC2317).
# shellcheck disable=SC2016,SC2034,SC2317
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
# Under "make check", AM_TESTS_ENVIRONMENT exports top_builddir.
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 2
GUESTBOOK=$BUILD/cgi-bin/guestbook
KEYGEN=$BUILD/lib/crumb-keygen

N=0
FAILS=0
MODE=setup
STACK_PID=
STATE=
W=$(mktemp -d /tmp/crumb-e2e.XXXXXX) || exit 2
STATES=

for t in apache2 spawn-fcgi multiwatch curl; do
	if ! command -v "$t" >/dev/null; then
		echo "# SKIP: $t not installed (scripts/deps.sh)"
		exit 77
	fi
done
if [ ! -x "$GUESTBOOK" ] || [ ! -x "$KEYGEN" ]; then
	echo "# $GUESTBOOK or $KEYGEN not built" >&2
	exit 2
fi

# Where the stack keeps its sessions: "sqlite" (the state directory's
# files) or "postgresql".  Over loopback TCP with a password: the
# workers run as another user (www-data when root) than the server
# (nobody), and a unix socket in the server's directory is closed to
# them.
STORE=${E2E_STORE:-sqlite}
HOSTS=${E2E_HOSTS:-1}
case $HOSTS in
1) ;;
[2-9])
	[ "$STORE" = redis ] || STORE=postgresql
	if ! command -v haproxy >/dev/null; then
		echo "# haproxy not installed (scripts/deps.sh)" >&2
		exit 2
	fi
	;;
*)
	echo "# E2E_HOSTS must be 1 to 9, not $HOSTS" >&2
	exit 2
	;;
esac
case $STORE in
sqlite) ;;
postgresql|redis)
	if [ "$STORE" = redis ]; then
		if [ "$HOSTS" = 1 ]; then
			echo "# E2E_STORE=redis needs E2E_HOSTS=2 or more" >&2
			exit 2
		fi
		for h in Redis:REDIS PostgreSQL:POSTGRES; do
			if ! grep -q "^#define CRUMB_HAVE_${h#*:} 1" "$BUILD/config.h"; then
				echo "# SKIP: built without the ${h%:*} store"
				exit 77
			fi
		done
		if ! command -v redis-cli >/dev/null; then
			echo "# redis-cli not installed (the Debian package redis-server)" >&2
			exit 2
		fi
		# shellcheck source=tests/redis-server.sh
		. "$SRC/tests/redis-server.sh"
	fi
	for t in psql pg_isready; do
		if ! command -v "$t" >/dev/null; then
			echo "# $t not installed (the Debian package postgresql)" >&2
			exit 2
		fi
	done
	# shellcheck source=tests/pg-server.sh
	. "$SRC/tests/pg-server.sh"
	# With several hosts, scripts/hosts.sh starts the server.
	if [ "$HOSTS" = 1 ]; then
		crumb_pg_start >/dev/null ||
		    { echo "# no PostgreSQL server" >&2; exit 2; }
	fi
	# Each suite gets a database of its own (suite), as it gets a
	# state directory of its own.
	unset GB_DB
	;;
*)
	echo "# E2E_STORE must be sqlite, postgresql or redis, not $STORE" >&2
	exit 2
	;;
esac

# ------------------------------------------------------------------
# Reporting

ok() {
	N=$((N + 1))
	echo "ok $N - $MODE: $1"
}

nok() {
	N=$((N + 1))
	FAILS=$((FAILS + 1))
	echo "not ok $N - $MODE: $1${2:+ ($2)}"
}

# check DESC COMMAND...: one line, passing when COMMAND succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else nok "$desc"; fi
}

# ------------------------------------------------------------------
# HTTP: http JAR CURL-ARGS... runs one request; the status lands in
# CODE, the headers in $W/h and the body in $W/b.  JAR "" means no
# cookie jar (pass -b FILE to replay a saved cookie without updating it).

FIVEXX=
TRANSPORT=

http() {
	local jar=$1
	shift
	local opts=()
	[ -n "$jar" ] && opts=(-b "$jar" -c "$jar")
	: > "$W/h"
	: > "$W/b"
	CODE=$(curl -s -o "$W/b" -D "$W/h" -w '%{http_code}' --max-time 20 \
	    "${opts[@]}" "$@")
	case $CODE in
	5*) FIVEXX="$FIVEXX $CODE:$*" ;;
	# No HTTP answer at all: refused, reset, closed unanswered, timed out.
	000) TRANSPORT="$TRANSPORT $*" ;;
	esac
	# Which host answered (several hosts only).
	tr -d '\r' < "$W/h" | awk 'tolower($1) == "x-host:" { print $2 }' \
	    >> "$W/x-hosts"
}

want_code() {
	if [ "$CODE" = "$1" ]; then ok "$2"; else nok "$2" "got $CODE, want $1"; fi
}

has_header() { grep -Eqi "$1" "$W/h"; }
has_body() { grep -Fq -- "$1" "$W/b"; }
body_is() { [ "$(cat "$W/b")" = "$1" ]; }
set_cookie() { grep -i '^set-cookie: id=' "$W/h" | tr -d '\r'; }
csp_has() { grep -i '^content-security-policy:' "$W/h" | grep -qF -- "$1"; }

# The value of the session cookie "id" in a curl jar.
cookie_of() {
	awk -F'\t' '$6 == "id" { print $7 }' "$1" 2>/dev/null
}

csrf_of_page() {
	grep -o 'name="csrf" value="[^"]*"' "$W/b" | head -n 1 |
	    sed 's/.*value="//; s/"$//'
}

# Runs a command as the owner of the state directory, so that SQLite
# never leaves a root-owned -wal or -shm file behind.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$(stat -c %U "$STATE")" -- "$@"
	else
		"$@"
	fi
}

# The store's SQL, where it lives: sqlite3 on the state directory's
# file, or psql on the PostgreSQL server (with Redis, the one that
# holds the entries).
store_sql() {
	if [ "$STORE" != sqlite ]; then
		psql -XAtq -v ON_ERROR_STOP=1 "$PG_STORE" -c "$1"
	else
		as_owner sqlite3 "$STATE/sessions.db" "PRAGMA busy_timeout=5000;
		    $1" | tail -n 1
	fi
}

# redis-cli on the hosts' Redis (database 0, where they keep sessions).
rcli() {
	REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning \
	    -p "$REDIS_PORT" -n 0 "$@"
}

# The tool store_sql (or rcli) needs is there.
can_count() {
	case $STORE in
	postgresql) command -v psql >/dev/null ;;
	redis) command -v redis-cli >/dev/null ;;
	*) command -v sqlite3 >/dev/null ;;
	esac
}

session_rows() {
	if [ "$STORE" = redis ]; then
		rcli --scan --pattern 'crumb:s:*' 2>/dev/null | grep -c .
	else
		store_sql 'SELECT count(*) FROM crumb_sessions' 2>/dev/null
	fi
}

# (yes and head: bash's own ${s// /c} takes seconds on 70,000
# characters; CHAR may be several bytes, such as é.)
repeat() { # repeat CHAR COUNT
	yes "$1" | head -n "$2" | tr -d '\n'
}

# ------------------------------------------------------------------
# The stack

# Below Linux's ephemeral range (32768 and up): a port there may be the
# local end of some outgoing connection, and Apache's bind would fail.
port_in_use() {
	if command -v ss >/dev/null; then
		[ -n "$(ss -Htan "sport = :$1")" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		if ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

stop_stack() {
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null
		wait "$STACK_PID" 2>/dev/null
		STACK_PID=
	fi
}

# start_stack MODE: sets PORT, BASE, STATE.  A port taken between the
# check and Apache's bind is retried with another.
start_stack() {
	local mode=$1 try
	for try in 1 2 3; do
		STATE=$(mktemp -d /tmp/crumb-e2e-state.XXXXXX) || return 1
		STATES="$STATES $STATE"
		PORT=$(free_port) || return 1
		BASE=http://127.0.0.1:$PORT
		: > "$W/stack.out"
		if [ "$HOSTS" = 1 ]; then
			CRUMB_INSECURE_COOKIE=1 PURGE_INTERVAL=2 \
			    "$SRC/scripts/stack.sh" --port "$PORT" \
			    --state-dir "$STATE" --mode "$mode" --workers 2 \
			    --build-dir "$BUILD" > "$W/stack.out" \
			    2> "$W/stack-$mode.err" &
		else
			CRUMB_INSECURE_COOKIE=1 PURGE_INTERVAL=2 \
			    "$SRC/scripts/hosts.sh" --port "$PORT" \
			    --state-dir "$STATE" --hosts "$HOSTS" \
			    --mode "$mode" --workers 2 --store "$STORE" \
			    --build-dir "$BUILD" \
			    > "$W/stack.out" 2> "$W/stack-$mode.err" &
		fi
		STACK_PID=$!
		for _ in $(seq 1 450); do
			if grep -q '^READY ' "$W/stack.out"; then
				[ "$HOSTS" = 1 ] || hosts_pg
				return 0
			fi
			kill -0 "$STACK_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_stack
		echo "# stack did not start (try $try):" >&2
		sed 's/^/#   /' "$W/stack-$mode.err" >&2
	done
	return 1
}

# Several hosts: the servers scripts/hosts.sh started, in the state
# directory, are the ones store_sql, rcli, pg_restart and redis_restart
# use.
hosts_pg() {
	set -a
	# shellcheck disable=SC1091
	. "$STATE/pg/env"
	set +a
	CRUMB_PG_DIR=$STATE/pg
	PG_STORE=$PGURL_TCP
	[ "$STORE" = redis ] || return 0
	set -a
	# shellcheck disable=SC1091
	. "$STATE/redis/env"
	set +a
	CRUMB_REDIS_DIR=$STATE/redis
}

# The logs of the stack's program: one host's, or every host's.
program_logs() {
	if [ "$HOSTS" = 1 ]; then
		echo "$STATE/run/error.log $STATE/run/fcgi.log"
	else
		echo "$STATE"/host*/run/error.log "$STATE"/host*/run/fcgi.log
	fi
}

# What the stack that purges wrote on stderr.
purger_log() {
	if [ "$HOSTS" = 1 ]; then
		echo "$W/stack-$MODE.err"
	else
		echo "$STATE/run/host1.log"
	fi
}

cleanup() {
	stop_stack
	# shellcheck disable=SC2086
	rm -rf "$W" $STATES
	# This trap replaced the one crumb_pg_start set.
	[ -z "${CRUMB_PG_DIR:-}" ] || crumb_pg_stop "$CRUMB_PG_DIR"
	[ -z "${CRUMB_REDIS_DIR:-}" ] || crumb_redis_stop "$CRUMB_REDIS_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The SHA-256 (base64) of the page's inline style sheet, as a CSP
# hash-source names it.
style_hash() {
	local hex
	sed -n 's/.*<style>\(.*\)<\/style>.*/\1/p' "$W/b" | head -n 1 |
	    tr -d '\n' > "$W/style"
	hex=$(sha256sum < "$W/style" | cut -d' ' -f1)
	# shellcheck disable=SC2059
	printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64
}

# ------------------------------------------------------------------
# The checks, run once per mode

anonymous_page() {
	local hash
	http "" "$BASE/"
	want_code 200 "GET / anonymous is 200"
	check "GET / is text/html" has_header '^content-type: text/html'
	check "GET / has Cache-Control: no-store" \
	    has_header '^cache-control: no-store'
	check "anonymous GET / sets no cookie" \
	    eval '! has_header "^set-cookie:"'
	check "anonymous page has the sign-in form" has_body 'id="login"'
	check "anonymous page has no sign-out form" \
	    eval '! has_body "id=\"logout\""'
	check "GET / has X-Content-Type-Options: nosniff" \
	    has_header '^x-content-type-options: nosniff'
	check "GET / has a CSP with frame-ancestors 'none'" \
	    csp_has "frame-ancestors 'none'"
	check "the CSP has default-src 'none'" csp_has "default-src 'none'"
	check "the CSP has form-action 'self'" csp_has "form-action 'self'"
	check "the CSP has base-uri 'none'" csp_has "base-uri 'none'"
	hash=$(style_hash)
	check "the CSP allows the page's style sheet by its hash" \
	    csp_has "style-src 'sha256-$hash'"
	csp_has "sha256-$hash" ||
	    echo "#   the style sheet's hash is now sha256-$hash (cgi-bin/gb-html.c)"
	http "" -I "$BASE/"
	want_code 200 "HEAD / is 200"
	check "HEAD / is text/html" has_header '^content-type: text/html'
	http "" "$BASE/nope"
	check "an error page has the CSP too" csp_has "frame-ancestors 'none'"
}

# An anonymous visitor who only reads stores nothing, with or without
# a cookie that carries only client-side state.
anonymous_no_record() {
	local before after j=$W/jar-anon-theme
	check "the store's SQL client is installed" can_count || return 0
	before=$(session_rows)
	http "" "$BASE/"
	http "" "$BASE/"
	http "$j" -d 'theme=dark' "$BASE/theme"
	http "$j" "$BASE/"
	http "" -H 'Cookie: id=AAAAAAAAAAAAAAAAAAAAAAAAAAAA' "$BASE/"
	after=$(session_rows)
	check "anonymous GET / creates no session record ($before -> $after)" \
	    eval '[ -n "$before" ] && [ "$before" = "$after" ]'
}

counter() {
	local j=$W/jar-counter
	http "" "$BASE/counter"
	check "counter without a cookie is 1" body_is '{"count":1}'
	check "counter is application/json" \
	    has_header '^content-type: application/json'
	http "" "$BASE/counter"
	check "counter without a cookie is 1 again" body_is '{"count":1}'
	http "$j" "$BASE/counter"
	check "counter with a jar starts at 1" body_is '{"count":1}'
	check "the cookie is HttpOnly" eval 'set_cookie | grep -qi "; HttpOnly"'
	check "the cookie is SameSite=Lax" \
	    eval 'set_cookie | grep -qi "; SameSite=Lax"'
	check "the cookie has Path=/" eval 'set_cookie | grep -qi "; Path=/"'
	check "the cookie has a Max-Age" \
	    eval 'set_cookie | grep -qiE "; Max-Age=[1-9]"'
	check "the cookie has no Secure (insecure demo flag)" \
	    eval '! set_cookie | grep -qi "; Secure"'
	http "$j" "$BASE/counter"
	check "counter then 2" body_is '{"count":2}'
	http "$j" "$BASE/counter"
	check "counter then 3" body_is '{"count":3}'
}

# Signs in with the jar $J (which already holds a session with a
# counter) and checks that the old ID is dead and the state kept.
login() {
	local before after
	http "$J" "$BASE/counter"
	http "$J" "$BASE/counter"
	check "pre-login session counts to 2" body_is '{"count":2}'
	cp "$J" "$W/pre-login"
	before=$(cookie_of "$J")
	http "$J" --data-urlencode 'name=alice <b>&' "$BASE/login"
	want_code 303 "POST /login is 303"
	check "login redirects to /" has_header '^location: /\s*$'
	check "login sets the cookie" eval '[ -n "$(set_cookie)" ]'
	after=$(cookie_of "$J")
	check "the cookie changes at login" \
	    eval '[ -n "$before" ] && [ "$before" != "$after" ]'
	http "" -b "$W/pre-login" "$BASE/"
	check "the pre-login cookie is not signed in" \
	    eval 'has_body "id=\"login\"" && ! has_body "alice"'
	http "" -b "$W/pre-login" "$BASE/counter"
	check "the pre-login ID no longer finds the session" \
	    body_is '{"count":1}'
	http "$J" "$BASE/counter"
	check "the state survives the ID change (counter 3)" \
	    body_is '{"count":3}'
	http "$J" "$BASE/"
	want_code 200 "GET / signed in is 200"
	check "the page shows the name, escaped" \
	    has_body 'id="user">alice &lt;b&gt;&amp;</strong>'
	check "the page has the post form" has_body 'id="post"'
	check "the page has the sign-out form" has_body 'id="logout"'
	TOKEN=$(csrf_of_page)
	check "the page carries a csrf token" eval '[ ${#TOKEN} -ge 16 ]'
}

bad_login() { # DESC EXPLANATION CURL-DATA-ARGS...
	local desc=$1 why=$2
	shift 2
	http "$J" "$@" "$BASE/login"
	want_code 400 "login refuses $desc with 400"
	check "the 400 for $desc explains" has_body "$why"
	check "the 400 for $desc sets no cookie" \
	    eval '! has_header "^set-cookie:"'
}

bad_logins() {
	local len='1 to 64 characters'
	bad_login "an empty name" "$len" -d 'name='
	bad_login "a missing name" "$len" -d 'other=1'
	bad_login "65 characters" "$len" -d "name=$(repeat a 65)"
	bad_login "invalid UTF-8" 'invalid UTF-8' -d 'name=%FF%FE'
	bad_login "a control character" "$len" -d 'name=a%01b'
	bad_login "only blanks" "$len" -d 'name=+++'
	http "$J" "$BASE/"
	check "after the refused logins still signed in as alice" \
	    has_body 'id="user">alice'
	http "$W/jar-long" --data-urlencode "name=$(repeat é 64)" "$BASE/login"
	want_code 303 "login takes 64 two-byte characters"
	local fmt='invisible formatting characters'
	bad_login "only U+200B" "$fmt" -d 'name=%E2%80%8B'
	bad_login "U+202E inside" "$fmt" -d 'name=bob%E2%80%AEevil'
	bad_login "U+FEFF" "$fmt" -d 'name=%EF%BB%BFbob'
	bad_login "U+E0041 (a tag)" "$fmt" -d 'name=bob%F3%A0%81%81'
	bad_login "only U+00A0 and U+3000" 'one visible character' \
	    -d 'name=%C2%A0%E3%80%80'
	bad_login "only U+3164" 'one visible character' -d 'name=%E3%85%A4'
	http "$J" "$BASE/"
	check "after the invisible names still signed in as alice" \
	    has_body 'id="user">alice'
	http "$W/jar-emoji" --data-urlencode 'name=Zoë 😀' "$BASE/login"
	want_code 303 "login takes a name with an accent and an emoji"
}

# Another site's page must not sign a visitor in, nor post: the
# browser says where a form comes from (Origin, Sec-Fetch-Site).
forged_login() { # HEADER DESCRIPTION
	http "$W/jar-cross" -H "$1" -d 'name=mallory' "$BASE/login"
	want_code 403 "POST /login with $2 is 403"
}

cross_site() {
	local j=$W/jar-cross before after
	before=$(session_rows)
	forged_login 'Origin: http://evil.example' "Origin http://evil.example"
	check "the cross-site 403 sets no cookie" \
	    eval '! has_header "^set-cookie:"'
	check "the cross-site 403 explains" has_body 'own pages'
	after=$(session_rows)
	if can_count; then
		check "the cross-site sign-in stored no session" \
		    eval '[ -n "$before" ] && [ "$before" = "$after" ]'
	fi
	forged_login 'Sec-Fetch-Site: cross-site' "Sec-Fetch-Site: cross-site"
	forged_login 'Sec-Fetch-Site: same-site' "Sec-Fetch-Site: same-site"
	forged_login "Origin: http://127.0.0.1:$((PORT + 1))" "another port"
	forged_login "Origin: https://127.0.0.1:$PORT" "https on the same port"
	forged_login 'Origin: null' "Origin null"
	http "$J" -H 'Origin: http://evil.example' \
	    -d "message=forged&csrf=$TOKEN" "$BASE/post"
	want_code 403 "POST /post from another origin is 403, even with the token"
	http "$J" -H 'Sec-Fetch-Site: cross-site' -d 'theme=light' \
	    "$BASE/theme"
	want_code 403 "POST /theme cross-site is 403"
	http "$j" -H "Origin: $BASE" -H 'Sec-Fetch-Site: same-origin' \
	    -d 'name=carol' "$BASE/login"
	want_code 303 "a same-origin POST /login (Origin, Sec-Fetch-Site) is 303"
	http "$j" "$BASE/"
	check "the same-origin sign-in worked" has_body 'id="user">carol'
	http "$j" -H "Origin: http://localhost:$PORT" -H "Host: localhost:$PORT" \
	    -d 'name=dave' "$BASE/login"
	want_code 303 "Origin matching the Host header is 303"
}

post() {
	local j3=$W/jar-anon
	http "$J" -d 'message=hi' "$BASE/post"
	want_code 403 "post without csrf is 403"
	http "$J" -d 'message=hi&csrf=wrong' "$BASE/post"
	want_code 403 "post with a wrong csrf is 403"
	http "$J" -d 'message=hi&csrf=' "$BASE/post"
	want_code 403 "post with an empty csrf is 403"
	http "$j3" -d "message=hi&csrf=$TOKEN" "$BASE/post"
	want_code 403 "post while not signed in is 403"
	http "$J" -d "message=&csrf=$TOKEN" "$BASE/post"
	want_code 400 "post with an empty message is 400"
	http "$J" -d "message=$(repeat a 1001)&csrf=$TOKEN" "$BASE/post"
	want_code 400 "post with 1001 characters is 400"
	http "$J" --data-urlencode 'message=<script>alert(1)</script>' \
	    -d "csrf=$TOKEN" "$BASE/post"
	want_code 303 "post is 303"
	check "post redirects to /" has_header '^location: /\s*$'
	http "$J" --data-urlencode 'message=second entry' \
	    -d "csrf=$TOKEN" "$BASE/post"
	want_code 303 "second post is 303"
	http "$J" "$BASE/"
	check "the flash is shown" \
	    eval 'has_body "id=\"flash\"" && has_body "Thanks for signing"'
	check "the entry is rendered escaped" \
	    has_body '&lt;script&gt;alert(1)&lt;/script&gt;'
	check "no raw <script> in the page" eval '! has_body "<script>"'
	check "entries are newest first" newest_first
	http "$J" "$BASE/"
	check "the flash is shown only once" eval '! has_body "id=\"flash\""'
}

# PostgreSQL: the entries are shared, so a row another host wrote shows
# on every worker at the next request, whatever each one cached.
shared_entries() {
	local n i seen=0
	[ "$STORE" != sqlite ] || return 0
	n=$(store_sql "SELECT count(*) FROM guestbook_entries
	    WHERE message = 'second entry'" 2>/dev/null)
	check "the entries are in PostgreSQL (guestbook_entries: $n)" \
	    eval '[ -n "$n" ] && [ "$n" -ge 1 ]'
	for i in 1 2 3 4; do http "$J" "$BASE/"; done
	store_sql "INSERT INTO guestbook_entries (author, message, created)
	    VALUES ('elsewhere', 'from another host $MODE',
	    extract(epoch FROM now())::bigint)" >/dev/null
	for i in 1 2 3 4; do
		http "$J" "$BASE/"
		has_body "from another host $MODE" && seen=$((seen + 1))
	done
	check "an entry written elsewhere shows at once ($seen of 4 pages)" \
	    eval '[ "$seen" = 4 ]'
}

# back_after_restart SERVER JAR: after SERVER's restart, GET / with JAR
# until it is 200, 12 tries 0.2 s apart (a balancer leaves out, for up
# to half a second, a host that answered 503 to its health check);
# checks that it came back and that the answers meanwhile were 503s.
back_after_restart() {
	local codes='' i back='' jr=$2
	for i in $(seq 1 12); do
		http "$jr" "$BASE/"
		codes="$codes $CODE"
		if [ "$CODE" = 200 ]; then back=$i; break; fi
		sleep 0.2
	done
	check "after a $1 restart GET / is 200 again within 12 tries in 2.4 s ($codes)" \
	    eval '[ -n "$back" ]'
	check "meanwhile only 503s" \
	    eval '[ -z "$(echo "$codes" | tr " " "\n" | grep -Ev "^(|200|503)$")" ]'
}

# PostgreSQL restarted under a running stack: the workers reconnect by
# themselves.  Requests meanwhile may fail, but only with 503; the 5xx
# tally is kept apart, and this runs after logs_clean (the failures are
# logged).
pg_restart() {
	local saved=$FIVEXX jr=$W/jar-restart
	[ "$STORE" != sqlite ] || return 0
	http "$jr" -d 'name=Restart' "$BASE/login"
	want_code 303 "signed in before the restart"
	crumb_pg_pause >/dev/null 2>&1 && crumb_pg_resume >/dev/null 2>&1
	check "the PostgreSQL server restarted" pg_isready -q -h 127.0.0.1 \
	    -p "$PG_PORT"
	back_after_restart PostgreSQL "$jr"
	check "the signed-in session survived the restart" has_body 'id="logout"'
	FIVEXX=$saved
}

# Redis (appendonly yes) stopped by SIGTERM and started again on its
# append-only file under the running hosts: they reconnect by
# themselves, 503 meanwhile, and a signed-in session is still there.
redis_restart() {
	local saved=$FIVEXX jr=$W/jar-redis-restart
	[ "$STORE" = redis ] || return 0
	http "$jr" -d 'name=Restart' "$BASE/login"
	want_code 303 "signed in before the Redis restart"
	crumb_redis_pause >/dev/null 2>&1 && crumb_redis_resume >/dev/null 2>&1
	check "the Redis server restarted" \
	    eval '[ "$(rcli ping 2>/dev/null)" = PONG ]'
	back_after_restart Redis "$jr"
	check "the signed-in session survived the Redis restart (append-only file)" \
	    has_body 'id="logout"'
	FIVEXX=$saved
}

newest_first() {
	local a b
	a=$(grep -n -F 'second entry' "$W/b" | head -n 1 | cut -d: -f1)
	b=$(grep -n -F '&lt;script&gt;' "$W/b" | head -n 1 | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

theme() {
	local j4=$W/jar-theme rows_before rows_after
	http "$J" -d 'theme=dark' "$BASE/theme"
	want_code 303 "POST /theme is 303"
	http "$J" "$BASE/"
	check "the theme shows as a class on body" has_body '<body class="dark">'
	http "$J" -d 'theme=blue' "$BASE/theme"
	want_code 400 "an unknown theme is 400"
	http "$J" "$BASE/"
	check "the theme persists" has_body '<body class="dark">'
	rows_before=$(session_rows)
	http "$j4" -d 'theme=dark' "$BASE/theme"
	want_code 303 "anonymous POST /theme is 303"
	check "anonymous theme sets a cookie" eval '[ -n "$(set_cookie)" ]'
	http "$j4" "$BASE/"
	check "anonymous theme shows on body" has_body '<body class="dark">'
	rows_after=$(session_rows)
	if can_count; then
		check "the theme is client-side: no server record" \
		    eval '[ -n "$rows_before" ] && [ "$rows_before" = "$rows_after" ]'
	fi
}

logout() {
	cp "$J" "$W/signed-in"
	http "$J" -d '' "$BASE/logout"
	want_code 403 "logout without csrf is 403"
	http "$J" -d 'csrf=bad' "$BASE/logout"
	want_code 403 "logout with a wrong csrf is 403"
	http "$J" "$BASE/"
	check "still signed in after refused logouts" has_body 'id="user">alice'
	http "$J" -d "csrf=$TOKEN" "$BASE/logout"
	want_code 303 "logout is 303"
	check "logout redirects to /" has_header '^location: /\s*$'
	check "logout expires the cookie (Max-Age=0)" \
	    eval 'set_cookie | grep -qi "; Max-Age=0"'
	http "" -b "$W/signed-in" "$BASE/"
	check "the old cookie after logout is not signed in" \
	    eval 'has_body "id=\"login\"" && ! has_body "id=\"user\""'
	http "" -b "$W/signed-in" -d "message=x&csrf=$TOKEN" "$BASE/post"
	want_code 403 "the old cookie cannot post after logout"
	http "" -b "$W/signed-in" "$BASE/counter"
	check "the old cookie's server state is gone" body_is '{"count":1}'
}

# /sessions: the id_hash of the listed row whose text has $1.
hash_of_row() {
	grep -F '<tr class="session' "$W/b" | grep -F -- "$1" | head -n 1 |
	    grep -o 'name="id_hash" value="[0-9a-fA-F]*"' |
	    sed 's/.*value="//; s/"$//'
}

session_count() { grep -c '<tr class="session' "$W/b"; }
current_is() {
	has_body "<tr class=\"session current\"><td class=\"label\">$1</td>"
}
# Rows whose two times are readable UTC with an ISO datetime.
utc_rows() {
	grep -c '<time datetime="[0-9T:-]*Z">[0-9: -]* UTC</time>.*</time>' \
	    "$W/b"
}

# signed_in_as NAME JAR CURL-ARGS...: GET / is signed in as NAME.
signed_in_as() {
	local name=$1
	shift
	http "$@" "$BASE/"
	has_body "id=\"user\">$name</strong>"
}

# is_anonymous JAR CURL-ARGS...: GET / is not signed in.
is_anonymous() {
	http "$@" "$BASE/"
	has_body 'id="login"' && ! has_body 'id="user"'
}

# One user signed in from three browsers (jars 1-3, each with its own
# User-Agent) manages the others from the first; a second user (jars 4
# and 5) holds sessions that the first must not end.
sessions() {
	local j1=$W/jar-s1 j2=$W/jar-s2 j3=$W/jar-s3 j4=$W/jar-s4 j5=$W/jar-s5
	local ua1='Device-One/1.0' ua2='Device-Two/2.0'
	local ua3='Evil <script>alert(3)</script>' ua4='Other-User/4.0'
	local tok h1 h2 h4 before after
	http "" "$BASE/sessions"
	want_code 303 "anonymous GET /sessions is 303"
	check "anonymous /sessions redirects to /" has_header '^location: /\s*$'
	check "anonymous /sessions sets no cookie" \
	    eval '! has_header "^set-cookie:"'
	http "$j1" -A "$ua1" -d 'name=sam' "$BASE/login"
	http "$j2" -A "$ua2" -d 'name=sam' "$BASE/login"
	http "$j3" -A "$ua3" -d 'name=sam' "$BASE/login"
	http "$j4" -A "$ua4" -d 'name=tom' "$BASE/login"
	http "$j5" -A '' -d 'name=tom' "$BASE/login"
	http "$j1" -A "$ua1" "$BASE/"
	check "the signed-in front page links to /sessions" \
	    has_body 'href="/sessions"'
	http "$j1" -A "$ua1" "$BASE/sessions"
	want_code 200 "GET /sessions signed in is 200"
	check "/sessions has the CSP naming its style sheet" \
	    csp_has "style-src 'sha256-$(style_hash)'"
	check "/sessions lists the user's 3 sessions" \
	    eval '[ "$(session_count)" = 3 ]'
	check "/sessions marks exactly one as this device" \
	    eval '[ "$(grep -c "this device" "$W/b")" = 1 ]'
	check "this device is the session of jar 1" current_is "$ua1"
	check "/sessions shows the other labels" has_body ">$ua2</td>"
	check "a label with <script> is shown escaped" \
	    has_body '>Evil &lt;script&gt;alert(3)&lt;/script&gt;</td>'
	check "no raw <script> on /sessions" eval '! has_body "<script>"'
	check "/sessions shows both times of each in UTC" \
	    eval '[ "$(utc_rows)" = 3 ]'
	check "another user's sessions are not listed" eval '! has_body "$ua4"'
	check "/sessions has the sign-out-others form" \
	    has_body 'action="/sessions/others"'
	tok=$(csrf_of_page)
	h1=$(hash_of_row 'session current')
	h2=$(hash_of_row "$ua2")
	check "each session has a sign-out form with its hash" \
	    eval '[ ${#h1} = 64 ] && [ ${#h2} = 64 ] && [ "$h1" != "$h2" ]'
	http "$j4" -A "$ua4" "$BASE/sessions"
	h4=$(hash_of_row "$ua4")
	check "a session without a User-Agent is an unknown device" \
	    has_body '<em>unknown device</em>'
	http "$j1" -A 'Device-One/1.1' "$BASE/"
	http "$j1" -A 'Device-One/1.1' "$BASE/sessions"
	check "a new User-Agent relabels the session" current_is Device-One/1.1
	ua1='Device-One/1.1'

	http "$j1" -A "$ua1" -d "id_hash=$h2" "$BASE/sessions/revoke"
	want_code 403 "revoke without csrf is 403"
	http "$j1" -A "$ua1" -d "id_hash=$h2&csrf=wrong" "$BASE/sessions/revoke"
	want_code 403 "revoke with a wrong csrf is 403"
	http "$j1" -A "$ua1" -H 'Origin: http://evil.example' \
	    -d "id_hash=$h2&csrf=$tok" "$BASE/sessions/revoke"
	want_code 403 "revoke from another origin is 403, even with the token"
	http "$j1" -A "$ua1" -d "id_hash=zz&csrf=$tok" "$BASE/sessions/revoke"
	want_code 400 "revoke with a malformed hash is 400"
	http "$j1" -A "$ua1" -d "csrf=$tok" "$BASE/sessions/revoke"
	want_code 400 "revoke without a hash is 400"
	http "$j1" -A "$ua1" -d "id_hash=$(repeat 0 64)&csrf=$tok" \
	    "$BASE/sessions/revoke"
	want_code 404 "revoke of an unknown hash is 404"
	http "$j1" -A "$ua1" -d "id_hash=$h4&csrf=$tok" "$BASE/sessions/revoke"
	want_code 404 "revoke of another user's session is 404"
	check "the other user's session survives" \
	    signed_in_as tom "$j4" -A "$ua4"
	http "$j2" -A "$ua2" -d "id_hash=$h2&csrf=$tok" "$BASE/sessions/revoke"
	want_code 403 "another session's token does not revoke"
	check "jar 2 is still signed in after the refused revokes" \
	    signed_in_as sam "$j2" -A "$ua2"

	http "$j1" -A "$ua1" -d "id_hash=$h2&csrf=$tok" "$BASE/sessions/revoke"
	want_code 303 "revoke is 303"
	check "revoke redirects to /sessions" \
	    has_header '^location: /sessions\s*$'
	http "$j1" -A "$ua1" "$BASE/sessions"
	check "the revoke's flash is shown" \
	    has_body 'id="flash" role="status">Signed out one session</p>'
	check "/sessions lists 2 sessions after the revoke" \
	    eval '[ "$(session_count)" = 2 ]'
	check "jar 2 is anonymous after the revoke" is_anonymous "$j2" -A "$ua2"
	check "jar 1 is still signed in" signed_in_as sam "$j1" -A "$ua1"
	check "jar 3 is still signed in" signed_in_as sam "$j3" -A "$ua3"
	http "$j1" -A "$ua1" -d "id_hash=$h2&csrf=$tok" "$BASE/sessions/revoke"
	want_code 404 "revoking a revoked session again is 404"

	http "$j1" -A "$ua1" -d '' "$BASE/sessions/others"
	want_code 403 "sign out others without csrf is 403"
	http "$j1" -A "$ua1" -d 'csrf=wrong' "$BASE/sessions/others"
	want_code 403 "sign out others with a wrong csrf is 403"
	http "$j1" -A "$ua1" -H 'Sec-Fetch-Site: cross-site' -d "csrf=$tok" \
	    "$BASE/sessions/others"
	want_code 403 "sign out others cross-site is 403"
	http "$j1" -A "$ua1" -H 'Origin: http://evil.example' -d "csrf=$tok" \
	    "$BASE/sessions/others"
	want_code 403 "sign out others from another origin is 403"
	check "jar 3 is still signed in after the refused sign-outs" \
	    signed_in_as sam "$j3" -A "$ua3"
	http "" -d "csrf=$tok" "$BASE/sessions/others"
	want_code 403 "sign out others while not signed in is 403"
	http "$j1" -A "$ua1" -d "csrf=$tok" "$BASE/sessions/others"
	want_code 303 "sign out others is 303"
	check "sign out others redirects to /sessions" \
	    has_header '^location: /sessions\s*$'
	http "$j1" -A "$ua1" "$BASE/sessions"
	check "the flash counts the sessions signed out" \
	    has_body '>1 other session signed out</p>'
	check "/sessions then lists only this device" \
	    eval '[ "$(session_count)" = 1 ] && has_body "this device"'
	check "jar 3 is anonymous after sign out others" \
	    is_anonymous "$j3" -A "$ua3"
	check "jar 1 is still signed in after sign out others" \
	    signed_in_as sam "$j1" -A "$ua1"
	check "tom's sessions survive sam's sign out others" \
	    signed_in_as tom "$j4" -A "$ua4"

	cp "$j1" "$W/signed-in"
	http "$j1" -A "$ua1" -d "id_hash=$h1&csrf=$tok" "$BASE/sessions/revoke"
	want_code 303 "revoking this device's session is 303"
	check "revoking this device's session redirects to /" \
	    has_header '^location: /\s*$'
	check "revoking this device's session expires its cookie" \
	    eval 'set_cookie | grep -qi "; Max-Age=0"'
	check "the old cookie of this device is not signed in" \
	    is_anonymous "" -b "$W/signed-in"
}

errors() {
	local p
	# (Apache merges "//" into "/" before the program sees it.)
	for p in /nope /login/ /counter/x /index.html; do
		http "" "$BASE$p"
		want_code 404 "GET $p is 404"
	done
	http "" "$BASE/login"
	want_code 405 "GET /login is 405"
	check "405 on /login allows POST" has_header '^allow: POST'
	http "" -X DELETE "$BASE/"
	want_code 405 "DELETE / is 405"
	check "405 on / allows GET, HEAD" has_header '^allow: GET, HEAD'
	http "" -d 'x=1' "$BASE/counter"
	want_code 405 "POST /counter is 405"
	http "" -X PUT -d 'name=x' "$BASE/login"
	want_code 405 "PUT /login is 405"
	printf 'name=%s' "$(repeat a 70000)" > "$W/big"
	http "" --data-binary @"$W/big" "$BASE/login"
	want_code 413 "a 70000-byte body is 413"
	http "" --data-binary @"$W/big" "$BASE/nope"
	want_code 404 "a big body to an unknown path is 404"
	http "" -X POST "$BASE/login"
	want_code 411 "POST without a length is 411"
	http "" -d 'name=%zz' "$BASE/login"
	want_code 400 "a malformed form is 400"
	http "" -H 'Content-Type: text/plain' -d 'name=x' "$BASE/login"
	want_code 415 "a text/plain body is 415"
	http "" -H 'Content-Type: application/x-www-form-urlencoded; charset=iso-8859-1' \
	    -d 'name=x' "$BASE/login"
	want_code 415 "a form in another charset is 415"
	http "$W/jar-charset" \
	    -H 'Content-Type: application/x-www-form-urlencoded; charset=UTF-8' \
	    -d 'name=x' "$BASE/login"
	want_code 303 "a form with charset=UTF-8 is accepted"
	http "" -d 'name=a%00b' "$BASE/login"
	want_code 400 "a NUL in the form is 400"
	http "" -d "name=x$(printf '&f%d=1' $(seq 1 300))" "$BASE/login"
	want_code 400 "a form of 301 fields is 400"
	check "... and the page names the field limit, not an encoding" \
	    eval 'has_body "more than 256 fields" && ! has_body "bad escape"'
	printf 'name=%s' "$(repeat a 65531)" > "$W/edge"
	http "" --data-binary @"$W/edge" "$BASE/login"
	want_code 400 "a body of exactly 64 KiB is read (400: the name is too long)"
	check "the 64 KiB body is refused for its name, not its size" \
	    has_body '1 to 64 characters'
	printf 'name=%s' "$(repeat a 65532)" > "$W/edge"
	http "" --data-binary @"$W/edge" "$BASE/login"
	want_code 413 "a body of 64 KiB + 1 is 413"
	http "" -H 'Cookie: id=AAAAAAAAAAAAAAAAAAAAAAAAAAAA; x=y' "$BASE/"
	want_code 200 "a forged cookie gives a fresh anonymous page"
	http "" -H "Cookie: id=$(repeat A 3000)" "$BASE/counter"
	check "a huge forged cookie on /counter is 1" body_is '{"count":1}'
	http "" -H 'Cookie: id=%00%ff;;;=' "$BASE/"
	want_code 200 "a garbage cookie header gives 200"
}

# The program's own error lines, and sanitizer reports of an
# --enable-asan build (CGI stderr lands in error.log, the workers' in
# fcgi.log or, while serving, error.log).
LOG_ERRORS='guestbook:|AddressSanitizer|LeakSanitizer|runtime error:'

logs_clean() {
	local f bad=
	for f in $(program_logs); do
		[ -f "$f" ] || continue
		grep -Eq "$LOG_ERRORS" "$f" && bad="$bad $f"
	done
	if [ -z "$bad" ]; then
		ok "the program logged no errors"
	else
		nok "the program logged no errors" "see$bad"
		# shellcheck disable=SC2086
		grep -hE "$LOG_ERRORS" $bad | head -n 5 | sed 's/^/#   /'
	fi
}

# crumbctl purge runs every PURGE_INTERVAL (2 s here): an expired record
# goes within a few seconds.
purge() {
	local now gone=
	check "crumbctl was built" test -x "$BUILD/tools/crumbctl"
	check "the stack purges on a schedule" \
	    grep -q 'purging expired sessions every 2 s' "$(purger_log)"
	check "the store's shell is installed" can_count || return 0
	now=$(date +%s)
	# The stack purges the workers' CRUMB_STORE, SQLite or PostgreSQL,
	# or Redis: a session whose expiry passed that Redis has not
	# deleted yet (it has no TTL), and a dead member of a user's index.
	if [ "$STORE" = redis ]; then
		rcli hset "crumb:s:$(echo "$now" | sha256sum | cut -c1-64)" \
		    state '{}' version 1 created $((now - 100)) \
		    last_seen $((now - 100)) expires $((now - 10)) >/dev/null
		rcli zadd crumb:u:e2e-ghost $((now - 10)) \
		    "$(echo "ghost $now" | sha256sum | cut -c1-64)" >/dev/null
		for _ in $(seq 1 40); do
			gone=$(( $(rcli --scan --pattern 'crumb:s:*' |
			    while read -r k; do rcli hget "$k" expires; done |
			    awk -v now="$now" '$1 <= now' | grep -c .) +
			    $(rcli exists crumb:u:e2e-ghost) ))
			[ "$gone" = 0 ] && break
			sleep 0.25
		done
		check "an expired record and index entry are purged within 10 s" \
		    eval '[ "$gone" = 0 ]'
		return 0
	elif [ "$STORE" = postgresql ]; then
		store_sql "INSERT INTO crumb_sessions (id, state, version,
		    \"user\", created, last_seen, expires) VALUES
		    (decode(md5('$now'), 'hex'), '{}', 1, NULL, $((now - 100)),
		    $((now - 100)), $((now - 10)))" >/dev/null
	else
		store_sql "INSERT INTO crumb_sessions (id, state, version, user,
		    created, last_seen, expires) VALUES (randomblob(32), '{}',
		    1, NULL, $((now - 100)), $((now - 100)), $((now - 10)))" \
		    >/dev/null
	fi
	for _ in $(seq 1 40); do
		gone=$(store_sql "SELECT count(*) FROM crumb_sessions
		    WHERE expires <= $now" 2>/dev/null)
		[ "$gone" = 0 ] && break
		sleep 0.25
	done
	check "an expired record is purged within 10 s" eval '[ "$gone" = 0 ]'
}

suite() {
	MODE=$1
	FIVEXX=
	TRANSPORT=
	J=$W/jar-$MODE
	rm -f "$W"/jar-* "$W/pre-login" "$W/signed-in"
	: > "$W/x-hosts"
	if [ "$STORE" = postgresql ] && [ "$HOSTS" = 1 ]; then
		psql -XAtq -v ON_ERROR_STOP=1 "$PGURL_TCP" \
		    -c "CREATE DATABASE e2e_$MODE" >/dev/null ||
		    { nok "a database for the suite"; return; }
		export CRUMB_STORE=${PGURL_TCP%/*}/e2e_$MODE
		PG_STORE=$CRUMB_STORE
	fi
	if ! start_stack "$MODE"; then
		nok "the stack starts"
		return
	fi
	ok "the stack starts ($BASE)"
	anonymous_page
	anonymous_no_record
	counter
	login
	bad_logins
	post
	shared_entries
	cross_site
	theme
	logout
	sessions
	errors
	purge
	check "no 5xx answer at all" eval '[ -z "$FIVEXX" ]'
	[ -z "$FIVEXX" ] || echo "#   $FIVEXX"
	check "no transport error (a request refused, reset or closed with no HTTP answer)" \
	    eval '[ -z "$TRANSPORT" ]'
	[ -z "$TRANSPORT" ] || echo "#   $TRANSPORT"
	logs_clean
	pg_restart
	redis_restart
	every_host
	stop_stack
	check "the stack stops: nothing listens on $PORT" \
	    eval '! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null'
	check "the stack stops: no process left in its state directory" \
	    eval '! pgrep -f "$STATE" >/dev/null'
}

# Several hosts: the suite's requests were answered by every one.
every_host() {
	local seen
	[ "$HOSTS" = 1 ] && return 0
	seen=$(sort -u "$W/x-hosts" | grep -c .)
	check "requests reached all $HOSTS hosts ($(sort "$W/x-hosts" |
	    uniq -c | awk '{ printf "%s%s: %s", s, $2, $1; s = ", " }'))" \
	    eval '[ "$seen" = "$HOSTS" ]'
}

# The library's default (without CRUMB_INSECURE_COOKIE) is Secure:
# run the program once as a plain CGI, no server needed.
secure_default() {
	local d out
	MODE=cgi-direct
	d=$(mktemp -d /tmp/crumb-e2e-state.XXXXXX)
	STATES="$STATES $d"
	"$KEYGEN" "$d/key" >/dev/null
	out=$(env -i CRUMB_STATE_DIR="$d" GATEWAY_INTERFACE=CGI/1.1 \
	    REQUEST_METHOD=GET PATH_INFO=/counter "$GUESTBOOK" </dev/null)
	check "without the demo flag the cookie is Secure, named __Host-id" \
	    eval 'printf "%s" "$out" | grep -qi "^set-cookie: __Host-id=.*; Secure"'
	check "plain CGI run answers the counter" \
	    eval 'printf "%s" "$out" | grep -q "{\"count\":1}"'
}

secure_default
# E2E_MODES: the modes to run (default both).
for m in ${E2E_MODES:-fcgi cgi}; do
	case $m in
	fcgi|cgi) suite "$m" ;;
	*) nok "E2E_MODES: unknown mode $m" ;;
	esac
done

echo "1..$N"
if [ "$FAILS" -ne 0 ]; then
	echo "# $FAILS of $N checks failed"
	exit 1
fi
echo "# all $N checks passed"
exit 0
