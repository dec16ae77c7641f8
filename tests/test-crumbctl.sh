#!/bin/bash
# crumbctl against real stores: a SQLite file and, when built, the
# private PostgreSQL server of tests/pg-server.sh and the private Redis
# of tests/redis-server.sh.  Sessions are made
# through the public API by tests/ctl-fixture, which prints each one's
# cookie, ID and stored hash, so that the test knows exactly what the
# store holds: stats counts, purge removes exactly the expired ones,
# list and revoke (by user and by hash), migrate from SQLite to
# PostgreSQL after which the old cookies open the same sessions, usage
# errors and --help of every command, and no session ID or cookie in
# any output.  The progress line of purge is checked on a pseudo-terminal.
# Run by make check (top_builddir set) or by hand: tests/test-crumbctl.sh BUILD_DIR
# "check && ok || fail" is meant (SC2015).
# shellcheck disable=SC2015
set -uo pipefail
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 1
TOP=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd) || exit 1
CTL=$BUILD/tools/crumbctl
FIX=$BUILD/tests/ctl-fixture
WORK=$(mktemp -d /tmp/crumb-ctl.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
unset CRUMB_STORE
failures=0
: > all-output       # everything crumbctl printed, for the ID check
: > secrets          # every session ID and cookie value made

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
# check DESCRIPTION CMD...: ok when CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# run WANT_STATUS CMD...: stdout in out, stderr in err.
run() {
	local want=$1 got
	shift
	"$@" >out 2>err
	got=$?
	cat out err >> all-output
	if [ "$got" -ne "$want" ]; then
		echo "  $* exited $got, want $want (stderr: $(head -c 300 err))"
		return 1
	fi
	return 0
}

# make STORE USER TTL AGO [LABEL]: a session; prints its stored hash,
# and keeps its cookie in the file cookie.HASH.
make_session() {
	local line cookie id hash
	line=$("$FIX" "$1" make "${@:2}") || { echo "ctl-fixture $* failed" >&2; return 1; }
	read -r cookie id hash <<< "$line"
	printf '%s\n%s\n' "$id" "${cookie#id=}" >> secrets
	# The ID as base64 and base64url too, however it might leak.
	# shellcheck disable=SC2059,SC2001
	printf "$(echo "$id" | sed 's/../\\x&/g')" > id.bin
	{ base64 -w0 < id.bin | tr -d '='; echo
	  basenc --base64url -w0 < id.bin | tr -d '='; echo; } >> secrets
	printf '%s\n' "$cookie" > "cookie.$hash"
	echo "$hash"
}

# json EXPR: evaluate a Python expression on out parsed as JSON (j).
json() {
	python3 -c 'import json, sys
j = json.load(open("out"))
v = eval(sys.argv[1])
print(v if not isinstance(v, bool) else ("yes" if v else "no"))' "$1"
}

# --- usage: every command answers --help, refuses bad words -------------
run 0 "$CTL" --help && grep -q "^usage: crumbctl" out && [ ! -s err ] &&
	ok "crumbctl --help: usage on stdout, exit 0" ||
	fail "crumbctl --help"
run 0 "$CTL" --version && grep -q "^crumbctl [0-9]" out &&
	ok "crumbctl --version" || fail "crumbctl --version"
run 2 "$CTL" && grep -q "^crumbctl: no command" err &&
	ok "crumbctl without a command: exit 2" || fail "crumbctl without a command"
run 2 "$CTL" frobnicate && grep -q "unknown command" err &&
	ok "crumbctl frobnicate: exit 2" || fail "crumbctl frobnicate"
for cmd in stats purge list revoke migrate; do
	if run 0 "$CTL" "$cmd" --help && grep -q "^usage: crumbctl.* $cmd" out &&
	    [ ! -s err ]; then
		ok "crumbctl $cmd --help: its usage on stdout, exit 0"
	else
		fail "crumbctl $cmd --help"
	fi
	if run 2 "$CTL" --store x.db "$cmd" --frobnicate && [ ! -s out ] &&
	    grep -q "^crumbctl $cmd: unknown option --frobnicate" err &&
	    grep -q "^usage: crumbctl" err; then
		ok "crumbctl $cmd --frobnicate: usage on stderr, exit 2"
	else
		fail "crumbctl $cmd --frobnicate"
	fi
done
usage_error() {
	local what=$1
	shift
	if run 2 "$@" && [ ! -s out ] && grep -q "^usage: crumbctl" err; then
		ok "$what: exit 2"
	else
		fail "$what: want exit 2 and usage on stderr"
	fi
}
usage_error "stats without a store" "$CTL" stats
usage_error "stats with an operand" "$CTL" --store x.db stats extra
for bad in 0 -3 x "" 4294967296; do
	usage_error "purge --batch '$bad'" "$CTL" --store x.db purge --batch "$bad"
done
usage_error "purge --batch without N" "$CTL" --store x.db purge --batch
usage_error "list without USER" "$CTL" --store x.db list
usage_error "list with two users" "$CTL" --store x.db list a b
usage_error "list of a user with a control character" \
	"$CTL" --store x.db list "$(printf 'a\tb')"
usage_error "revoke without USER or HASH" "$CTL" --store x.db revoke
usage_error "revoke USER --session HASH" "$CTL" --store x.db revoke bob \
	--session "$(printf '%064d' 0)"
for bad in "$(printf '%064d' 0 | tr 0 A)" "$(printf '%063d' 0)" \
    "$(printf '%065d' 0)" "$(printf '%063dg' 0)" " $(printf '%063d' 0)"; do
	usage_error "revoke --session '$bad'" "$CTL" --store x.db revoke --session "$bad"
done
usage_error "migrate without --to" "$CTL" migrate --from x.db
usage_error "migrate onto itself" "$CTL" migrate --from x.db --to x.db
check "no usage error created a store" test ! -e x.db

# --- failures: one line, exit 1 ----------------------------------------
if run 1 "$CTL" --store missing.db stats && [ ! -e missing.db ] &&
    [ "$(wc -l < err)" -eq 1 ] &&
    grep -q "^crumbctl stats: missing.db: No such file or directory$" err; then
	ok "stats of a missing SQLite file: one line, exit 1, nothing created"
else
	fail "stats of a missing file: $(cat err)"
fi
printf 'not a database, not at all, and long enough to be read as one....' > junk.db
chmod 600 junk.db
run 1 "$CTL" --store junk.db purge && [ "$(wc -l < err)" -eq 1 ] &&
	grep -q "^crumbctl purge: junk.db: " err &&
	ok "purge of a file that is no database: one line, exit 1" ||
	fail "purge of junk: $(cat err)"

# --- the commands on one store -----------------------------------------
# suite NAME URL: sessions made, then every command checked against them.
suite() {
	local name=$1 url=$2 a1 a2 a3 ax1 ax2 b1 b2 anon cx h
	a1=$(make_session "$url" "alice $name" 3600 30 "Firefox") &&
	a2=$(make_session "$url" "alice $name" 3600 20 "curl") &&
	a3=$(make_session "$url" "alice $name" 3600 10) &&
	ax1=$(make_session "$url" "alice $name" 100 1000) &&
	ax2=$(make_session "$url" "alice $name" 100 1000) &&
	b1=$(make_session "$url" "bob $name" 3600 5) &&
	b2=$(make_session "$url" "bob $name" 3600 5) &&
	anon=$(make_session "$url" - 3600 0) &&
	cx=$(make_session "$url" "carol $name" 50 60) ||
		{ fail "$name: ctl-fixture could not make the sessions"; return; }

	if run 0 "$CTL" --store "$url" stats --json &&
	    [ "$(json 'j["records"], j["live"], j["expired"], j["users"]')" = "(9, 6, 3, 2)" ] &&
	    [ "$(json 'j["bytes"] is not None and j["bytes"] > 0')" = yes ]; then
		ok "$name: stats --json: 9 stored, 6 live, 3 expired, 2 users, a size"
	else
		fail "$name: stats --json: $(cat out err)"
	fi
	if run 0 "$CTL" stats --store="$url" &&
	    grep -qx "sessions stored: *9" out && grep -qx "  live: *6" out &&
	    grep -qx "  expired: *3 (not purged yet)" out &&
	    grep -qx "users (live): *2" out &&
	    grep -q "^store size: *[0-9.]* [KM]iB ([0-9]* bytes)$" out; then
		ok "$name: stats: the same in words"
	else
		fail "$name: stats: $(cat out err)"
	fi

	if run 0 "$CTL" --store "$url" list "alice $name" &&
	    [ "$(wc -l < out)" -eq 4 ] && head -n 1 out | grep -q "^HASH " &&
	    [ "$(sed -n '2,4p' out | cut -c1-64 | tr '\n' ' ')" = "$a3 $a2 $a1 " ] &&
	    sed -n 4p out | grep -q "  Firefox$" &&
	    sed -n 2p out | grep -Eq '^[0-9a-f]{64}  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  '; then
		ok "$name: list: alice's 3 live sessions, newest first, labels"
	else
		fail "$name: list alice: $(cat out err)"
	fi
	if run 0 "$CTL" --json --store "$url" list "alice $name" &&
	    [ "$(python3 -c 'import json, sys
j = json.load(open("out"))
print(" ".join(x["hash"] for x in j), j[2]["label"], j[0]["expires"] - j[0]["created"])')" = "$a3 $a2 $a1 Firefox 3600" ]; then
		ok "$name: list --json: the same hashes, label, times"
	else
		fail "$name: list --json: $(cat out err)"
	fi
	run 0 "$CTL" --store "$url" list "nobody $name" && [ ! -s out ] &&
		[ ! -s err ] && ok "$name: list of a user without sessions: nothing, exit 0" ||
		fail "$name: list nobody: $(cat out err)"

	# Off a terminal, purge says nothing on success: cron mails nothing.
	if run 0 "$CTL" --store "$url" purge --batch 2 && [ ! -s out ] &&
	    [ ! -s err ] && run 0 "$CTL" --store "$url" --json stats &&
	    [ "$(json 'j["records"], j["live"], j["expired"]')" = "(6, 6, 0)" ]; then
		ok "$name: purge: the 3 expired gone, the 6 live kept, silent off a terminal"
	else
		fail "$name: purge: $(cat out err)"
	fi
	for h in $a1 $a2 $a3 $b1 $b2 $anon; do
		run 0 "$FIX" "$url" show "$(cat "cookie.$h")" &&
			grep -q "^user=" out || fail "$name: session $h lost by the purge"
	done
	for h in $ax1 $ax2 $cx; do
		run 0 "$FIX" "$url" show "$(cat "cookie.$h")" && [ "$(cat out)" = none ] ||
			fail "$name: expired session $h still opens"
	done
	run 0 "$CTL" --store "$url" purge --json &&
		[ "$(json 'j["purged"]')" = 0 ] &&
		ok "$name: purge --json: 0 the second time" ||
		fail "$name: purge --json: $(cat out err)"
	run 0 "$CTL" --store "$url" purge --quiet --json && [ ! -s out ] &&
		ok "$name: purge --quiet --json: nothing at all" ||
		fail "$name: purge --quiet --json printed $(cat out)"

	if run 0 "$CTL" --store "$url" revoke --session "$b1" &&
	    [ "$(cat out)" = "revoked 1 session" ] &&
	    run 0 "$FIX" "$url" show "$(cat "cookie.$b1")" &&
	    [ "$(cat out)" = none ] &&
	    run 0 "$FIX" "$url" show "$(cat "cookie.$b2")" &&
	    grep -q "^user=bob $name " out; then
		ok "$name: revoke --session: that session signed out, bob's other kept"
	else
		fail "$name: revoke --session: $(cat out err)"
	fi
	run 1 "$CTL" --store "$url" revoke --session "$b1" &&
		[ "$(wc -l < err)" -eq 1 ] && grep -q "no live session has hash $b1" err &&
		ok "$name: revoke --session of a hash no longer there: exit 1" ||
		fail "$name: revoke --session twice: $(cat out err)"
	run 1 "$CTL" --store "$url" revoke --session "$ax1" &&
		ok "$name: revoke --session of an expired (purged) hash: exit 1" ||
		fail "$name: revoke --session expired"
	if run 0 "$CTL" --store "$url" revoke --session "$anon" &&
	    run 0 "$FIX" "$url" show "$(cat "cookie.$anon")" && [ "$(cat out)" = none ]; then
		ok "$name: revoke --session: also a session without a user"
	else
		fail "$name: revoke --session of the anonymous session"
	fi
	if run 0 "$CTL" --store "$url" revoke "alice $name" &&
	    [ "$(cat out)" = "revoked 3 sessions of the user" ] &&
	    run 0 "$CTL" --store "$url" list "alice $name" && [ ! -s out ] &&
	    run 0 "$FIX" "$url" show "$(cat "cookie.$a2")" && [ "$(cat out)" = none ] &&
	    run 0 "$FIX" "$url" show "$(cat "cookie.$b2")" && grep -q "^user=bob" out; then
		ok "$name: revoke USER: alice signed out everywhere, bob kept"
	else
		fail "$name: revoke alice: $(cat out err)"
	fi
	run 0 "$CTL" --store "$url" --json revoke "alice $name" &&
		[ "$(json 'j["revoked"]')" = 0 ] &&
		ok "$name: revoke --json of a user without sessions: 0, exit 0" ||
		fail "$name: revoke again: $(cat out err)"
	run 0 "$CTL" --store "$url" revoke --quiet "bob $name" && [ ! -s out ] &&
		ok "$name: revoke --quiet: silent" || fail "$name: revoke --quiet"
}

suite sqlite "sqlite:$WORK/sessions.db"
check "the SQLite store was made mode 0600" \
	test "$(stat -c %a sessions.db)" = 600

# --- progress line on a terminal ---------------------------------------
# 600 expired records, purged 1 a batch (a pause between batches), on a
# pseudo-terminal: the line is rewritten with \r, then the summary.
python3 - "$WORK/tty.db" <<'PY' || fail "could not fill tty.db"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("""CREATE TABLE IF NOT EXISTS crumb_sessions (id BLOB PRIMARY KEY,
    state TEXT NOT NULL, version INTEGER NOT NULL, user TEXT,
    created INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    expires INTEGER NOT NULL, label TEXT) WITHOUT ROWID""")
db.executemany("INSERT INTO crumb_sessions VALUES (randomblob(32), '{}', 1, NULL, 1, 1, 1000, NULL)",
    [()] * 600)
db.commit()
PY
chmod 600 tty.db
python3 - "$CTL" "$WORK/tty.db" > tty.out <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--store", sys.argv[2], "purge", "--batch", "1"])
data = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(repr(data.decode()) + "\n" + str(os.WEXITSTATUS(status)) + "\n")
PY
if grep -q '\\rpurging: [0-9]* expired sessions deleted' tty.out &&
    grep -q 'purged 600 expired sessions in [0-9.]* s' tty.out &&
    [ "$(tail -n 1 tty.out)" = 0 ]; then
	ok "purge on a terminal: a progress line rewritten with \\r, then the summary"
else
	fail "purge on a terminal: $(head -c 400 tty.out)"
fi

# --- PostgreSQL, and migrate from SQLite to it --------------------------
case " ${CRUMB_BUILT_STORES:-} " in
*" postgresql "*)
	# shellcheck source=tests/pg-server.sh
	. "$TOP/tests/pg-server.sh"
	if ! crumb_pg_start >/dev/null; then
		fail "no private PostgreSQL server"
	else
		suite postgresql "$PGURL"
		bad=${PGURL_TCP/:$PG_PASSWORD@/:wrong-$PG_PASSWORD@}
		if run 1 "$CTL" --store "$bad" stats && [ "$(wc -l < err)" -eq 1 ] &&
		    ! grep -q -- "$PG_PASSWORD" err out; then
			ok "stats with a wrong password: one line, exit 1, no password shown"
		else
			fail "stats with a wrong password: $(cat err)"
		fi

		# A site on SQLite moves to PostgreSQL: nobody signed out.
		src="sqlite:$WORK/site.db"
		m1=$(make_session "$src" "dora" 3600 100 "Safari") &&
		m2=$(make_session "$src" "dora" 7200 50) &&
		m3=$(make_session "$src" "emil" 3600 0) &&
		m4=$(make_session "$src" - 3600 0) &&
		mx=$(make_session "$src" "emil" 10 20) ||
			fail "ctl-fixture could not make the site's sessions"
		if run 0 "$CTL" migrate --from "$src" --to "$PGURL_TCP" &&
		    [ "$(cat out)" = "copied 4, skipped 0, expired-not-copied 1" ]; then
			ok "migrate SQLite -> PostgreSQL: copied 4, skipped 0, expired-not-copied 1"
		else
			fail "migrate: $(cat out err)"
		fi
		for h in $m1 $m2 $m3 $m4; do
			c=$(cat "cookie.$h")
			"$FIX" "$src" show "$c" > want 2>&1
			if run 0 "$FIX" "$PGURL" show "$c" && grep -q "^user=" out &&
			    cmp -s out want; then
				:
			else
				fail "migrated session $h: against PostgreSQL '$(cat out)', against SQLite '$(cat want)'"
			fi
		done
		ok "the site's cookies open the same sessions (state, user) against PostgreSQL"
		run 0 "$FIX" "$PGURL" show "$(cat "cookie.$mx")" && [ "$(cat out)" = none ] &&
			ok "the expired session was not copied" ||
			fail "the expired session came over: $(cat out)"
		if run 0 "$CTL" migrate --json --to "$PGURL_TCP" --from "$src" &&
		    [ "$(json 'j["copied"], j["skipped"], j["expired_not_copied"]')" = "(0, 4, 1)" ]; then
			ok "migrate again: copies 0, skips 4"
		else
			fail "migrate again: $(cat out err)"
		fi
		if run 0 "$CTL" --store "$PGURL" list dora &&
		    [ "$(sed -n '2,3p' out | cut -c1-64 | tr '\n' ' ')" = "$m2 $m1 " ] &&
		    sed -n 3p out | grep -q "  Safari$"; then
			ok "list on PostgreSQL after migrate: dora's sessions with their times and label"
		else
			fail "list dora on PostgreSQL: $(cat out err)"
		fi
		run 1 "$CTL" migrate --from "$WORK/none.db" --to "$PGURL" &&
			[ ! -e "$WORK/none.db" ] && [ "$(wc -l < err)" -eq 1 ] &&
			ok "migrate from a missing file: exit 1, nothing created" ||
			fail "migrate from a missing file: $(cat err)"
		rm -f "$WORK"/back.db*
		if run 0 "$CTL" migrate --from "$PGURL" --to "sqlite:$WORK/back.db" &&
		    grep -q "^copied [1-9][0-9]*, skipped 0, expired-not-copied 0$" out &&
		    run 0 "$FIX" "sqlite:$WORK/back.db" show "$(cat "cookie.$m1")" &&
		    grep -q "^user=dora " out; then
			ok "migrate PostgreSQL -> a new SQLite file: the sessions open there too"
		else
			fail "migrate back: $(cat out err)"
		fi
	fi
	;;
*)
	echo "PostgreSQL not built: its checks and migrate to it not tried"
	;;
