#!/bin/bash
# The README's example program, compiled exactly as printed against the
# installed library with pkg-config, run as a CGI program behind a real
# Apache (scripts/stack.sh --mode cgi) and driven by curl with a cookie
# jar: the counter must go 1, 2, 3 with the jar and restart at 1 without.
#
#   tests/readme-example.sh BUILD_DIR PREFIX
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
PREFIX=$(cd "$2" && pwd)
WORK=$(mktemp -d /tmp/crumb-readme.XXXXXX)
chmod 0755 "$WORK"
STACK_PID=

cleanup() {
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null || true
		wait "$STACK_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# The code block that follows the marker line in README.
awk '/^<!-- example: counter.c -->$/ { on = 1; next }
     on && /^```c$/ { inblock = 1; next }
     inblock && /^```$/ { exit }
     inblock { print }' "$TOP/README" > "$WORK/counter.c"
[ "$(wc -l < "$WORK/counter.c")" -gt 10 ] || fail "no example found in README"

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
pkg-config --exists crumb || fail "crumb.pc not installed in $PREFIX"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$WORK/counter" "$WORK/counter.c" \
    $(pkg-config --cflags --libs crumb) -Wl,-rpath,"$PREFIX/lib" ||
    fail "README example does not compile"
echo "ok: README example compiles with pkg-config"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkfifo "$WORK/ready"
"$TOP/scripts/stack.sh" --port "$port" --state-dir "$WORK/state" --mode cgi \
    --workers 1 --build-dir "$BUILD" --program "$WORK/counter" \
    > "$WORK/ready" &
STACK_PID=$!
read -r -t 60 line < "$WORK/ready" || fail "stack did not start"
case $line in READY*) ;; *) fail "stack said: $line" ;; esac

url="http://127.0.0.1:$port/"
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
