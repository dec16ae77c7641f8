#!/bin/sh
# Every symbol the shared library exports starts with crumb_.
# Skipped (77) when no shared library was built (--disable-shared).
lib="${top_builddir:-.}/lib/.libs/libcrumb.so"
if [ ! -f "$lib" ]; then
	echo "no $lib: skipped"
	exit 77
fi
if ! command -v nm >/dev/null 2>&1; then
	echo "no nm: skipped"
	exit 77
fi
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }') || exit 1
if [ -z "$syms" ]; then
	echo "FAIL: no exported symbols found in $lib"
	exit 1
fi
bad=$(printf '%s\n' "$syms" | grep -v '^crumb_' || true)
if [ -n "$bad" ]; then
	echo "FAIL: exported symbols without the crumb_ prefix:"
	printf '  %s\n' $bad
	exit 1
fi
# The public functions of crumb.h are all there.
hdr="${top_srcdir:-.}/lib/crumb.h"
missing=""
for f in $(sed -n 's/^[a-z].*[ *]\(crumb_[a-z0-9_]*\)(.*/\1/p' "$hdr"); do
	printf '%s\n' "$syms" | grep -qx "$f" || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL: declared in crumb.h but not exported:$missing"
	exit 1
fi
echo "ok: $(printf '%s\n' "$syms" | wc -l) symbols, all crumb_"
