#!/bin/bash
# The whole test suite, from a fresh clone:   ./scripts/test.sh
#
# Installs the Debian packages it needs (when missing), then
#   1. builds with -Wall -Wextra -Werror, then `make distcheck`: the
#      release tarball, unpacked read-only, built out of tree with the same
#      flags, runs the whole `make check` (unit tests, symbol check,
#      guestbook end to end as FastCGI and CGI, PostgreSQL), installs and
#      uninstalls; then the hardening tests through the real stack
#      (tests/hardening/) on the first build;
#   2. installs the library into a temporary prefix and runs the README's
#      example programs, compiled with pkg-config, behind Apache;
#   3. builds the Debian packages from that tarball, checks them with
#      lintian, installs them, compiles and runs the README's example
#      against them, and removes them (tests/deb-package.sh);
#   4. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      `make check` again;
#   5. runs each libFuzzer target briefly (clang, ASan + UBSan);
#   6. runs the unit tests, and the guestbook's FastCGI workers through the
#      end-to-end test, under valgrind memcheck (any error fails);
#   7. runs the browser test (headless Chromium driven by playwright-core).
# Build trees and test output land in build/.  Set SKIP_BROWSER=1 or
# SKIP_VALGRIND=1 to leave a stage out while developing.
# -h or --help prints the usage; any other argument exits with 2.
set -euo pipefail

usage() {
	echo "usage: [SKIP_BROWSER=1] [SKIP_VALGRIND=1] [FUZZ_SECONDS=10] scripts/test.sh"
}
if [ $# -gt 0 ]; then
	case $1 in
	-h|--help) usage; exit 0 ;;
	*) echo "test.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
	esac
fi
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
JOBS=$(nproc 2>/dev/null || echo 2)
# Tests run as many at a time as there are cores: with one more, the
# keep-alive test (tests/e2e-keepalive.sh) saw Apache close a few
# kept-alive connections unanswered while three tests loaded the cores.
TEST_JOBS=$JOBS

stage() { printf '\n==== %s (at %d s) ====\n' "$*" "$SECONDS"; }

stage "dependencies"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
# shellcheck disable=SC2086 # CRUMB_CHECK_PACKAGES: one package a word
bash scripts/deps.sh build-essential autoconf automake libtool pkg-config \
    libfcgi-dev libcjson-dev libsqlite3-dev libgcrypt20-dev \
    apache2 apache2-utils spawn-fcgi multiwatch procps curl sqlite3 \
    valgrind clang libclang-rt-14-dev \
    python3 binutils e2fsprogs util-linux postgresql libpq-dev haproxy openssl \
    redis-server libhiredis-dev \
    dpkg-dev debhelper lintian $CRUMB_CHECK_PACKAGES

if [ -f "$TOP/config.status" ]; then
	echo "test.sh: this checkout was configured in the source tree;" \
	    "the test builds are out of tree (build/): run 'make distclean' first" >&2
	exit 1
fi

stage "autogen"
./autogen.sh >/dev/null 2>&1 || ./autogen.sh

# Out-of-tree builds, so the plain and sanitizer builds coexist.
configure_in() {
	local dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && "$TOP/configure" -q "$@")
}

# failed_logs DIR: the logs of the tests that failed in the build DIR.
failed_logs() {
	find "$1" -name '*.log' -newer "$1/config.status" |
	    while read -r f; do
		if grep -qE '^:test-result: (FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null; then
			echo "---- $f"; tail -n 60 "$f"
		fi
	    done
}

run_check() {
	local dir=$1; shift
	if ! make -C "$dir" -j"$TEST_JOBS" check "$@"; then
		failed_logs "$dir"
		return 1
	fi
}

# The installed copy goes where Apache's user (www-data, when we are
# root) can read it, wherever this checkout is.
PREFIX=$(mktemp -d /tmp/crumb-prefix.XXXXXX)
chmod 0755 "$PREFIX"
trap 'rm -rf "$PREFIX"' EXIT

