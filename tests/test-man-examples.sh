#!/bin/bash
# The C text of every page's EXAMPLES compiles on its own against
# lib/crumb.h with -Wall -Wextra -Werror (translation units, no link:
# most are functions, not programs).  tests/man-check.pl extracts them.
srcdir=${top_srcdir:-.}
cc=${CC:-cc}
command -v perl >/dev/null 2>&1 || { echo "FAIL: perl is missing"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
list=$(perl "$srcdir/tests/man-check.pl" examples "$srcdir" "$tmp")
status=$?
[ "$status" -eq 0 ] || { printf '%s\n' "$list" | grep '^FAIL'; exit 1; }
fail=0 n=0
for c in $list; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # CC and the cflags may hold several words
	if ! out=$($cc -std=gnu11 -Wall -Wextra -Werror -c -o "$tmp/x.o" \
	    -I"$srcdir/lib" ${CRUMB_EXAMPLE_CFLAGS:-} "$c" 2>&1); then
		page=${c##*/}
		page=${page%.c}
		printf 'FAIL: man/%s.3, EXAMPLES block %s:\n%s\n' \
		    "${page%-*}" "${page##*-}" "$out"
		fail=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "FAIL: no example found"
	exit 1
fi
[ "$fail" -eq 0 ] && echo "ok: $n examples compile"
exit "$fail"
