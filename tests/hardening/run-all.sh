#!/bin/bash
# The hardening tests that go through the real stack
# (scripts/stack.sh: private Apache + spawn-fcgi guestbook workers).
#
#   tests/hardening/run-all.sh BUILD_DIR
#
# Runs each script in turn (each starts and stops its own stacks on free
# ports with temporary state directories), prints their lines, and ends
# with one summary line per script and the total time.  Exits non-zero
# when any script failed; 77 when all of them skipped.  faults.py needs
# root (chattr, mount, pidfd_getfd) and skips otherwise; a skip counts as
# a failure unless ALLOW_SKIP=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-.}" && pwd) || exit 2
SCRIPTS="concurrency.py crash.py faults.py bad-input.py memory.py"

summary=()
fails=0
skips=0
start=$SECONDS
for s in $SCRIPTS; do
	echo "==== $s"
	t0=$SECONDS
	python3 "$HERE/$s" "$BUILD"
	rc=$?
	secs=$((SECONDS - t0))
	case $rc in
	0) summary+=("PASS  $s  (${secs} s)") ;;
	77)
		# The test command must not go green on a skipped test.
		if [ "${ALLOW_SKIP:-0}" = 1 ]; then
			summary+=("SKIP  $s  (${secs} s)"); skips=$((skips + 1))
		else
			summary+=("FAIL  $s  (${secs} s, skipped: needs root)")
			fails=$((fails + 1))
		fi ;;
	*) summary+=("FAIL  $s  (${secs} s, exit $rc)"); fails=$((fails + 1)) ;;
	esac
done
echo "==== summary"
printf '%s\n' "${summary[@]}"
echo "total $((SECONDS - start)) s, $fails failed"
[ "$fails" -eq 0 ] || exit 1
n=$(echo $SCRIPTS | wc -w)
[ "$skips" -lt "$n" ] || exit 77
exit 0
