#!/bin/bash
# Start the guestbook stack in the foreground: a private Apache on
# 127.0.0.1:PORT in front of the guestbook, either as FastCGI workers
# started by spawn-fcgi (--mode fcgi) or as a plain CGI program run by
# mod_cgid (--mode cgi).
#
#   scripts/stack.sh --port P --state-dir D [--mode fcgi|cgi]
#                    [--workers N] [--build-dir B] [--program PATH]
#                    [--ready-status CODE] [--host-name NAME]
#
# The state directory (created mode 0700) holds sessions.db,
# guestbook.db and the secret key (generated once by crumb-keygen, kept
# across runs), plus run/ with the Apache config, pid files and logs.
# Prints exactly one line, "READY http://127.0.0.1:P/", on stdout once /
# answers 200 (or CODE: a test of a program that must answer 503 says
# --ready-status 503); everything else goes to stderr.  SIGTERM or SIGINT stops
# Apache and every worker, then the script exits.
# The FastCGI workers run under multiwatch (started by spawn-fcgi on the
# bound port), which starts a worker again when one dies; run/workers.pid
# lists the live ones (one a line) and run/supervisor.pid multiwatch.
# Once READY, the script looks every second: a worker that died and its
# replacement are reported on stderr; when Apache or multiwatch is gone
# it says so, stops the rest and exits 1.  CRUMB_SUPERVISE=0 starts the
# workers with spawn-fcgi alone, unsupervised (for tests that replace
# workers themselves); then only Apache is watched.
# Apache's access log is rotated at CRUMB_ACCESS_LOG_MAX (default 8M; K
# and M suffixes), two files at most, in CRUMB_LOG_DIR (default run/);
# error.log stays in run/.
# CRUMB_INSECURE_COOKIE=1 in the environment is passed to the program
# (cookies without Secure, for plain HTTP on loopback), and so is
# CRUMB_BUSY_MS (the session store's busy timeout, default 5000), and
# CRUMB_STORE and GB_DB when set (the session store's and the entries'
# database URLs, e.g. a shared PostgreSQL; default the files above).
# Expired sessions are deleted by `crumbctl --store STORE purge --quiet`
# (from the build directory's tools/) at start and then every
# PURGE_INTERVAL seconds (default 300; 0: never), as the workers' user;
# without crumbctl the stack runs all the same and says so.
# --host-name NAME (or CRUMB_HOST_NAME in the environment) marks every
# response with "X-Host: NAME" (mod_headers), so that tests behind a
# balancer see which host answered; without it no header is added.
# CRUMB_STORE in the environment reaches the program as it is.
# -h or --help prints the usage; an unknown argument exits with 2.
# stop_all and wait_gone run from traps (SC2317); "a && b || die" is
# meant (SC2015); the sh -c script is single-quoted on purpose (SC2016).
# shellcheck disable=SC2317,SC2015,SC2016
set -u
# State, keys, logs and databases are private to the user running the stack.
umask 077

TOP=$(cd "$(dirname "$0")/.." && pwd)
PORT=
STATE_DIR=
MODE=fcgi
WORKERS=4
BUILD_DIR=$TOP
PROGRAM=
READY_STATUS=200
INSECURE=${CRUMB_INSECURE_COOKIE:-0}
BUSY_MS=${CRUMB_BUSY_MS:-5000}
PURGE_INTERVAL=${PURGE_INTERVAL:-300}
HOST_NAME=${CRUMB_HOST_NAME:-}
SUPERVISE=${CRUMB_SUPERVISE:-1}
LOG_DIR=${CRUMB_LOG_DIR:-}
LOG_MAX=${CRUMB_ACCESS_LOG_MAX:-8M}
ROTATELOGS=

APACHE_PID=
SUPERVISOR_PID=
WORKER_PIDS=
MULTIWATCH=
PURGE_PID=
PURGE=
PURGE_ENV=()
RUN_DIR=

