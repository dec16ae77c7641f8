#!/bin/bash
# The installed commands: crumb-keygen and crumbctl answer --help
# (usage on stdout, exit 0), refuse unknown options and missing
# arguments (usage on stderr, exit 2) and write no file while doing so;
# crumbctl purge deletes the expired records of a store and keeps the
# live ones (on PostgreSQL too: tests/test-crumbctl.sh).  The bench
# programs, when built (make bench), answer alike.
# Run by make check (top_builddir set) or by hand: tests/test-commands.sh BUILD_DIR
set -uo pipefail
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 1
TOP=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd) || exit 1
KEYGEN=$BUILD/lib/crumb-keygen
CTL=$BUILD/tools/crumbctl
WORK=$(mktemp -d /tmp/crumb-commands.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# run WANT_STATUS CMD...: run CMD with stdout and stderr kept in out and err.
run() {
	local want=$1 got
	shift
	"$@" >out 2>err
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "$* exited $got, want $want (stderr: $(head -c 300 err))"
		return 1
	fi
	return 0
}

# usage_checks NAME CMD...: --help and a bad option, for any command.
usage_checks() {
	local name=$1
	shift
	if run 0 "$@" --help && grep -q "^usage: $name" out && [ ! -s err ]; then
		ok "$name --help: usage on stdout, exit 0"
	else
		fail "$name --help: usage on stdout, nothing on stderr"
	fi
	if run 2 "$@" --frobnicate && grep -q "^usage: $name" err &&
	    [ ! -s out ]; then
		ok "$name --frobnicate: usage on stderr, exit 2"
	else
		fail "$name --frobnicate: usage on stderr, nothing on stdout"
	fi
}

# --- crumb-keygen ---
usage_checks crumb-keygen "$KEYGEN"
[ -z "$(ls -A | grep -vx -e out -e err)" ] &&
	ok "crumb-keygen --help and --frobnicate write no key" ||
	fail "crumb-keygen wrote a file: $(ls -A | grep -vx -e out -e err)"
run 2 "$KEYGEN" && grep -q "^usage: crumb-keygen" err &&
	ok "crumb-keygen without PATH: exit 2" ||
	fail "crumb-keygen without PATH: usage on stderr"
run 2 "$KEYGEN" a b && [ ! -e a ] && [ ! -e b ] &&
	ok "crumb-keygen with two paths: exit 2, no file" ||
	fail "crumb-keygen with two paths"
if run 0 "$KEYGEN" -- -key && [ "$(stat -c %a -- -key)" = 600 ] &&
    grep -Eqx '[0-9a-f]{64}' -- -key; then
	ok "crumb-keygen -- -key: a 0600 key file named -key"
else
	fail "crumb-keygen -- -key"
fi
run 1 "$KEYGEN" -- -key && grep -q "^crumb-keygen: -key: file exists$" err &&
	ok "crumb-keygen on an existing file: exit 1" ||
	fail "crumb-keygen on an existing file: 'file exists'"
run 1 "$KEYGEN" nodir/key &&
	grep -q "^crumb-keygen: nodir/key: No such file or directory$" err &&
	ok "crumb-keygen in a missing directory: exit 1 with errno's text" ||
	fail "crumb-keygen in a missing directory: $(cat err)"

# --- crumbctl purge (tests/test-crumbctl.sh checks crumbctl whole) ---
usage_checks "crumbctl" "$CTL"
run 2 "$CTL" purge && grep -q "no store" err &&
	ok "crumbctl purge without a store: exit 2" ||
	fail "crumbctl purge without a store: usage on stderr"
for bad in "--batch" "--batch 0" "--batch -3" "--batch x" "--batch=" \
    "--batch 4294967296" "extra"; do
	# shellcheck disable=SC2086
	run 2 "$CTL" --store x.db purge $bad && grep -q "^usage: crumbctl" err ||
		fail "crumbctl purge $bad: usage on stderr, exit 2"
done
[ ! -e x.db ] && ok "crumbctl purge refuses bad --batch values and operands" ||
	fail "a refused crumbctl purge created x.db"
run 1 "$CTL" --store missing.db purge && [ ! -e missing.db ] &&
	[ "$(wc -l < err)" -eq 1 ] &&
	grep -q "^crumbctl purge: missing.db: No such file or directory$" err &&
	ok "crumbctl purge on a missing store: one line, exit 1, nothing created" ||
	fail "crumbctl purge on a missing store: $(cat err)"

if ! command -v sqlite3 >/dev/null 2>&1; then
	fail "no sqlite3 shell (Debian package sqlite3): the purge of a real store cannot be tried"
else
	# 7 expired records (expires in 1970) and 3 live ones (2100).
	(umask 077
	 { cat "$TOP/sql/sqlite-store.sql"
	   for i in 1 2 3 4 5 6 7 8 9 10; do
		exp=1000
		[ "$i" -gt 7 ] && exp=4102444800
		printf "INSERT INTO crumb_sessions (id, state, version, user, created, last_seen, expires) VALUES (randomblob(32), '{}', 1, NULL, 1, 1, %s);\n" "$exp"
	   done; } | sqlite3 store.db) || fail "sqlite3 could not make store.db"
	if run 0 "$CTL" --store store.db --json purge --batch 2 &&
	    grep -Eqx '\{"purged":7,"seconds":[0-9.e-]+\}' out &&
	    [ ! -s err ] &&
	    [ "$(sqlite3 store.db 'SELECT count(*) FROM crumb_sessions')" = 3 ] &&
	    [ "$(sqlite3 store.db 'SELECT min(expires) FROM crumb_sessions')" = 4102444800 ]; then
		ok "crumbctl purge --batch 2: 7 expired purged, 3 live kept"
	else
		fail "crumbctl purge --batch 2 store.db: '$(cat out)' '$(cat err)'"
	fi
	if run 0 "$CTL" --store store.db purge && [ ! -s out ] && [ ! -s err ] &&
	    [ "$(sqlite3 store.db 'SELECT count(*) FROM crumb_sessions')" = 3 ]; then
		ok "crumbctl purge off a terminal: silent, live records kept"
	else
		fail "crumbctl purge store.db: '$(cat out)' '$(cat err)'"
	fi
fi

# --- bench programs, when built ---
for b in bench-session floor-fcgi; do
	if [ -x "$BUILD/bench/$b" ]; then
		usage_checks "$b" "$BUILD/bench/$b"
	else
		echo "bench/$b not built (make bench): not tried"
	fi
done

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
