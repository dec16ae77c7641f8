#!/bin/bash
# The README's example program, as printed (tests/readme-counter, built
# from README with a store that fails on demand), run as a CGI program:
# on a failing store it must answer 503 and send no Set-Cookie.
set -euo pipefail
prog=${top_builddir:-.}/tests/readme-counter
[ -x "$prog" ] || { echo "FAIL: $prog not built"; exit 1; }
work=$(mktemp -d /tmp/crumb-503.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(umask 077; printf '%064d\n' 7 > "$work/key")
export CRUMB_STATE_DIR=$work GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET

# A working store: 200, a session cookie, the count.
out=$(env -u HTTP_COOKIE -u CRUMBTEST_STORE_FAIL "$prog")
printf '%s\n' "$out" | grep -q '^Status:' && fail "working store: $out"
cookie=$(printf '%s\n' "$out" | sed -n 's/^Set-Cookie: \([^;]*\);.*/\1/p' | head -n 1)
[ -n "$cookie" ] || fail "working store: no Set-Cookie in: $out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = 1 ] || fail "working store: $out"
echo "ok: working store counts 1 and sets a cookie"

# The store fails to load the visitor's session.
out=$(HTTP_COOKIE=$cookie CRUMBTEST_STORE_FAIL=1 "$prog")
printf '%s\n' "$out" | grep -q '^Status: 503' || fail "failing load: $out"
printf '%s\n' "$out" | grep -qi '^Set-Cookie:' && fail "failing load sets a cookie: $out"
echo "ok: failing load answers 503 without Set-Cookie"

# The store fails to create a new visitor's session.
out=$(env -u HTTP_COOKIE CRUMBTEST_STORE_FAIL=1 "$prog")
printf '%s\n' "$out" | grep -q '^Status: 503' || fail "failing create: $out"
printf '%s\n' "$out" | grep -qi '^Set-Cookie:' && fail "failing create sets a cookie: $out"
echo "ok: failing create answers 503 without Set-Cookie"