esac

# --- Redis ---------------------------------------------------------------
# The fixture's clock runs AGO seconds behind: the Redis store counts a
# record's TTL from the caller's clock, so Redis keeps an "expired"
# record TTL seconds (50 at least here) after it was made, the time the
# suite needs; then stats and purge meet expired records there too.
case " ${CRUMB_BUILT_STORES:-} " in
*" redis "*)
	# shellcheck source=tests/redis-server.sh
	. "$TOP/tests/redis-server.sh"
	if ! crumb_redis_start >/dev/null; then
		fail "no private Redis server"
	else
		suite redis "$REDISURL"
		bad=${REDISURL_TCP/:$REDIS_PASSWORD@/:wrong-$REDIS_PASSWORD@}
		if run 1 "$CTL" --store "$bad" stats && [ "$(wc -l < err)" -eq 1 ] &&
		    ! grep -q -- "$REDIS_PASSWORD" err out; then
			ok "redis: stats with a wrong password: one line, exit 1, no password shown"
		else
			fail "redis: stats with a wrong password: $(cat err)"
		fi
	fi
	;;
*)
	echo "Redis not built: its checks not tried"
	;;
esac

# --- no session ID or cookie in anything crumbctl printed ----------------
leaks=0
while read -r s; do
	[ -n "$s" ] || continue
	if grep -qF -- "$s" all-output; then
		leaks=$((leaks + 1))
	fi
done < secrets
if [ "$(wc -l < secrets)" -gt 20 ] && [ "$leaks" -eq 0 ]; then
	ok "no session ID (hex, base64) or cookie in crumbctl's output ($(wc -l < secrets) secrets looked for)"
else
	fail "$leaks session IDs or cookies appear in crumbctl's output"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures failed"
	exit 1
fi
echo "all passed"