say() { echo "stack: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	echo "usage: scripts/stack.sh --port P --state-dir D [--mode fcgi|cgi]"
	echo "           [--workers N] [--build-dir B] [--program PATH]"
	echo "           [--ready-status CODE] [--host-name NAME]"
	echo "environment: CRUMB_INSECURE_COOKIE=1, CRUMB_BUSY_MS, PURGE_INTERVAL,"
	echo "             CRUMB_HOST_NAME, CRUMB_STORE, CRUMB_SUPERVISE=0,"
	echo "             CRUMB_LOG_DIR, CRUMB_ACCESS_LOG_MAX"
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in -h|--help) usage; exit 0 ;; esac
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		case $1 in
		--port) PORT=$2 ;;
		--state-dir) STATE_DIR=$2 ;;
		--mode) MODE=$2 ;;
		--workers) WORKERS=$2 ;;
		--build-dir) BUILD_DIR=$2 ;;
		--program) PROGRAM=$2 ;;
		--ready-status) READY_STATUS=$2 ;;
		--host-name) HOST_NAME=$2 ;;
		*) say "unknown argument: $1"; usage >&2; exit 2 ;;
		esac
		shift 2
	done
	[ -n "$PORT" ] && [ -n "$STATE_DIR" ] || { usage >&2; exit 2; }
	case $PORT in ''|*[!0-9]*) die "bad port: $PORT" ;; esac
	[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "bad port: $PORT"
	case $WORKERS in ''|*[!0-9]*) die "bad worker count: $WORKERS" ;; esac
	[ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 64 ] ||
	    die "bad worker count: $WORKERS"
	case $MODE in fcgi|cgi) ;; *) die "bad mode: $MODE" ;; esac
	case $READY_STATUS in [1-5][0-9][0-9]) ;;
	*) die "bad ready status: $READY_STATUS" ;;
	esac
	case $PURGE_INTERVAL in
	''|*[!0-9]*) die "bad PURGE_INTERVAL: $PURGE_INTERVAL" ;;
	esac
	# It goes into the Apache config between quotes.
	case $HOST_NAME in *[!A-Za-z0-9._-]*) die "bad host name: $HOST_NAME" ;;
	esac
	BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) ||
	    die "no build directory"
	: "${PROGRAM:=$BUILD_DIR/cgi-bin/guestbook}"
	case $PROGRAM in /*) ;; *) PROGRAM=$(pwd)/$PROGRAM ;; esac
	[ -x "$PROGRAM" ] || die "$PROGRAM not built (run make first)"
}

check_tools() {
	local t
	for t in apache2 curl; do
		command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh)"
	done
	if [ "$MODE" = fcgi ]; then
		command -v spawn-fcgi >/dev/null ||
		    die "spawn-fcgi not found (scripts/deps.sh)"
		[ "$SUPERVISE" = 0 ] || MULTIWATCH=$(command -v multiwatch) ||
		    die "multiwatch not found (scripts/deps.sh)"
	fi
}

# Apache will not serve as root: as root, the server's children, the
# CGI program and the FastCGI workers run as www-data (or
# CRUMB_RUN_USER), who then owns the state directory.
pick_user() {
	if [ "$(id -u)" -eq 0 ]; then
		RUN_USER=${CRUMB_RUN_USER:-www-data}
		id "$RUN_USER" >/dev/null 2>&1 || die "no user $RUN_USER"
		RUN_GROUP=$(id -gn "$RUN_USER")
	else
		RUN_USER=$(id -un)
		RUN_GROUP=$(id -gn)
	fi
}

# A stack already running on this state directory owns run/.
check_not_running() {
	local pid
	[ -f "$RUN_DIR/httpd.pid" ] || return 0
	pid=$(cat "$RUN_DIR/httpd.pid" 2>/dev/null)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		die "a stack already runs on $STATE_DIR (Apache pid $pid)"
	fi
}

prepare_state() {
	local keygen=$BUILD_DIR/lib/crumb-keygen
	mkdir -p "$STATE_DIR" && chmod 0700 "$STATE_DIR" ||
	    die "cannot create $STATE_DIR"
	STATE_DIR=$(cd "$STATE_DIR" && pwd)
	RUN_DIR=$STATE_DIR/run
	check_not_running
	rm -rf "$RUN_DIR" && mkdir -m 0700 "$RUN_DIR" ||
	    die "cannot create $RUN_DIR"
	prepare_log_dir
	if [ ! -e "$STATE_DIR/key" ]; then
		[ -x "$keygen" ] || die "$keygen not built"
		"$keygen" "$STATE_DIR/key" || die "crumb-keygen failed"
		say "generated $STATE_DIR/key"
	fi
	# The programs create their databases too; doing it here once
	# spares the workers a race on the first WAL switch.
	if command -v sqlite3 >/dev/null; then
		init_db "$STATE_DIR/sessions.db" "$TOP/sql/sqlite-store.sql"
		init_db "$STATE_DIR/guestbook.db" "$TOP/sql/guestbook.sql"
	fi
	install_program
	install_purge
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$RUN_USER:$RUN_GROUP" "$STATE_DIR" ||
		    die "cannot chown $STATE_DIR"
		runuser -u "$RUN_USER" -- test -x "$RUN_DIR/bin/$PROG_NAME" ||
		    die "$RUN_USER cannot reach $STATE_DIR (a parent" \
		        "directory is closed to it); choose another --state-dir"
	fi
}

# The access log grows with every request: rotated at LOG_MAX, two
# files at most, in LOG_DIR (CRUMB_LOG_DIR), which should be another
# volume than the state directory's, so that traffic never fills the
# store's disk; by default run/ (whose size it then bounds).  Apache's
# piped logger (rotatelogs) runs as the user who started the stack.
prepare_log_dir() {
	case $LOG_MAX in *[!0-9KMG]*|'') die "bad CRUMB_ACCESS_LOG_MAX: $LOG_MAX" ;;
	esac
	: "${LOG_DIR:=$RUN_DIR}"
	mkdir -p "$LOG_DIR" && LOG_DIR=$(cd "$LOG_DIR" && pwd) ||
	    die "cannot create $LOG_DIR"
	# It goes into a piped log's command line: one word.
	case $LOG_DIR in *[!A-Za-z0-9/._-]*)
		die "the access log's directory $LOG_DIR has characters" \
		    "other than A-Z a-z 0-9 / . _ - (set CRUMB_LOG_DIR)" ;;
	esac
	command -v rotatelogs >/dev/null ||
	    die "rotatelogs not found (the Debian package apache2-utils)"
	ROTATELOGS=$(command -v rotatelogs)
}

# The servers run a copy: the build tree may be closed to $RUN_USER, and
# a rebuild must not swap the binary under running workers.  The
# guestbook carries libcrumb inside (see cgi-bin/Makefile.inc).
install_program() {
	PROG_NAME=$(basename "$PROGRAM")
	mkdir -m 0700 "$RUN_DIR/bin" &&
	    cp "$PROGRAM" "$RUN_DIR/bin/$PROG_NAME" &&
	    chmod 0700 "$RUN_DIR/bin/$PROG_NAME" ||
	    die "cannot copy $PROGRAM"
	PROGRAM=$RUN_DIR/bin/$PROG_NAME
}

# crumbctl runs from a copy in run/bin, like the program.  A libtool
# wrapper script (a build with shared libraries) is not copied but the
# binary it runs, with the library beside it in run/lib.
install_purge() {
	local src=$BUILD_DIR/tools/crumbctl bin
	if [ "$PURGE_INTERVAL" -eq 0 ]; then
		say "PURGE_INTERVAL=0: expired sessions are not purged"
		return 0
	fi
	if [ ! -x "$src" ]; then
		say "no $src: expired sessions are not purged"
		return 0
	fi
	bin=$src
	if [ "$(head -c 2 "$src")" = '#!' ]; then
		bin=$BUILD_DIR/tools/.libs/crumbctl
		mkdir -m 0700 "$RUN_DIR/lib" &&
		    cp -P "$BUILD_DIR"/lib/.libs/libcrumb.so* "$RUN_DIR/lib/" ||
		    die "cannot copy libcrumb.so"
		PURGE_ENV=("LD_LIBRARY_PATH=$RUN_DIR/lib")
	fi
	cp "$bin" "$RUN_DIR/bin/crumbctl" &&
	    chmod 0700 "$RUN_DIR/bin/crumbctl" || die "cannot copy $bin"
	PURGE=$RUN_DIR/bin/crumbctl
}

# As the workers' user: SQLite's -wal and -shm files stay theirs.  The
# store is the workers' own: CRUMB_STORE when set (they inherit it).
purge_once() {
	local as=()
	[ "$(id -u)" -eq 0 ] && as=(runuser -u "$RUN_USER" --)
	"${as[@]}" env "${PURGE_ENV[@]}" "$PURGE" --quiet \
	    --store "${CRUMB_STORE:-$STATE_DIR/sessions.db}" purge </dev/null ||
	    say "crumbctl purge failed (exit $?)"
}

# The loop is a child shell; its sleep is killed with it, so that
# stopping the stack leaves no sleeper behind.
start_purge() {
	[ -n "$PURGE" ] || return 0
	purge_once
	(
		trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
		while :; do
			sleep "$PURGE_INTERVAL" &
			sleeper=$!
			wait "$sleeper"
			purge_once
		done
	) &
	PURGE_PID=$!
	say "purging expired sessions every $PURGE_INTERVAL s (pid $PURGE_PID)"
}

init_db() {
	{ cat "$2"; echo 'PRAGMA journal_mode=WAL;'; } |
	    sqlite3 -batch "$1" >/dev/null || die "cannot initialise $1"
}

render() {
	sed -e "s|@PORT@|$PORT|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
	    -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@USER@|$RUN_USER|g" \
	    -e "s|@GROUP@|$RUN_GROUP|g" -e "s|@FCGI_PORT@|${FCGI_PORT:-}|g" \
	    -e "s|@GUESTBOOK@|$PROGRAM|g" \
	    -e "s|@CGI_DIR@|$(dirname "$PROGRAM")|g" \
	    -e "s|@INSECURE@|$INSECURE|g" -e "s|@BUSY_MS@|$BUSY_MS|g" \
	    -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@LOG_MAX@|$LOG_MAX|g" \
	    -e "s|@ROTATELOGS@|$ROTATELOGS|g" "$@"
}

# CRUMB_VALGRIND_DIR=DIR runs each FastCGI worker under valgrind
# memcheck, one log per worker in DIR (valgrind-PID.log).
valgrind_prefix() {
	[ -n "${CRUMB_VALGRIND_DIR:-}" ] || return 0
	printf '%s' "valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --log-file=$CRUMB_VALGRIND_DIR/valgrind-%p.log"
}

# spawn-fcgi binds the port itself: try random ports until a bind
# succeeds, so that two stacks never share one.  They lie below Linux's
# ephemeral range (32768 and up), where outgoing connections take theirs.
# spawn-fcgi starts one process, multiwatch, which forks the N workers on
# the inherited socket and starts a worker again when one dies
# (--retry: a slot whose worker keeps dying within --timeout ms is given
# up; when every slot is, multiwatch exits and the stack says so).
# SIGTERM to multiwatch stops the workers (--signal TERM) and then it.
start_workers() {
	local out user_opts=()
	[ "$(id -u)" -eq 0 ] && user_opts=(-u "$RUN_USER" -g "$RUN_GROUP")
	export CRUMB_STATE_DIR=$STATE_DIR CRUMB_INSECURE_COOKIE=$INSECURE \
	    CRUMB_BUSY_MS=$BUSY_MS
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		FCGI_PORT=$((20000 + RANDOM % 12000))
		[ "$FCGI_PORT" = "$PORT" ] && continue
		rm -f "$RUN_DIR/supervisor.pid"
		# The sh wrapper keeps the workers' stderr (spawn-fcgi
		# sends it to /dev/null) in run/fcgi.log.
		if [ "$SUPERVISE" = 0 ]; then
			rm -f "$RUN_DIR/workers.pid"
			out=$(spawn-fcgi -a 127.0.0.1 -p "$FCGI_PORT" \
			    -F "$WORKERS" -P "$RUN_DIR/workers.pid" \
			    "${user_opts[@]}" \
			    -- /bin/sh -c 'exec $2 "$0" 2>>"$1"' "$PROGRAM" \
			    "$RUN_DIR/fcgi.log" "$(valgrind_prefix)" 2>&1) && {
				WORKER_PIDS=$(tr '\n' ' ' < "$RUN_DIR/workers.pid")
				say "$WORKERS FastCGI workers on" \
				    "127.0.0.1:$FCGI_PORT (pids $WORKER_PIDS)," \
				    "not supervised"
				return 0
			}
		elif out=$(spawn-fcgi -a 127.0.0.1 -p "$FCGI_PORT" \
		    -F 1 -P "$RUN_DIR/supervisor.pid" "${user_opts[@]}" \
		    -- "$MULTIWATCH" -f "$WORKERS" -r 5 -t 2000 -s TERM \
		    -- /bin/sh -c 'exec $2 "$0" 2>>"$1"' "$PROGRAM" \
		    "$RUN_DIR/fcgi.log" "$(valgrind_prefix)" 2>&1); then
			SUPERVISOR_PID=$(cat "$RUN_DIR/supervisor.pid")
			wait_workers
			say "$WORKERS FastCGI workers on 127.0.0.1:$FCGI_PORT" \
			    "(pids $WORKER_PIDS) under multiwatch" \
			    "(pid $SUPERVISOR_PID)"
			return 0
		fi
		case $out in
		*"bind failed"*) continue ;;
		*) die "spawn-fcgi failed: $out" ;;
		esac
	done
	die "no free port for the FastCGI workers"
}

# alive PID: the process exists and is not a zombie (multiwatch is not
# our child: once it exits it may linger unreaped).
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*|'') return 1 ;; esac
}

# The workers are multiwatch's children; run/workers.pid lists them
# (one a line) and is rewritten when they change.
list_workers() {
	pgrep -P "$SUPERVISOR_PID" 2>/dev/null | sort -n | tr '\n' ' ' |
	    sed 's/ $//'
}

write_workers() {
	# shellcheck disable=SC2086 # one pid a word
	printf '%s\n' $WORKER_PIDS > "$RUN_DIR/workers.pid.tmp" &&
	    mv "$RUN_DIR/workers.pid.tmp" "$RUN_DIR/workers.pid"
}

wait_workers() {
	local n
	for _ in $(seq 1 50); do
		WORKER_PIDS=$(list_workers)
		n=$(wc -w <<< "$WORKER_PIDS")
		[ "$n" -ge "$WORKERS" ] && break
		alive "$SUPERVISOR_PID" || die "multiwatch exited at once" \
		    "(see $RUN_DIR/fcgi.log)"
		sleep 0.1
	done
	write_workers
}

# mod_cgi hands the program only what SetEnv gives it (FastCGI workers
# inherit the environment): the database URLs go into a file of their
# own, private to the stack, as they may hold a password.
write_url_env() {
	local name v f=$RUN_DIR/url-env.conf
	(umask 077 && : > "$f") || die "cannot write $f"
	for name in CRUMB_STORE GB_DB; do
		v=${!name:-}
		[ -n "$v" ] || continue
		v=${v//\\/\\\\}
		v=${v//\"/\\\"}
		printf 'SetEnv %s "%s"\n' "$name" "$v" >> "$f"
	done
}

start_apache() {
	write_url_env
	render "$TOP/conf/apache-common.conf.in" \
	    "$TOP/conf/apache-$MODE.conf.in" > "$RUN_DIR/httpd.conf"
	if [ -n "$HOST_NAME" ]; then
		cat >> "$RUN_DIR/httpd.conf" <<EOF

# --host-name: which host answered, for tests behind a balancer.
LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
Header always set X-Host "$HOST_NAME"
EOF
	fi
	apache2 -f "$RUN_DIR/httpd.conf" -DFOREGROUND \
	    >>"$RUN_DIR/apache.out" 2>&1 &
	APACHE_PID=$!
}

wait_ready() {
	local code=
	for _ in $(seq 1 150); do
		if ! kill -0 "$APACHE_PID" 2>/dev/null; then
			APACHE_PID=
			say "Apache exited; its log:"
			tail -n 20 "$RUN_DIR/apache.out" "$RUN_DIR/error.log" \
			    >&2 2>/dev/null
			exit 1
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		    "http://127.0.0.1:$PORT/")
		[ "$code" = "$READY_STATUS" ] && return 0
		sleep 0.2
	done
	say "no $READY_STATUS from http://127.0.0.1:$PORT/ after 30 s" \
	    "(last: $code)"
	tail -n 20 "$RUN_DIR/error.log" "$RUN_DIR/fcgi.log" >&2 2>/dev/null
	exit 1
}

# Wait up to 10 s for a process that is not our child to go away.
wait_gone() {
	for _ in $(seq 1 50); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "$1" 2>/dev/null
}

stop_all() {
	local pid
	trap - EXIT INT TERM
	if [ -n "$APACHE_PID" ]; then
		kill -TERM "$APACHE_PID" 2>/dev/null
		wait_gone "$APACHE_PID"
		wait "$APACHE_PID" 2>/dev/null
	fi
	# multiwatch first, so that it starts no worker again; it passes
	# the TERM on to the workers.
	if [ -n "$SUPERVISOR_PID" ]; then
		kill -TERM "$SUPERVISOR_PID" 2>/dev/null
		wait_gone "$SUPERVISOR_PID"
	fi
	WORKER_PIDS="$WORKER_PIDS $(cat "$RUN_DIR/workers.pid" 2>/dev/null)"
	for pid in $WORKER_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $WORKER_PIDS; do
		wait_gone "$pid"
	done
	if [ -n "$PURGE_PID" ]; then
		kill -TERM "$PURGE_PID" 2>/dev/null
		wait "$PURGE_PID" 2>/dev/null
	fi
	[ -n "$APACHE_PID$SUPERVISOR_PID$PURGE_PID" ] && say "stopped"
}

# Once a second: Apache and multiwatch must be there, and every worker
# that died is reported with the one multiwatch started in its place.
# Returns (and the stack stops, exit 1) when Apache or multiwatch is
# gone.  The sleep is a child waited for, so that a signal is handled
# at once.
watch() {
	local now gone new p
	while :; do
		sleep 1 &
		wait $!
		if ! kill -0 "$APACHE_PID" 2>/dev/null; then
			wait "$APACHE_PID" 2>/dev/null
			say "Apache exited unexpectedly (exit $?; see" \
			    "$RUN_DIR/error.log)"
			APACHE_PID=
			return 1
		fi
		[ -n "$SUPERVISOR_PID" ] || continue
		if ! alive "$SUPERVISOR_PID"; then
			say "multiwatch (pid $SUPERVISOR_PID) exited: no" \
			    "FastCGI workers are left (see $RUN_DIR/fcgi.log)"
			SUPERVISOR_PID=
			return 1
		fi
		now=$(list_workers)
		[ "$now" = "$WORKER_PIDS" ] && continue
		gone=''
		new=''
		for p in $WORKER_PIDS; do
			case " $now " in *" $p "*) ;; *) gone="$gone $p" ;; esac
		done
		for p in $now; do
			case " $WORKER_PIDS " in *" $p "*) ;; *) new="$new $p" ;; esac
		done
		[ -n "$gone" ] && say "worker(s)$gone died;" \
		    "multiwatch started${new:- none yet}"
		[ -z "$gone" ] && [ -n "$new" ] && say "worker(s)$new started"
		[ -z "$now" ] && say "no FastCGI worker is running"
		WORKER_PIDS=$now
		write_workers
	done
}

main() {
	parse_args "$@"
	check_tools
	pick_user
	trap 'stop_all' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	prepare_state
	[ "$MODE" = fcgi ] && start_workers
	start_purge
	start_apache
	wait_ready
	echo "READY http://127.0.0.1:$PORT/"
	watch
	exit 1
}

main "$@"
