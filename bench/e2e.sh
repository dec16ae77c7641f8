#!/bin/bash
# End-to-end and memory benchmarks: the guestbook through Apache beside
# session-less programs and a floor, and a worker's memory over a long run.
#
#   bench/e2e.sh [BUILD_DIR [--quick]]    (default: the current directory)
#
# Starts ONE private Apache (conf/apache-common.conf.in +
# bench/apache-bench.conf.in) on a free 127.0.0.1 port with two FastCGI
# backends started by spawn-fcgi: the guestbook (4 workers) under / and
# /counter, and the session-less cgi-bin/hello (4 workers) under /hello.
# wrk then drives, each after a warm-up, in ROUNDS interleaved rounds
# (hello, counter, anon, hello, ...) so that a load burst from elsewhere
# on the machine hits all three alike:
#   counter  GET /counter with a kept session cookie
#   hello    GET /hello
#   anon     GET / without a cookie (checked to cost no session-store
#            I/O: sessions.db rows and file sizes/mtimes unchanged over
#            the wrk run, and strace of the workers over 200 requests
#            sees no system call on sessions.db, -wal or -shm)
#   pgcounter  GET /pg/counter with a kept cookie: the same guestbook
#            (4 more workers) with its sessions and entries in a private
#            PostgreSQL server (tests/pg-server.sh) reached over loopback
#            TCP with a password, as another host would; only when built
#            with libpq.  Its network round trips per request are counted
#            with strace (the workers' sends to the server's port over
#            100 requests; /counter is an atomic increment, 3 round
#            trips: a plain read is 1, a read + write 2).
#   rdcounter  GET /redis/counter with a kept cookie: the same guestbook
#            (4 more workers) with its sessions in a private Redis
#            (tests/redis-server.sh) reached over loopback TCP with a
#            password, and its entries in the private PostgreSQL (GB_DB;
#            the SQLite guestbook.db when built without libpq), the usual
#            split; only when built with hiredis.  /counter reads and
#            writes the session only, never the entries, so its cost is
#            the Redis store's.  Round trips counted as for PostgreSQL
#            (sends to Redis's port; and to PostgreSQL's, which must be
#            none); /counter there is a read, then a compare-and-swap
#            script: 2.
# Then memory: the stack restarts with ONE guestbook worker, wrk sends
# 100,000 GET /counter (1 in 4 without a cookie: a new session; the
# rest with a kept cookie: an update) and the worker's VmRSS is read
# after 10,000 and 100,000 requests; and the size of the session cookie
# for empty client state (a fresh /counter response).
#
# Prints a table, then one "target NAME: MEASURED (want OP GOAL) met|missed"
# line per target; writes the figures as KEY=VALUE lines to
# BUILD_DIR/bench-e2e.txt.  Exit status 0 when the run completed (whether
# or not targets are met), 1 on failure.
#
# req/s is all requests of a kind over all its rounds; p50 and p99 are the
# medians of the rounds' wrk --latency percentiles.
#
# Environment: E2E_DURATION (measured seconds per kind, default 12),
# E2E_ROUNDS (3), E2E_WARMUP (2), E2E_THREADS (2), E2E_CONNS (16),
# E2E_REUSE (enablereuse=on|off for both backends, default off, as in
# conf/apache-fcgi.conf.in; "on" starves libfcgi's one-connection-at-a-
# time workers: pooled connections held by idle Apache threads leave the
# others waiting, measured at ~0 req/s with timeouts), E2E_MEM_REQUESTS (100000), E2E_MEM_PREFILL
# (sessions stored before the memory run starts, default 0: a fresh
# store, whose growth fills SQLite's page cache, 2 MiB by default,
# during the run).  --quick: 3 s
# runs, 1 s warm-ups, 20,000 memory requests (not for the record).
# --hold: start the four-worker stack, print a "HOLD base=... cookie=...
# apache=PID guestbook=PIDS hello=PIDS pg=PIDS redis=PIDS" line and keep it up until
# SIGINT/SIGTERM (for profiling by hand).
set -u
umask 077

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-.}" && pwd) || { echo "e2e: no build dir ${1:-.}" >&2; exit 1; }
QUICK=${2:-}
GUESTBOOK=$BUILD/cgi-bin/guestbook
HELLO=$BUILD/cgi-bin/hello
FLOOR=$BUILD/bench/floor-fcgi
KEYGEN=$BUILD/lib/crumb-keygen
OUT=$BUILD/bench-e2e.txt
HAVE_PG=
grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD/config.h" 2>/dev/null &&
    HAVE_PG=1
HAVE_REDIS=
grep -q '^#define CRUMB_HAVE_REDIS 1' "$BUILD/config.h" 2>/dev/null &&
    HAVE_REDIS=1

DURATION=${E2E_DURATION:-12}
ROUNDS=${E2E_ROUNDS:-3}
WARMUP=${E2E_WARMUP:-2}
THREADS=${E2E_THREADS:-2}
CONNS=${E2E_CONNS:-16}
REUSE=${E2E_REUSE:-off}
MEM_REQUESTS=${E2E_MEM_REQUESTS:-100000}
if [ "$QUICK" = --quick ]; then
	DURATION=${E2E_DURATION:-3}
	ROUNDS=${E2E_ROUNDS:-1}
	WARMUP=${E2E_WARMUP:-1}
	MEM_REQUESTS=${E2E_MEM_REQUESTS:-20000}
fi
MEM_FIRST=10000
MEM_PREFILL=${E2E_MEM_PREFILL:-0}

APACHE_PID=
WORKER_PIDS=
GB_PIDS=
PG_PIDS=
PG_FCGI_PORT=
RD_PIDS=
RD_FCGI_PORT=
SPAWN_STORE=
SPAWN_GB_DB=
HELLO_PIDS=
FLOOR_PIDS=
CPU_PIDS=
STRACE_PID=
W=
STATE=
RUN_DIR=

