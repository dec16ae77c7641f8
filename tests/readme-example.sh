#!/bin/bash
# The README's example programs, compiled exactly as printed against the
# installed library with pkg-config, run behind a real Apache
# (scripts/stack.sh) and driven by curl with a cookie jar.
#  - counter.c, as a CGI program: the counter must go 1, 2, 3 with the
#    jar and restart at 1 without.
#  - fcgi.c, built by the README's own build lines (with -Wall -Wextra
#    -Werror added), as a FastCGI worker under spawn-fcgi: the form, its
#    CSRF token, the statuses the README promises, and a worker whose
#    key file is mode 0644 answering 503 with the reason in Apache's
#    error log.
#
#   tests/readme-example.sh BUILD_DIR PREFIX
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
PREFIX=$(cd "$2" && pwd)
WORK=$(mktemp -d /tmp/crumb-readme.XXXXXX)
chmod 0755 "$WORK"
STACK_PID=

stop_stack() {
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null || true
		wait "$STACK_PID" 2>/dev/null || true
		STACK_PID=
	fi
}

cleanup() {
	stop_stack
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# extract MARKER LANG: the code block that follows the line
# "<!-- MARKER -->" in README.
extract() {
	awk -v marker="<!-- $1 -->" -v open="\`\`\`$2" '
	     $0 == marker { on = 1; next }
	     on && $0 == open { inblock = 1; next }
	     inblock && /^```$/ { exit }
	     inblock { print }' "$TOP/README"
}

# start_stack STATE_DIR MODE PROGRAM [stack.sh options...]: sets $url.
start_stack() {
	local state=$1 mode=$2 program=$3 port line
	shift 3
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	rm -f "$WORK/ready"
	mkfifo "$WORK/ready"
	"$TOP/scripts/stack.sh" --port "$port" --state-dir "$state" \
	    --mode "$mode" --workers 1 --build-dir "$BUILD" \
	    --program "$program" "$@" > "$WORK/ready" &
	STACK_PID=$!
	read -r -t 60 line < "$WORK/ready" || fail "stack did not start"
	case $line in READY*) ;; *) fail "stack said: $line" ;; esac
	url="http://127.0.0.1:$port/"
}

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
pkg-config --exists crumb || fail "crumb.pc not installed in $PREFIX"

# ---- counter.c: plain CGI ------------------------------------------
extract "example: counter.c" c > "$WORK/counter.c"
[ "$(wc -l < "$WORK/counter.c")" -gt 10 ] || fail "no counter.c in README"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$WORK/counter" "$WORK/counter.c" \
    $(pkg-config --cflags --libs crumb) -Wl,-rpath,"$PREFIX/lib" ||
    fail "README example does not compile"
echo "ok: README example compiles with pkg-config"

start_stack "$WORK/state" cgi "$WORK/counter"
jar=$WORK/jar
for want in 1 2 3; do
	got=$(curl -s -c "$jar" -b "$jar" "$url")
	[ "$got" = "$want" ] || fail "with cookie jar: want $want, got '$got'"
	echo "ok: request with cookie jar counts $got"
done
got=$(curl -s "$url")
[ "$got" = 1 ] || fail "without cookie: want 1, got '$got'"
echo "ok: request without cookie counts 1"
grep -q 'HttpOnly' "$jar" || grep -q '#HttpOnly_' "$jar" ||
    fail "session cookie not HttpOnly"
echo "ok: session cookie is HttpOnly"
stop_stack

# ---- what make install put there: manual pages, crumbctl -----------
for page in crumb crumb_session_begin crumb_session_free crumbctl \
    crumb-store crumb-keygen; do
	man -M "$PREFIX/share/man" -P cat "$page" > "$WORK/man.txt" \
	    2> "$WORK/man.err" || fail "man $page: $(cat "$WORK/man.err")"
	grep -q '^NAME' "$WORK/man.txt" && grep -qF "$page" "$WORK/man.txt" ||
	    fail "man $page shows no page naming $page"
done
echo "ok: man crumb_session_begin, crumb_session_free (a link), crumbctl, crumb-store, crumb-keygen, crumb"
# crumbctl counts the counter's sessions (those above, and the one the
# stack's readiness probe made) as SQLite itself does.
stats=$("$PREFIX/bin/crumbctl" --store "sqlite:$WORK/state/sessions.db" \
    --json stats) || fail "crumbctl stats exited $?"
live=$(printf '%s' "$stats" | python3 -c 'import json, sys; print(json.load(sys.stdin)["live"])') ||
    fail "crumbctl --json stats: $stats"
want=$(sqlite3 "$WORK/state/sessions.db" \
    "SELECT count(*) FROM crumb_sessions WHERE expires > unixepoch()")
[ "$live" = "$want" ] && [ "$live" -ge 2 ] ||
    fail "crumbctl stats: $live live sessions, SQLite counts $want ($stats)"
echo "ok: crumbctl --store sqlite:PATH stats counts the $live sessions SQLite counts"

# ---- fcgi.c: FastCGI under spawn-fcgi -------------------------------
extract "example: fcgi.c" c > "$WORK/fcgi.c"
[ "$(wc -l < "$WORK/fcgi.c")" -gt 40 ] || fail "no fcgi.c in README"
extract "build: fcgi.c" sh > "$WORK/build.sh"
grep -q -- '-lfcgi' "$WORK/build.sh" || fail "no build lines for fcgi.c"
# The README's lines as they stand, in the directory of fcgi.c, with
# PREFIX set as the README asks and warnings made errors.
# cc is called by the sourced lines (SC2317).
# shellcheck disable=SC1091,SC2317
(
	cd "$WORK"
	cc() { command cc -Wall -Wextra -Werror "$@"; }
	. ./build.sh
) || fail "fcgi.c does not build with the README's lines"
[ -x "$WORK/fcgi" ] || fail "the README's build lines made no ./fcgi"
echo "ok: fcgi.c builds with the README's lines (-Wall -Wextra -Werror)"

CRUMB_INSECURE_COOKIE=1 start_stack "$WORK/fstate" fcgi "$WORK/fcgi"
jar=$WORK/fjar
rm -f "$jar"
# code CURL-ARGS...: a request to / with the jar; prints the status.
code() {
	curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" "$@" "$url"
}
token_of() { sed -n 's/.*name=csrf value="\([A-Za-z0-9_-]*\)".*/\1/p'; }

page=$(curl -s -c "$jar" -b "$jar" "$url")
tok=$(printf '%s\n' "$page" | token_of)
[ "${#tok}" -eq 86 ] || fail "GET / shows no CSRF token: $page"
case $page in *"<p>Note: </p>"*) ;; *) fail "GET /: $page" ;; esac
echo "ok: GET / shows a form with a CSRF token and an empty note"
# Secure off (CRUMB_INSECURE_COOKIE=1): no Secure flag, no __Host- prefix.
awk -F'\t' '$6 == "id" && $4 == "FALSE" { ok = 1 } END { exit !ok }' \
    "$jar" || fail "want a cookie 'id' without Secure: $(cat "$jar")"
echo "ok: with Secure off the cookie is 'id', not Secure"

note='<b>hi</b> & bye'
hdrs=$(curl -s -D - -o /dev/null -c "$jar" -b "$jar" \
    --data-urlencode "csrf=$tok" --data-urlencode "note=$note" "$url")
case $hdrs in *"HTTP/1.1 303"*) ;; *) fail "POST with token: $hdrs" ;; esac
printf '%s\n' "$hdrs" | grep -qi '^Location: .*/' ||
    fail "POST with token: no Location: $hdrs"
page=$(curl -s -c "$jar" -b "$jar" "$url?x=1")
case $page in
*"<p>Note: &lt;b&gt;hi&lt;/b&gt; &amp; bye</p>"*) ;;
*) fail "GET after POST does not show the note: $page" ;;
esac
echo "ok: POST with the token: 303, and the next GET shows the note (escaped)"

tok=$(printf '%s\n' "$page" | token_of)
other=$(curl -s "$url" | token_of)
[ -n "$other" ] || fail "no token for a second visitor"
st=$(code --data-urlencode "note=none")
[ "$st" = 403 ] || fail "POST without token: want 403, got $st"
st=$(code --data-urlencode "csrf=$other" --data-urlencode "note=other")
[ "$st" = 403 ] || fail "POST with another session's token: want 403, got $st"
st=$(code --data-urlencode "csrf=x$tok" --data-urlencode "note=bad")
[ "$st" = 403 ] || fail "POST with a bad token: want 403, got $st"
echo "ok: POST without a token, or with a bad or foreign one: 403"
st=$(code -H 'Content-Type: text/plain' --data "csrf=$tok&note=plain")
[ "$st" = 415 ] || fail "POST as text/plain: want 415, got $st"
st=$(code -X POST)
[ "$st" = 411 ] || fail "POST without a body: want 411, got $st"
st=$(code --data "csrf=$tok&note=$(head -c 5000 /dev/zero | tr '\0' x)")
[ "$st" = 413 ] || fail "POST of 5000 bytes: want 413, got $st"
echo "ok: POST as text/plain 415, without a body 411, too large 413"
page=$(curl -s -c "$jar" -b "$jar" "$url")
case $page in
*"<p>Note: &lt;b&gt;hi&lt;/b&gt; &amp; bye</p>"*) ;;
*) fail "a refused POST changed the note: $page" ;;
esac
echo "ok: refused POSTs changed nothing"
st=$(curl -s -o /dev/null -w '%{http_code}' "${url}elsewhere")
[ "$st" = 404 ] || fail "GET /elsewhere: want 404, got $st"
echo "ok: the route is REQUEST_URI without its query: /elsewhere is 404"
stop_stack

# A key file others may read: the worker stays up and answers 503, and
# says why in Apache's error log (and on its own stderr at start).
mkdir -m 0700 "$WORK/badkey"
"$PREFIX/bin/crumb-keygen" "$WORK/badkey/key" >/dev/null ||
    fail "crumb-keygen failed"
chmod 0644 "$WORK/badkey/key"
CRUMB_INSECURE_COOKIE=1 start_stack "$WORK/badkey" fcgi "$WORK/fcgi" \
    --ready-status 503
why="$WORK/badkey/key: mode 0644: group or others may read or write it"
errlog=$WORK/badkey/run/error.log
before=$(grep -cF "$why" "$errlog" || true)
for i in 1 2 3; do
	st=$(code)
	[ "$st" = 503 ] || fail "key mode 0644, request $i: want 503, got $st"
done
# One line per request: the worker answered each (an exited worker
# leaves Apache answering 503 itself, with "connection refused").
after=$(grep -cF "$why" "$errlog" || true)
if [ "$after" -lt $((before + 3)) ] ||
    ! grep -qF "fcgi: key file" "$errlog"; then
	fail "Apache's error log lacks the key's reason for each request:" \
	    "$(tail -n 5 "$errlog")"
fi
grep -qF "$why" "$WORK/badkey/run/fcgi.log" ||
    fail "the worker's stderr lacks the key's reason: $(cat "$WORK/badkey/run/fcgi.log")"
echo "ok: key file mode 0644: the worker answers 503, the reason in Apache's error log"
stop_stack
