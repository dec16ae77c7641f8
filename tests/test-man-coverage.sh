#!/bin/sh
# Every public function (declared in lib/crumb.h, or exported by
# lib/.libs/libcrumb.so when a shared library was built) has a page
# man/NAME.3, real or a .so link; links resolve; every page is
# installed.  tests/man-check.pl says what is missing.
srcdir=${top_srcdir:-.}
lib="${top_builddir:-.}/lib/.libs/libcrumb.so"
command -v perl >/dev/null 2>&1 || { echo "FAIL: perl is missing"; exit 1; }
if [ -f "$lib" ]; then
	command -v nm >/dev/null 2>&1 || { echo "FAIL: nm is missing"; exit 1; }
	exec perl "$srcdir/tests/man-check.pl" coverage "$srcdir" "$lib"
fi
echo "note: no $lib (static build): checking crumb.h only"
exec perl "$srcdir/tests/man-check.pl" coverage "$srcdir"