say() { echo "e2e: $*" >&2; }
die() { say "$*"; exit 1; }

# ------------------------------------------------------------------
# Setup

deps() {
	# shellcheck source=../scripts/deps.sh
	. "$SRC/scripts/deps.sh"
	crumb_deps wrk apache2 spawn-fcgi curl sqlite3 strace \
	    ${HAVE_PG:+postgresql} ${HAVE_REDIS:+redis-server} ||
	    die "cannot install the packages the benchmark needs"
	[ -x "$GUESTBOOK" ] && [ -x "$HELLO" ] && [ -x "$KEYGEN" ] &&
	    [ -x "$FLOOR" ] ||
	    die "$BUILD is not built (cgi-bin/guestbook, cgi-bin/hello, lib/crumb-keygen, bench/floor-fcgi)"
}

pick_user() {
	if [ "$(id -u)" -eq 0 ]; then
		RUN_USER=${CRUMB_RUN_USER:-www-data}
		RUN_GROUP=$(id -gn "$RUN_USER") || die "no user $RUN_USER"
		runuser -u "$RUN_USER" -- test -x "$GUESTBOOK" ||
		    die "$RUN_USER cannot run $GUESTBOOK"
	else
		RUN_USER=$(id -un)
		RUN_GROUP=$(id -gn)
	fi
}

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$RUN_USER" -- "$@"
	else
		"$@"
	fi
}

# Below the kernel's ephemeral range (32768-60999 on Linux): the
# thousands of loopback connections of a run hold ports there.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# A fresh state directory: key, and both databases created in WAL mode
# (as scripts/stack.sh does).
new_state() {
	STATE=$W/state
	rm -rf "$STATE"
	mkdir -m 0700 "$STATE" "$STATE/run" || die "cannot create $STATE"
	RUN_DIR=$STATE/run
	"$KEYGEN" "$STATE/key" >/dev/null || die "crumb-keygen failed"
	local db sql
	for db in sessions:sqlite-store guestbook:guestbook; do
		sql=$SRC/sql/${db#*:}.sql
		{ cat "$sql"; echo 'PRAGMA journal_mode=WAL;'; } |
		    sqlite3 -batch "$STATE/${db%%:*}.db" >/dev/null ||
		    die "cannot initialise ${db%%:*}.db"
	done
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$RUN_USER:$RUN_GROUP" "$W" || die "cannot chown $W"
	fi
}

# spawn_workers PROGRAM COUNT PIDFILE: prints the port spawn-fcgi bound.
spawn_workers() {
	local prog=$1 n=$2 pidfile=$3 try port out user_opts=()
	[ "$(id -u)" -eq 0 ] && user_opts=(-u "$RUN_USER" -g "$RUN_GROUP")
	for try in $(seq 1 10); do
		port=$(free_port) || break
		rm -f "$pidfile"
		if out=$(CRUMB_STATE_DIR=$STATE CRUMB_INSECURE_COOKIE=1 \
		    CRUMB_STORE=$SPAWN_STORE GB_DB=$SPAWN_GB_DB spawn-fcgi -a 127.0.0.1 -p "$port" -F "$n" -P "$pidfile" \
		    "${user_opts[@]}" -- /bin/sh -c 'exec "$0" 2>>"$1"' \
		    "$prog" "$RUN_DIR/fcgi.log" 2>&1); then
			echo "$port"
			return 0
		fi
		case $out in *"bind failed"*) continue ;; esac
		say "spawn-fcgi failed: $out"
		return 1
	done
	say "no free port for $prog"
	return 1
}

render() {
	sed -e "s|@PORT@|$PORT|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
	    -e "s|@STATE_DIR@|$STATE|g" -e "s|@USER@|$RUN_USER|g" \
	    -e "s|@GROUP@|$RUN_GROUP|g" -e "s|@FCGI_PORT@|$GB_PORT|g" \
	    -e "s|@HELLO_PORT@|$HELLO_PORT|g" -e "s|@REUSE@|$REUSE|g" \
	    -e "s|@FLOOR_PORT@|$FLOOR_PORT|g" \
	    -e "s|@PG_FCGI_PORT@|$PG_FCGI_PORT|g" \
	    -e "s|@RD_FCGI_PORT@|$RD_FCGI_PORT|g" \
	    -e "s|@GUESTBOOK@|$GUESTBOOK|g" -e "s|@INSECURE@|1|g" \
	    -e "s|@LOG_DIR@|$RUN_DIR|g" -e "s|@LOG_MAX@|8M|g" \
	    -e "s|@ROTATELOGS@|$(command -v rotatelogs)|g" "$@"
}

# prefill N: N unexpired sessions with random IDs, straight into the
# store (as its owner, before any worker opens it).
prefill() {
	[ "$1" -gt 0 ] || return 0
	as_owner sqlite3 -batch "$STATE/sessions.db" "
	    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
	        WHERE i < $1)
	    INSERT INTO crumb_sessions (id, state, version, user, created,
	        last_seen, expires)
	    SELECT randomblob(32), '{\"count\":1}', 1, NULL, unixepoch(),
	        unixepoch(), unixepoch() + 86400 FROM n;" ||
	    die "cannot prefill the session store"
}