stage "build (-Werror), then make distcheck (make check from the tarball)"
# --with-postgresql=yes --with-redis=yes: CI builds and tests the
# PostgreSQL and Redis stores, never skips them (their tests start
# private servers with tests/pg-server.sh and tests/redis-server.sh).
# distcheck configures the tarball's build with the same flags
# (AM_DISTCHECK_CONFIGURE_FLAGS).  build/default stays for the stages
# below; its own make check would run the suite a second time.
configure_in build/default --enable-werror --with-postgresql=yes --with-redis=yes --prefix="$PREFIX"
make -C build/default -j"$JOBS"
rm -f build/default/*.tar.gz
if ! make -C build/default -j"$TEST_JOBS" distcheck; then
	# A failed distcheck leaves the tarball's build behind.
	for d in build/default/*/_build/sub; do
		[ -f "$d/config.status" ] && failed_logs "$d"
	done
	exit 1
fi
TARBALL=$(ls build/default/*.tar.gz)

stage "hardening: concurrency, crashes, store faults, bad input, memory"
bash tests/hardening/run-all.sh build/default

stage "install + README examples (pkg-config, Apache CGI and FastCGI, curl)"
make -C build/default install >/dev/null
bash tests/readme-example.sh "$TOP/build/default" "$PREFIX"

stage "Debian packages: build from the tarball, lintian, install, use, purge"
bash tests/deb-package.sh "$TARBALL"

stage "AddressSanitizer + UndefinedBehaviorSanitizer: the code-heavy tests"
configure_in build/asan --enable-asan --enable-werror --with-postgresql=yes --with-redis=yes CC=clang
make -C build/asan -j"$JOBS"
# The C test programs and the scripts that drive the code the most
# (SANITIZER_SHELL_TESTS in tests/Makefile.inc says which and why);
# distcheck ran them all.  The guestbook's end-to-end test runs in CGI
# mode here: every request is a process whose exit LeakSanitizer checks,
# while the FastCGI workers run under valgrind below.
E2E_MODES=cgi \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_check build/asan \
    TESTS='$(filter tests/test-%,$(check_PROGRAMS)) $(SANITIZER_SHELL_TESTS)'

stage "fuzzing (short run; scripts/fuzz.sh 600 for a long one)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"

if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
	stage "valgrind memcheck: unit tests"
	# Only the C test programs (the scripts drive servers instead).
	run_check build/default TESTS='$(filter tests/test-%,$(check_PROGRAMS))' \
	    LOG_COMPILER="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible"
fi

if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
	stage "valgrind memcheck: guestbook FastCGI workers through the end-to-end test"
	VG=$(mktemp -d /tmp/crumb-vg.XXXXXX)
	chmod 1777 "$VG"
	# FastCGI mode only: the stack runs its FastCGI workers under
	# valgrind, not the CGI programs.
	CRUMB_VALGRIND_DIR=$VG E2E_MODES=fcgi bash tests/e2e-guestbook.sh \
	    build/default
	logs=$(ls "$VG"/valgrind-*.log 2>/dev/null | wc -l)
	clean=$(grep -l 'ERROR SUMMARY: 0 errors' "$VG"/valgrind-*.log 2>/dev/null | wc -l)
	echo "valgrind: $clean of $logs worker logs report 0 errors"
	if [ "$logs" -eq 0 ] || [ "$clean" -ne "$logs" ]; then
		grep -h -B2 -A12 -E 'Invalid|uninitialised|definitely lost|indirectly lost' \
		    "$VG"/valgrind-*.log | head -80
		exit 1
	fi
	rm -rf "$VG"
fi

if [ "${SKIP_BROWSER:-0}" != 1 ]; then
	stage "browser test (headless Chromium)"
	bash tests/browser-test.sh "$TOP/build/default"
fi

stage "all tests passed"
