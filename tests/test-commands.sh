#!/bin/bash
# The installed commands: crumb-keygen and crumb-purge answer --help
# (usage on stdout, exit 0), refuse unknown options and missing
# arguments (usage on stderr, exit 2) and write no file while doing so;
# crumb-purge deletes the expired records of a store and keeps the live
# ones.  The bench programs, when built (make bench), answer alike.
# Run by make check (top_builddir set) or by hand: tests/test-commands.sh BUILD_DIR
set -uo pipefail
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 1
TOP=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd) || exit 1
KEYGEN=$BUILD/lib/crumb-keygen
PURGE=$BUILD/tools/crumb-purge
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

# --- crumb-purge ---
usage_checks crumb-purge "$PURGE"
run 2 "$PURGE" && grep -q "^usage: crumb-purge" err &&
	ok "crumb-purge without DBPATH: exit 2" ||
	fail "crumb-purge without DBPATH: usage on stderr"
for bad in "--batch" "--batch 0" "--batch -3" "--batch x" "--batch=" \
    "--batch 4294967296" "a.db b.db"; do
	# shellcheck disable=SC2086
	run 2 "$PURGE" $bad x.db && grep -q "^usage: crumb-purge" err ||
		fail "crumb-purge $bad x.db: usage on stderr, exit 2"
done
ok "crumb-purge refuses bad --batch values and two paths"
run 1 "$PURGE" missing.db && [ ! -e missing.db ] &&
	[ "$(wc -l < err)" -eq 1 ] &&
	grep -q "^crumb-purge: missing.db: No such file or directory$" err &&
	ok "crumb-purge on a missing store: one line, exit 1, nothing created" ||
	fail "crumb-purge on a missing store: $(cat err)"
printf 'not a database, not at all, and long enough to be read as one....' \
    > junk.db
chmod 600 junk.db
run 1 "$PURGE" junk.db && [ "$(wc -l < err)" -eq 1 ] &&
	grep -q "^crumb-purge: junk.db: " err &&
	ok "crumb-purge on a file that is no database: one line, exit 1" ||
	fail "crumb-purge on junk: $(cat err)"

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
	if run 0 "$PURGE" --batch 2 store.db &&
	    [ "$(cat out)" = "crumb-purge: purged 7 expired sessions" ] &&
	    [ ! -s err ] &&
	    [ "$(sqlite3 store.db 'SELECT count(*) FROM crumb_sessions')" = 3 ] &&
	    [ "$(sqlite3 store.db 'SELECT min(expires) FROM crumb_sessions')" = 4102444800 ]; then
		ok "crumb-purge --batch 2: 7 expired purged, 3 live kept"
	else
		fail "crumb-purge --batch 2 store.db: '$(cat out)' '$(cat err)'"
	fi
	if run 0 "$PURGE" --quiet store.db && [ ! -s out ] && [ ! -s err ] &&
	    [ "$(sqlite3 store.db 'SELECT count(*) FROM crumb_sessions')" = 3 ]; then
		ok "crumb-purge --quiet: silent, live records kept"
	else
		fail "crumb-purge --quiet store.db: '$(cat out)' '$(cat err)'"
	fi
fi

# --- crumb-purge on a PostgreSQL store, when built ---
case " ${CRUMB_BUILT_STORES:-} " in
*" postgresql "*)
	# shellcheck source=tests/pg-server.sh
	. "$TOP/tests/pg-server.sh"
	if ! crumb_pg_start >/dev/null; then
		fail "no private PostgreSQL server for the purge test"
	else
		psql_() { "$PG_BIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 "$PGURL" "$@"; }
		{ cat "$TOP/sql/postgresql-store.sql"
		  for i in 1 2 3 4 5 6 7 8 9 10; do
			exp=1000
			[ "$i" -gt 7 ] && exp=4102444800
			echo "INSERT INTO crumb_sessions (id, state, version, \"user\", created, last_seen, expires) VALUES (decode(md5('$i'), 'hex') || decode(md5('x$i'), 'hex'), '{}', 1, NULL, 1, 1, $exp);"
		  done; } | psql_ >/dev/null || fail "psql could not fill the store"
		if run 0 "$PURGE" --batch 3 "$PGURL_TCP" &&
		    [ "$(cat out)" = "crumb-purge: purged 7 expired sessions" ] &&
		    [ ! -s err ] &&
		    [ "$(psql_ -c 'SELECT count(*) FROM crumb_sessions')" = 3 ]; then
			ok "crumb-purge on a PostgreSQL URL: 7 expired purged, 3 live kept"
		else
			fail "crumb-purge on PostgreSQL: '$(cat out)' '$(cat err)'"
		fi
		bad=${PGURL_TCP/:$PG_PASSWORD@/:wrong-$PG_PASSWORD@}
		if run 1 "$PURGE" "$bad" && [ "$(wc -l < err)" -eq 1 ] &&
		    ! grep -q -- "$PG_PASSWORD" err out; then
			ok "crumb-purge with a wrong password: one line, exit 1, no password shown"
		else
			fail "crumb-purge with a wrong password: '$(cat err)'"
		fi
	fi
	;;
esac

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