# start_stack GUESTBOOK_WORKERS [PREFILL]: a fresh state (PREFILL stored
# sessions), both backends, Apache.
start_stack() {
	local try
	GB_N=$1
	new_state
	prefill "${2:-0}"
	GB_PORT=$(spawn_workers "$GUESTBOOK" "$1" "$RUN_DIR/gb.pid") ||
	    die "cannot start the guestbook workers"
	GB_PIDS=$(tr '\n' ' ' < "$RUN_DIR/gb.pid")
	WORKER_PIDS=$GB_PIDS
	# The baseline page for the anonymous GET /: as many bytes as the
	# guestbook's own anonymous page (run once as plain CGI).
	HELLO_PAGE_BYTES=$(as_owner env CRUMB_STATE_DIR="$STATE" \
	    REQUEST_METHOD=GET REQUEST_URI=/ SERVER_PROTOCOL=HTTP/1.1 \
	    "$GUESTBOOK" 2>/dev/null | sed '1,/^\r*$/d' | wc -c)
	export HELLO_PAGE_BYTES
	HELLO_PORT=$(spawn_workers "$HELLO" 4 "$RUN_DIR/hello.pid") ||
	    die "cannot start the hello workers"
	HELLO_PIDS=$(tr '\n' ' ' < "$RUN_DIR/hello.pid")
	WORKER_PIDS="$WORKER_PIDS $HELLO_PIDS"
	FLOOR_PORT=$(spawn_workers "$FLOOR" 4 "$RUN_DIR/floor.pid") ||
	    die "cannot start the floor workers"
	FLOOR_PIDS=$(tr '\n' ' ' < "$RUN_DIR/floor.pid")
	WORKER_PIDS="$WORKER_PIDS $FLOOR_PIDS"
	# The guestbook on PostgreSQL, for the four-worker stack; without
	# it, /pg/counter goes to the SQLite guestbook (and is not measured).
	PG_FCGI_PORT=$GB_PORT
	PG_PIDS=
	if [ -n "$HAVE_PG" ] && [ "$GB_N" = 4 ]; then
		PG_FCGI_PORT=$(SPAWN_STORE=$PGURL_TCP spawn_workers \
		    "$GUESTBOOK" 4 "$RUN_DIR/gbpg.pid") ||
		    die "cannot start the guestbook workers on PostgreSQL"
		PG_PIDS=$(tr '\n' ' ' < "$RUN_DIR/gbpg.pid")
		WORKER_PIDS="$WORKER_PIDS $PG_PIDS"
	fi
	# The guestbook with its sessions in Redis and its entries in
	# PostgreSQL (or SQLite), likewise for /redis/counter.
	RD_FCGI_PORT=$GB_PORT
	RD_PIDS=
	if [ -n "$HAVE_REDIS" ] && [ "$GB_N" = 4 ]; then
		RD_FCGI_PORT=$(SPAWN_STORE=$REDISURL_TCP \
		    SPAWN_GB_DB=${HAVE_PG:+$PGURL_TCP} spawn_workers \
		    "$GUESTBOOK" 4 "$RUN_DIR/gbrd.pid") ||
		    die "cannot start the guestbook workers on Redis"
		RD_PIDS=$(tr '\n' ' ' < "$RUN_DIR/gbrd.pid")
		WORKER_PIDS="$WORKER_PIDS $RD_PIDS"
	fi
	for try in 1 2 3; do
		start_apache && return 0
	done
	die "cannot start Apache"
}

# start_apache: 0 when / and /hello answer 200; 1 when Apache could not
# bind its port (the caller retries with another).
start_apache() {
	local i code
	PORT=$(free_port) || die "no free port for Apache"
	BASE=http://127.0.0.1:$PORT
	render "$SRC/conf/apache-common.conf.in" \
	    "$SRC/bench/apache-bench.conf.in" > "$RUN_DIR/httpd.conf"
	apache2 -f "$RUN_DIR/httpd.conf" -DFOREGROUND \
	    >>"$RUN_DIR/apache.out" 2>&1 &
	APACHE_PID=$!
	for i in $(seq 1 150); do
		kill -0 "$APACHE_PID" 2>/dev/null || {
			wait "$APACHE_PID" 2>/dev/null
			APACHE_PID=
			if grep -q 'could not bind' "$RUN_DIR/apache.out"; then
				: > "$RUN_DIR/apache.out"
				return 1
			fi
			tail -n 20 "$RUN_DIR/apache.out" "$RUN_DIR/error.log" >&2
			die "Apache exited"
		}
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		    "$BASE/hello")
		[ "$code" = 200 ] &&
		    code=$(curl -s -o /dev/null -w '%{http_code}' \
		    --max-time 2 "$BASE/")
		[ "$code" = 200 ] && {
			say "stack up on $BASE (guestbook x$GB_N pids $GB_PIDS;" \
			    "hello x4; enablereuse=$REUSE)"
			return 0
		}
		sleep 0.2
	done
	tail -n 20 "$RUN_DIR/error.log" "$RUN_DIR/fcgi.log" >&2
	die "no 200 from $BASE after 30 s"
}

wait_gone() {
	local i
	for i in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
}

stop_stack() {
	local pid
	if [ -n "$APACHE_PID" ]; then
		kill -TERM "$APACHE_PID" 2>/dev/null
		wait_gone "$APACHE_PID"
		wait "$APACHE_PID" 2>/dev/null
		APACHE_PID=
	fi
	for pid in $WORKER_PIDS; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $WORKER_PIDS; do wait_gone "$pid"; done
	WORKER_PIDS=
	GB_PIDS=
}

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$STRACE_PID" ]; then
		kill -TERM "$STRACE_PID" 2>/dev/null
		wait "$STRACE_PID" 2>/dev/null
	fi
	stop_stack
	[ -n "$W" ] && rm -rf "$W"
}

# ------------------------------------------------------------------
# Measuring

# The session cookie "id=VALUE" of a fresh GET /counter, or of PATH (no
# cookie sent).
fresh_cookie() {
	curl -s -o /dev/null -D - --max-time 5 "$BASE${1:-/counter}" |
	    tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: *\(id=[^;]*\).*/\1/p' |
	    head -n 1
}

