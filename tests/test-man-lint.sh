#!/bin/bash
# Every manual page in man/ is clean under mandoc -Tlint and groff -ww
# (what man(1) renders with, when installed): any message
# fails, except mandoc's "referenced manual not found" (and "outdated
# mandoc.db lacks" an entry for one), which depends on
# what this machine has installed (tests/man-check.pl coverage checks
# the references between crumb's own pages instead).  A ".so" link is
# linted as man(1) reads it once installed, from a tree whose man3/ is
# man/, and may carry only mandoc's note that .so is fragile.
srcdir=${top_srcdir:-.}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "FAIL: mandoc is not installed (run: scripts/deps.sh mandoc)"
	exit 1
fi
mandir=$(cd "$srcdir/man" && pwd) || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for s in 1 3 7; do
	ln -s "$mandir" "$tmp/man$s"
done
groff=$(command -v groff)
[ -n "$groff" ] || echo "note: no groff (Debian groff-base): groff -ww not run"
fail=0 n=0
for page in "$mandir"/*.[1-9]; do
	f=${page##*/}
	sec=${f##*.}
	n=$((n + 1))
	out=$(cd "$tmp" && mandoc -Tlint -W style "man$sec/$f" 2>&1)
	out=$(printf '%s\n' "$out" |
	    grep -v -e 'STYLE: referenced manual not found: Xr ' \
	        -e '^mandoc: outdated mandoc.db lacks ' \
	        -e 'WARNING: \.so is fragile, better use ln(1)' |
	    grep -v '^$')
	# man(1) renders with groff: its warnings count too.
	if [ -n "$groff" ]; then
		out=$out$(cd "$tmp" && groff -mandoc -Tutf8 -ww -z \
		    "man$sec/$f" 2>&1)
	fi
	if [ -n "$out" ]; then
		printf 'FAIL: man/%s:\n%s\n' "$f" "$out"
		fail=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "FAIL: no page in $mandir"
	exit 1
fi
[ "$fail" -eq 0 ] && echo "ok: $n pages clean under mandoc -Tlint"
exit "$fail"
