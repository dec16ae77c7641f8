#!/bin/sh
# Every prototype in a page's SYNOPSIS is crumb.h's declaration (return
# type, name, parameters), and every function of crumb.h is shown on a
# page.  tests/man-check.pl prints each difference.
srcdir=${top_srcdir:-.}
command -v perl >/dev/null 2>&1 || { echo "FAIL: perl is missing"; exit 1; }
exec perl "$srcdir/tests/man-check.pl" synopsis "$srcdir"