# wrk_warm PATH [wrk args...]: a warm-up run, not measured.
wrk_warm() {
	local path=$1
	shift
	wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$@" "$BASE$path" \
	    > "$W/warm.txt" 2>&1 || die "wrk failed: $(cat "$W/warm.txt")"
}

# CPU ticks (user + system) of the given processes so far.
ticks() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) &&
		    t=$((t + v))
	done
	echo "$t"
}

# Apache's processes: the parent and its children.
apache_pids() {
	echo "$APACHE_PID $(pgrep -P "$APACHE_PID" | tr '\n' ' ')"
}

# wrk_run NAME ROUND PATH [wrk args...]: one measured run, its output
# in $W/wrk-NAME-ROUND.txt; the CPU it cost Apache, the workers in
# $CPU_PIDS and wrk itself is added to $W/cpu-NAME.txt (ticks).
wrk_run() {
	local name=$1 round=$2 path=$3 secs a0 a1 w0 w1 c
	shift 3
	secs=$(( (DURATION + ROUNDS - 1) / ROUNDS ))
	a0=$(ticks $(apache_pids))
	w0=$(ticks $CPU_PIDS)
	# In a subshell of its own, whose "times" are then wrk's.
	(wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --latency "$@" \
	    "$BASE$path" > "$W/wrk-$name-$round.txt" 2>&1 || exit 1
	    times > "$W/times.txt") ||
	    die "wrk failed: $(cat "$W/wrk-$name-$round.txt")"
	c=$(tail -n 1 "$W/times.txt")
	a1=$(ticks $(apache_pids))
	w1=$(ticks $CPU_PIDS)
	# times: "0m1.234s 0m0.567s" for the children (wrk) of the subshell
	echo "$((a1 - a0)) $((w1 - w0)) $(echo "$c" | awk -v hz="$(getconf CLK_TCK)" '
	    function s(v) { sub(/s$/, "", v); split(v, a, "m"); return a[1] * 60 + a[2] }
	    { printf "%.0f\n", (s($1) + s($2)) * hz }') $(wrk_fig "$W/wrk-$name-$round.txt" requests)" \
	    >> "$W/cpu-$name.txt"
}

# cpu_us NAME: "apache worker wrk" microseconds of CPU per request.
cpu_us() {
	awk -v hz="$(getconf CLK_TCK)" '
	{ a += $1; w += $2; k += $3; n += $4 }
	END {
		f = (n > 0) ? 1e6 / hz / n : 0
		printf "%.0f %.0f %.0f\n", a * f, w * f, k * f
	}' "$W/cpu-$1.txt"
}

# wrk_sum NAME FIELD: rps (all requests / all seconds), p50 and p99 (ms,
# median of the rounds), errors (sum).
wrk_sum() {
	local f
	for f in "$W/wrk-$1-"*.txt; do
		case $2 in
		rps) awk '/requests in/ { n = $1; t = $4; sub(/s,$/, "", t);
			print n, t }' "$f" ;;
		*) wrk_fig "$f" "$2" ;;
		esac
	done | sort -n | awk -v f="$2" '
	{ v[NR] = $1; n += $1; t += $2 }
	END {
		if (f == "rps") printf "%.0f\n", (t > 0) ? n / t : 0
		else if (f == "errors" || f == "transport") print n + 0
		else print v[int((NR + 1) / 2)]
	}'
}

# wrk_fig FILE FIELD: rps | p50 | p99 (ms) | errors (non-2xx/3xx +
# socket errors) | transport (socket errors only: connect, read, write,
# timeout) | requests.
wrk_fig() {
	awk -v f="$2" '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/requests in/ { req = $1 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	/Socket errors:/ {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+,?$/) { err += $i + 0; sock += $i + 0 }
	}
	END {
		if (f == "rps") printf "%.0f\n", rps
		else if (f == "p50") printf "%.2f\n", p50
		else if (f == "p99") printf "%.2f\n", p99
		else if (f == "requests") print req + 0
		else if (f == "transport") print sock + 0
		else print err + 0
	}' "$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0) ? a / b : 0 }'; }

# The session store's footprint: row count, and size:mtime of each file.
store_sig() {
	local f rows
	rows=$(as_owner sqlite3 "$STATE/sessions.db" \
	    'SELECT count(*) FROM crumb_sessions' 2>/dev/null)
	printf 'rows=%s' "$rows"
	for f in sessions.db sessions.db-wal; do
		[ -e "$STATE/$f" ] &&
		    printf ' %s=%s' "$f" "$(stat -c '%s:%.9Y' "$STATE/$f")"
	done
	echo
}

# strace_count N PATH [curl args]: system calls the guestbook workers make
# on sessions.db* while serving N sequential requests for PATH.
strace_count() {
	local n=$1 path=$2 i args=() pid
	shift 2
	for pid in $GB_PIDS; do args+=(-p "$pid"); done
	: > "$W/strace.txt"
	strace -f -y -qq -o "$W/strace.txt" "${args[@]}" &
	STRACE_PID=$!
	sleep 0.5       # let strace attach to every worker
	for i in $(seq 1 "$n"); do
		curl -s -o /dev/null --max-time 5 "$@" "$BASE$path"
	done
	sleep 0.2
	kill -TERM "$STRACE_PID" 2>/dev/null
	wait "$STRACE_PID" 2>/dev/null
	STRACE_PID=
	# Lines that name one of the store's files, and all lines (so
	# that a broken trace, which saw nothing at all, shows).
	echo "$(grep -c 'sessions\.db' "$W/strace.txt") $(wc -l < "$W/strace.txt")"
}

# round_trips N PATH COOKIE PIDS PORT...: the workers' (PIDS) sends to
# each server PORT (each send of libpq's or of the Redis store's is one
# round trip: it then waits for the answer) over N sequential GET PATH
# with COOKIE, per request, one figure per PORT.  strace -yy names each
# socket's ends, so sends to a server's port are told from the FastCGI
# answers.
round_trips() {
	local n=$1 path=$2 cookie=$3 pids=$4 i args=() pid port sends out=
	shift 4
	for pid in $pids; do args+=(-p "$pid"); done
	: > "$W/strace-rt.txt"
	strace -f -yy -qq -e trace=sendto,sendmsg,write,writev \
	    -o "$W/strace-rt.txt" "${args[@]}" &
	STRACE_PID=$!
	sleep 0.5
	for i in $(seq 1 "$n"); do
		curl -s -o /dev/null --max-time 5 -H "Cookie: $cookie" \
		    "$BASE$path"
	done
	sleep 0.2
	kill -TERM "$STRACE_PID" 2>/dev/null
	wait "$STRACE_PID" 2>/dev/null
	STRACE_PID=
	for port in "$@"; do
		sends=$(grep -c "127.0.0.1:$port\]" "$W/strace-rt.txt")
		out="$out${out:+ }$(awk -v s="$sends" -v n="$n" \
		    'BEGIN { printf "%.2f\n", s / n }')"
	done
	echo "$out"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# wrk script for the memory run: 1 request in 4 without a cookie (a new
# session), the others with the kept cookie (an update).  wrk itself
# always runs for its whole -d, so the script counts responses (one wrk
# thread: the count is exact), writes "responses errors" to E2E_OUT and
# ends the process once E2E_LIMIT responses have arrived.
write_mix_lua() {
	cat > "$W/mix.lua" <<'EOF'
local limit = tonumber(os.getenv("E2E_LIMIT"))
local cookie = os.getenv("E2E_COOKIE")
local out = os.getenv("E2E_OUT")
local sent, done, errors = 0, 0, 0
request = function()
	sent = sent + 1
	if sent % 4 == 0 then
		return wrk.format("GET", "/counter")
	end
	return wrk.format("GET", "/counter", { ["Cookie"] = cookie })
end
response = function(status, headers, body)
	done = done + 1
	if status ~= 200 then errors = errors + 1 end
	if done >= limit then
		local f = io.open(out, "w")
		f:write(done, " ", errors, "\n")
		f:close()
		os.exit(0)
	end
end
EOF
}

# mem_drive N: N more /counter requests of the mix, one wrk thread.
mem_drive() {
	local res=$W/mem-$MEM_SENT.res n e
	rm -f "$res"
	E2E_LIMIT=$1 E2E_COOKIE=$MEM_COOKIE E2E_OUT=$res wrk -t1 -c4 \
	    -d300s -s "$W/mix.lua" "$BASE/counter" > "$W/wrk-mem.txt" 2>&1
	[ -s "$res" ] || die "wrk did not finish the memory run: $(cat "$W/wrk-mem.txt")"
	read -r n e < "$res"
	MEM_SENT=$((MEM_SENT + n))
	MEM_ERR=$((MEM_ERR + e))
}

# row LABEL NAME RPS P50 P99 ERRORS RATIO: one line of the table.
row() {
	local cpu
	cpu=$(cpu_us "$2")
	printf '%-28s %8s %8s %8s %7s %7s   %s\n' "$1" "$3" "$4" "$5" "$6" \
	    "$7" "$(echo "$cpu" | awk '{ printf "%6d %6d %6d", $1, $2, $3 }')"
}

# ------------------------------------------------------------------

main() {
	local c_rps c_p50 c_p99 c_err h_rps h_p50 h_p99 h_err a_rps a_p50
	local a_p99 a_err r_counter r_anon sig0 sig1 st_anon st_counter
	local p_rps p_p50 p_p99 p_err r_anon_small
	local f_rps f_p50 f_p99 f_err r_floor r_counter_floor
	local round sig_ok sig_first
	local store_ok rss10 rss100 growth cookie_len header_len gb_pid
	local t_counter t_anon t_rss
	local pg_rt g_rps g_p50 g_p99 g_err r_pg t_sock t_transport
	local rd_rt rd_pg_rt d_rps d_p50 d_p99 d_err r_rd

	deps
	pick_user
	W=$(mktemp -d /tmp/crumb-bench-e2e.XXXXXX) || die "mktemp failed"
	chmod 0755 "$W"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ -n "$HAVE_PG" ]; then
		# shellcheck source=../tests/pg-server.sh
		. "$SRC/tests/pg-server.sh"
		# Stopped at exit, after cleanup (crumb_pg_start adds to the trap).
		crumb_pg_start >/dev/null || die "PostgreSQL did not start"
		say "PostgreSQL on 127.0.0.1:$PG_PORT"
	fi
	if [ -n "$HAVE_REDIS" ]; then
		# shellcheck source=../tests/redis-server.sh
		. "$SRC/tests/redis-server.sh"
		# Stopped by its PID at exit, after cleanup, likewise.
		crumb_redis_start >/dev/null || die "Redis did not start"
		say "Redis on 127.0.0.1:$REDIS_PORT"
	fi

	# ---- part 4: end to end
	start_stack 4
	COOKIE=$(fresh_cookie)
	# The floor counts in a session of its own.
	FLOOR_COOKIE=$(fresh_cookie)
	[ -n "$COOKIE" ] && [ -n "$FLOOR_COOKIE" ] ||
	    die "GET /counter set no session cookie"
	[ "$(curl -s --max-time 5 -H "Cookie: $FLOOR_COOKIE" "$BASE/floor")" = \
	    '{"count":2}' ] || die "the floor does not count in the guestbook's session"
	if [ -n "$HAVE_PG" ]; then
		PG_COOKIE=$(fresh_cookie /pg/counter)
		[ "$(curl -s --max-time 5 -H "Cookie: $PG_COOKIE" \
		    "$BASE/pg/counter")" = '{"count":2}' ] ||
		    die "GET /pg/counter does not count on PostgreSQL"
	fi
	if [ -n "$HAVE_REDIS" ]; then
		RD_COOKIE=$(fresh_cookie /redis/counter)
		[ "$(curl -s --max-time 5 -H "Cookie: $RD_COOKIE" \
		    "$BASE/redis/counter")" = '{"count":2}' ] ||
		    die "GET /redis/counter does not count on Redis"
		[ "$(REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -s "$REDIS_SOCK" \
		    -n 2 --scan --pattern 'crumb:s:*' | wc -l)" -gt 0 ] ||
		    die "GET /redis/counter stored no session in Redis"
	fi
	if [ "$QUICK" = --hold ]; then
		# For profiling by hand: the stack stays up until a signal.
		echo "HOLD base=$BASE cookie=$COOKIE apache=$APACHE_PID" \
		    "guestbook=$GB_PIDS hello=$(tr '\n' ' ' < "$RUN_DIR/hello.pid")" \
		    "pg=$PG_PIDS redis=$RD_PIDS"
		while :; do sleep 1; done
	fi

	say "warm-up ..."
	wrk_warm /hello
	wrk_warm /hello/page
	wrk_warm /counter -H "Cookie: $COOKIE"
	wrk_warm /floor -H "Cookie: $FLOOR_COOKIE"
	[ -z "$HAVE_PG" ] || wrk_warm /pg/counter -H "Cookie: $PG_COOKIE"
	[ -z "$HAVE_REDIS" ] ||
	    wrk_warm /redis/counter -H "Cookie: $RD_COOKIE"
	wrk_warm /
	sig_ok=yes
	sig_first=
	for round in $(seq 1 "$ROUNDS"); do
		say "round $round/$ROUNDS: GET /hello, GET /counter (kept" \
		    "cookie), GET / (anonymous) ..."
		CPU_PIDS=$HELLO_PIDS
		wrk_run hello "$round" /hello
		wrk_run hpage "$round" /hello/page
		CPU_PIDS=$FLOOR_PIDS
		wrk_run floor "$round" /floor -H "Cookie: $FLOOR_COOKIE"
		CPU_PIDS=$GB_PIDS
		wrk_run counter "$round" /counter -H "Cookie: $COOKIE"
		sig0=$(store_sig)
		wrk_run anon "$round" /
		sig1=$(store_sig)
		[ "$sig0" = "$sig1" ] || sig_ok=no
		[ -n "$sig_first" ] || sig_first="before: $sig0; after: $sig1"
		if [ -n "$HAVE_PG" ]; then
			CPU_PIDS=$PG_PIDS
			wrk_run pgcounter "$round" /pg/counter \
			    -H "Cookie: $PG_COOKIE"
		fi
		if [ -n "$HAVE_REDIS" ]; then
			CPU_PIDS=$RD_PIDS
			wrk_run rdcounter "$round" /redis/counter \
			    -H "Cookie: $RD_COOKIE"
		fi
	done
	pg_rt=
	if [ -n "$HAVE_PG" ]; then
		pg_rt=$(round_trips 100 /pg/counter "$PG_COOKIE" "$PG_PIDS" \
		    "$PG_PORT")
		g_rps=$(wrk_sum pgcounter rps)
		g_p50=$(wrk_sum pgcounter p50)
		g_p99=$(wrk_sum pgcounter p99)
		g_err=$(wrk_sum pgcounter errors)
	fi
	rd_rt=
	rd_pg_rt=
	if [ -n "$HAVE_REDIS" ]; then
		# Sends to Redis, and to PostgreSQL (the entries: none for
		# /counter) when it is there.
		read -r rd_rt rd_pg_rt <<< "$(round_trips 100 /redis/counter \
		    "$RD_COOKIE" "$RD_PIDS" "$REDIS_PORT" ${HAVE_PG:+"$PG_PORT"})"
		d_rps=$(wrk_sum rdcounter rps)
		d_p50=$(wrk_sum rdcounter p50)
		d_p99=$(wrk_sum rdcounter p99)
		d_err=$(wrk_sum rdcounter errors)
	fi
	st_anon=$(strace_count 200 /)
	st_counter=$(strace_count 20 /counter -H "Cookie: $COOKIE")

	h_rps=$(wrk_sum hello rps)
	h_p50=$(wrk_sum hello p50)
	h_p99=$(wrk_sum hello p99)
	h_err=$(wrk_sum hello errors)
	c_rps=$(wrk_sum counter rps)
	c_p50=$(wrk_sum counter p50)
	c_p99=$(wrk_sum counter p99)
	c_err=$(wrk_sum counter errors)
	a_rps=$(wrk_sum anon rps)
	a_p50=$(wrk_sum anon p50)
	a_p99=$(wrk_sum anon p99)
	a_err=$(wrk_sum anon errors)
	p_rps=$(wrk_sum hpage rps)
	p_p50=$(wrk_sum hpage p50)
	p_p99=$(wrk_sum hpage p99)
	p_err=$(wrk_sum hpage errors)
	f_rps=$(wrk_sum floor rps)
	f_p50=$(wrk_sum floor p50)
	f_p99=$(wrk_sum floor p99)
	f_err=$(wrk_sum floor errors)
	# Requests that got no HTTP answer at all, over every measured run:
	# a keep-alive connection closed under one is a read error.
	t_sock=$(cat "$W"/wrk-*.txt 2>/dev/null | wrk_fig /dev/stdin transport)
	r_floor=$(ratio "$f_rps" "$h_rps")
	r_counter_floor=$(ratio "$c_rps" "$f_rps")
	r_counter=$(ratio "$c_rps" "$h_rps")
	[ -z "$HAVE_PG" ] || r_pg=$(ratio "$g_rps" "$h_rps")
	[ -z "$HAVE_REDIS" ] || r_rd=$(ratio "$d_rps" "$h_rps")
	r_anon=$(ratio "$a_rps" "$p_rps")
	r_anon_small=$(ratio "$a_rps" "$h_rps")
	# No store I/O: the footprint is unchanged over the whole wrk run,
	# and strace saw no call on the store's files (while it did see
	# calls at all, and did see the store's files for /counter).
	store_ok=no
	if [ "$sig_ok" = yes ] && [ "${st_anon% *}" = 0 ] &&
	    [ "${st_anon#* }" -gt 0 ] && [ "${st_counter% *}" -gt 0 ]; then
		store_ok=yes
	fi
	stop_stack

	# ---- part 5: memory, one guestbook worker
	start_stack 1 "$MEM_PREFILL"
	gb_pid=${GB_PIDS%% *}
	MEM_COOKIE=$(fresh_cookie)
	cookie_len=$(( ${#MEM_COOKIE} - 3 ))     # the value, without "id="
	header_len=$(curl -s -o /dev/null -D - --max-time 5 "$BASE/counter" |
	    tr -d '\r' | grep -i '^set-cookie: id=' | head -n 1 |
	    awk '{ sub(/^[^:]*: */, ""); print length($0) }')
	write_mix_lua
	MEM_SENT=0
	MEM_ERR=0
	say "memory: $MEM_FIRST requests to one worker (pid $gb_pid) ..."
	mem_drive "$MEM_FIRST"
	rss10=$(rss_kb "$gb_pid")
	say "memory: $((MEM_REQUESTS - MEM_FIRST)) more ..."
	mem_drive "$((MEM_REQUESTS - MEM_FIRST))"
	rss100=$(rss_kb "$gb_pid")
	growth=$(awk -v a="$rss10" -v b="$rss100" \
	    'BEGIN { printf "%.1f\n", (a > 0) ? (b - a) * 100 / a : 0 }')
	MEM_ROWS=$(as_owner sqlite3 "$STATE/sessions.db" \
	    'SELECT count(*) FROM crumb_sessions' 2>/dev/null)
	stop_stack

	# ---- report
	echo
	echo "End to end: private Apache 2.4 (worker MPM) + mod_proxy_fcgi" \
	    "(enablereuse=$REUSE), spawn-fcgi, wrk -t$THREADS -c$CONNS" \
	    "${DURATION}s per kind in $ROUNDS interleaved rounds after" \
	    "${WARMUP}s warm-ups, loopback, $(nproc) cores"
	printf '%-28s %8s %8s %8s %7s %7s   %s\n' request "req/s" "p50 ms" \
	    "p99 ms" errors "ratio" "CPU us/request: Apache worker wrk"
	row "GET /hello (no session)" hello "$h_rps" "$h_p50" "$h_p99" \
	    "$h_err" "1.000"
	row "GET /counter (kept cookie)" counter "$c_rps" "$c_p50" "$c_p99" \
	    "$c_err" "$r_counter"
	if [ -n "$HAVE_PG" ]; then
		row "GET /counter (PostgreSQL)" pgcounter "$g_rps" "$g_p50" \
		    "$g_p99" "$g_err" "$r_pg"
	fi
	if [ -n "$HAVE_REDIS" ]; then
		row "GET /counter (Redis)" rdcounter "$d_rps" "$d_p50" \
		    "$d_p99" "$d_err" "$r_rd"
	fi
	row "GET /floor (by hand)" floor "$f_rps" "$f_p50" "$f_p99" \
	    "$f_err" "$r_floor"
	row "GET /hello/page (no session)" hpage "$p_rps" "$p_p50" "$p_p99" \
	    "$p_err" "1.000"
	row "GET / (anonymous)" anon "$a_rps" "$a_p50" "$a_p99" "$a_err" \
	    "$r_anon"
	echo "ratios: counter/hello $r_counter; counter/floor $r_counter_floor" \
	    "(the floor: the same cookie opening and SQL transaction by hand," \
	    "bench/floor-fcgi.c; floor/hello $r_floor);" \
	    "anonymous-/ against a constant" \
	    "page of the same size ($HELLO_PAGE_BYTES B) $r_anon, against" \
	    "/hello $r_anon_small"
	if [ -n "$HAVE_PG" ]; then
		echo "PostgreSQL: GET /counter $pg_rt network round trips per" \
		    "request (an atomic increment, crumb_session_atomic: BEGIN" \
		    "with SELECT ... FOR UPDATE, the UPDATE, COMMIT; strace" \
		    "of the workers over 100 requests), server on loopback TCP;" \
		    "counter on PostgreSQL / counter on SQLite" \
		    "$(ratio "$g_rps" "$c_rps")"
	else
		echo "PostgreSQL: not built (configure --with-postgresql)"
	fi
	if [ -n "$HAVE_REDIS" ]; then
		echo "Redis: GET /counter $rd_rt network round trips per" \
		    "request (an atomic increment, crumb_session_atomic: HMGET," \
		    "then the compare-and-swap script by EVALSHA; strace of the" \
		    "workers over 100 requests${HAVE_PG:+; to PostgreSQL, which holds the entries: $rd_pg_rt}), server on" \
		    "loopback TCP with a password; counter on Redis / counter" \
		    "on SQLite $(ratio "$d_rps" "$c_rps")"
	else
		echo "Redis: not built (configure --with-redis)"
	fi
	echo "GET /counter by session store: SQLite $c_rps req/s" \
	    "(p50 $c_p50 ms)${HAVE_PG:+, PostgreSQL $g_rps req/s (p50 $g_p50 ms, $pg_rt round trips)}${HAVE_REDIS:+, Redis $d_rps req/s (p50 $d_p50 ms, $rd_rt round trips)};" \
	    "hello $h_rps req/s"
	# What the errors were, when there were any: wrk's own lines.
	grep -H -E "Socket errors|Non-2xx" "$W"/wrk-*.txt 2>/dev/null |
	    sed -e "s|^$W/wrk-||" -e 's|\.txt:| |' -e 's|^|errors: |'
	echo "anonymous GET / store I/O: none=$store_ok" \
	    "(unchanged over every anonymous run: $sig_ok; first run $sig_first;" \
	    "strace of the workers, 200 GET /: ${st_anon% *} of" \
	    "${st_anon#* } calls on sessions.db*;" \
	    "20 GET /counter: ${st_counter% *} of ${st_counter#* })"
	echo
	echo "Memory: one guestbook worker, $MEM_SENT GET /counter" \
	    "(1 in 4 new sessions, $MEM_ERR errors; $MEM_PREFILL sessions" \
	    "stored before, $MEM_ROWS after)"
	printf '%-36s %10s\n' "VmRSS after $MEM_FIRST requests" "$rss10 kB"
	printf '%-36s %10s\n' "VmRSS after $MEM_REQUESTS requests" "$rss100 kB"
	printf '%-36s %10s\n' "growth" "$growth %"
	printf '%-36s %10s\n' "session cookie value (empty client state)" \
	    "$cookie_len B"
	printf '%-36s %10s\n' "whole Set-Cookie header value" "$header_len B"
	echo

	t_counter=$(awk -v r="$r_counter" 'BEGIN { x = (r >= 0.85) ? "met" : "missed"; print x }')
	t_anon=$(awk -v r="$r_anon" -v ok="$store_ok" \
	    'BEGIN { x = (r >= 0.95 && ok == "yes") ? "met" : "missed"; print x }')
	t_rss=$(awk -v g="$growth" 'BEGIN { x = (g <= 5 && g >= -5) ? "met" : "missed"; print x }')
	[ "$c_err$h_err$a_err$f_err$p_err" = 00000 ] ||
	    { t_counter=missed; t_anon=missed; }
	[ "$MEM_ERR" = 0 ] || t_rss=missed
	t_transport=$( [ "$t_sock" = 0 ] && echo met || echo missed)

	{
		echo "# bench/e2e.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		    "threads=$THREADS conns=$CONNS duration=$DURATION rounds=$ROUNDS" \
		    "enablereuse=$REUSE"
		echo "hello_rps=$h_rps"
		echo "hello_p50_ms=$h_p50"
		echo "hello_p99_ms=$h_p99"
		echo "hello_errors=$h_err"
		echo "counter_rps=$c_rps"
		echo "counter_p50_ms=$c_p50"
		echo "counter_p99_ms=$c_p99"
		echo "counter_errors=$c_err"
		echo "anon_rps=$a_rps"
		echo "anon_p50_ms=$a_p50"
		echo "anon_p99_ms=$a_p99"
		echo "anon_errors=$a_err"
		echo "anon_store_io_none=$store_ok"
		echo "e2e_counter_ratio=$r_counter"
		echo "floor_rps=$f_rps"
		echo "floor_ratio=$r_floor"
		echo "counter_floor_ratio=$r_counter_floor"
		echo "cpu_us_hello=$(cpu_us hello)"
		echo "cpu_us_counter=$(cpu_us counter)"
		echo "cpu_us_floor=$(cpu_us floor)"
		if [ -n "$HAVE_PG" ]; then
			echo "pg_counter_rps=$g_rps"
			echo "pg_counter_p50_ms=$g_p50"
			echo "pg_counter_p99_ms=$g_p99"
			echo "pg_counter_errors=$g_err"
			echo "pg_counter_ratio=$r_pg"
			echo "pg_round_trips_per_request=$pg_rt"
			echo "cpu_us_pgcounter=$(cpu_us pgcounter)"
		fi
		if [ -n "$HAVE_REDIS" ]; then
			echo "redis_counter_rps=$d_rps"
			echo "redis_counter_p50_ms=$d_p50"
			echo "redis_counter_p99_ms=$d_p99"
			echo "redis_counter_errors=$d_err"
			echo "redis_counter_ratio=$r_rd"
			echo "redis_round_trips_per_request=$rd_rt"
			[ -z "$HAVE_PG" ] ||
			    echo "redis_counter_pg_round_trips_per_request=$rd_pg_rt"
			echo "cpu_us_rdcounter=$(cpu_us rdcounter)"
		fi
		echo "cpu_us_hpage=$(cpu_us hpage)"
		echo "cpu_us_anon=$(cpu_us anon)"
		echo "e2e_anon_ratio=$r_anon"
		echo "worker_rss_kb_10k=$rss10"
		echo "worker_rss_kb_100k=$rss100"
		echo "worker_rss_growth_pct=$growth"
		echo "mem_requests=$MEM_SENT"
		echo "mem_errors=$MEM_ERR"
		echo "mem_prefill=$MEM_PREFILL"
		echo "mem_rows_after=$MEM_ROWS"
		echo "cookie_value_bytes=$cookie_len"
		echo "set_cookie_header_bytes=$header_len"
		echo "target_e2e_counter_ratio=$t_counter"
		echo "target_e2e_anon_ratio=$t_anon"
		echo "target_worker_rss_growth=$t_rss"
		echo "transport_errors=$t_sock"
		echo "target_transport_errors=$t_transport"
	} > "$OUT"

	echo "target e2e_counter_ratio: $r_counter (want >= 0.85) $t_counter"
	echo "target e2e_anon_ratio: $r_anon (want >= 0.95) $t_anon"
	echo "target worker_rss_growth: $growth% (want <= 5%) $t_rss"
	echo "target transport_errors: $t_sock (want 0: wrk socket errors," \
	    "every measured run) $t_transport"
}

main "$@"
