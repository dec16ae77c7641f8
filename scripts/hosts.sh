#!/bin/bash
# Start the guestbook on several "hosts" behind a balancer, in the
# foreground: a private PostgreSQL holding the sessions and the
# guestbook's entries (tests/pg-server.sh), N hosts (each a
# scripts/stack.sh run: its own Apache on a free loopback port, its own
# FastCGI workers, its own state directory) and HAProxy on
# 127.0.0.1:PORT sending requests to the hosts round-robin, with no
# stickiness.
#
#   scripts/hosts.sh --port P --state-dir D [--hosts N] [--workers W]
#                    [--mode fcgi|cgi] [--store postgresql|redis]
#                    [--build-dir B]
#
# N defaults to 2, W (workers per host) to 4, the mode (scripts/stack.sh's
# --mode: FastCGI workers, or the program run as a CGI per request) to
# fcgi.  --store redis keeps the sessions in a private Redis instead
# (tests/redis-server.sh), the entries staying in PostgreSQL: the usual
# split.  The state directory holds:
#   key      the one secret key (crumb-keygen), copied (mode 0600) into
#            each host: the key and the stores are all the hosts share
#   pg/      the PostgreSQL server's data (kept across runs: the server is
#            stopped, not deleted, at exit)
#   redis/   with --store redis, the Redis server's data: appendonly yes,
#            appendfsync everysec, its append-only file in
#            redis/appendonlydir (kept across runs like pg/)
#   hostK/   host K's state directory (scripts/stack.sh --state-dir)
#   run/     haproxy.cfg and the logs of the balancer and of each host
# The hosts reach the database over loopback TCP with a password
# (CRUMB_STORE=postgresql://crumb:PW@127.0.0.1:PORT/crumb), as hosts on
# other machines would; with --store redis, Redis too, with a password
# (requirepass): CRUMB_STORE=redis://:PW@127.0.0.1:PORT/0 and
# GB_DB=postgresql://crumb:PW@127.0.0.1:PORT/crumb.  Each host marks its
# responses "X-Host: hostK".
# Prints exactly one line, "READY http://127.0.0.1:P/", on stdout once
# the balancer has answered 200 from every host; everything else goes to
# stderr.  SIGINT or SIGTERM (or any part failing) stops the balancer,
# the hosts, PostgreSQL and Redis, by PID, then the script exits.
# CRUMB_INSECURE_COOKIE=1 in the environment reaches the guestbook.
# Expired sessions of the shared store are purged by host1's stack
# (`crumbctl purge` every PURGE_INTERVAL seconds, default 300).  Redis
# deletes expired sessions by itself; there the purge only tidies the
# per-user indexes.
# -h or --help prints the usage; an unknown argument exits with 2.
# stop_all runs from a trap (SC2317); "a && b || die" is meant (SC2015).
# shellcheck disable=SC2317,SC2015
set -u
umask 077

TOP=$(cd "$(dirname "$0")/.." && pwd)
PORT=
STATE_DIR=
HOSTS=2
WORKERS=4
MODE=fcgi
STORE=postgresql
BUILD_DIR=$TOP

HAPROXY_PID=
STACK_PIDS=
PG_DIR=
PG_UP=
REDIS_DIR=
REDIS_UP=
GB_DB_URL=
RUN_DIR=

say() { echo "hosts: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	echo "usage: scripts/hosts.sh --port P --state-dir D [--hosts N]"
	echo "           [--workers W] [--mode fcgi|cgi] [--store postgresql|redis]"
	echo "           [--build-dir B]"
	echo "environment: CRUMB_INSECURE_COOKIE=1"
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in -h|--help) usage; exit 0 ;; esac
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		case $1 in
		--port) PORT=$2 ;;
		--state-dir) STATE_DIR=$2 ;;
		--hosts) HOSTS=$2 ;;
		--workers) WORKERS=$2 ;;
		--mode) MODE=$2 ;;
		--store) STORE=$2 ;;
		--build-dir) BUILD_DIR=$2 ;;
		*) say "unknown argument: $1"; usage >&2; exit 2 ;;
		esac
		shift 2
	done
	[ -n "$PORT" ] && [ -n "$STATE_DIR" ] || { usage >&2; exit 2; }
	case $PORT in ''|*[!0-9]*) die "bad port: $PORT" ;; esac
	[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "bad port: $PORT"
	case $HOSTS in ''|*[!0-9]*) die "bad host count: $HOSTS" ;; esac
	[ "$HOSTS" -ge 1 ] && [ "$HOSTS" -le 16 ] ||
	    die "bad host count: $HOSTS"
	case $WORKERS in ''|*[!0-9]*) die "bad worker count: $WORKERS" ;; esac
	case $MODE in fcgi|cgi) ;; *) die "bad mode: $MODE (fcgi or cgi)" ;; esac
	case $STORE in
	postgresql|redis) ;;
	*) die "bad store: $STORE (postgresql or redis)" ;;
	esac
	BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) ||
	    die "no build directory"
	[ -x "$BUILD_DIR/lib/crumb-keygen" ] ||
	    die "$BUILD_DIR/lib/crumb-keygen not built (run make first)"
	grep -q '^#define CRUMB_HAVE_POSTGRES 1' "$BUILD_DIR/config.h" \
	    2>/dev/null ||
	    die "$BUILD_DIR was built without PostgreSQL (install libpq-dev, run configure again)"
	if [ "$STORE" = redis ]; then
		grep -q '^#define CRUMB_HAVE_REDIS 1' "$BUILD_DIR/config.h" ||
		    die "$BUILD_DIR was built without Redis (install libhiredis-dev, run configure again)"
	fi
}

check_tools() {
	local t
	for t in haproxy apache2 spawn-fcgi multiwatch curl python3; do
		command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh)"
	done
	if [ "$STORE" = redis ]; then
		for t in redis-server redis-cli; do
			command -v "$t" >/dev/null ||
			    die "$t not found (the Debian package redis-server)"
		done
	fi
}

# Below Linux's ephemeral range, like scripts/stack.sh's worker ports.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		[ "$p" = "$PORT" ] && continue
		[ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] &&
		    { echo "$p"; return 0; }
	done
	return 1
}

prepare_state() {
	mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
	STATE_DIR=$(cd "$STATE_DIR" && pwd)
	# 0711: the hosts' user (www-data when root) and PostgreSQL's
	# (nobody when root) enter their own subdirectories, 0700 each,
	# but cannot list this one nor read the key in it.
	chmod 0711 "$STATE_DIR" || die "cannot chmod $STATE_DIR"
	RUN_DIR=$STATE_DIR/run
	if [ -f "$RUN_DIR/haproxy.pid" ] &&
	    kill -0 "$(cat "$RUN_DIR/haproxy.pid")" 2>/dev/null; then
		die "hosts already run on $STATE_DIR"
	fi
	rm -rf "$RUN_DIR" && mkdir -m 0700 "$RUN_DIR" ||
	    die "cannot create $RUN_DIR"
	if [ ! -e "$STATE_DIR/key" ]; then
		"$BUILD_DIR/lib/crumb-keygen" "$STATE_DIR/key" ||
		    die "crumb-keygen failed"
		say "generated $STATE_DIR/key"
	fi
}

# The server's data stays in pg/ across runs: resumed if there, made
# (initdb) if not.
start_pg() {
	local pgs=$TOP/tests/pg-server.sh
	PG_DIR=$STATE_DIR/pg
	if [ -f "$PG_DIR/env" ]; then
		bash "$pgs" resume "$PG_DIR" >&2 ||
		    die "PostgreSQL in $PG_DIR did not start again (delete $PG_DIR to start afresh)"
	else
		rm -rf "$PG_DIR"
		bash "$pgs" start "$PG_DIR" >/dev/null || {
			rm -rf "$PG_DIR"
			die "PostgreSQL did not start"
		}
	fi
	PG_UP=1
	# shellcheck disable=SC1091
	. "$PG_DIR/env"
	STORE_URL=$PGURL_TCP
	say "PostgreSQL on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
}

# With --store redis: the sessions in a private Redis, the entries in
# PostgreSQL.  Its data stays in redis/ across runs, in an append-only
# file fsynced every second: a restart (SIGTERM) keeps every session.
start_redis() {
	local rs=$TOP/tests/redis-server.sh
	REDIS_DIR=$STATE_DIR/redis
	if [ -f "$REDIS_DIR/env" ]; then
		bash "$rs" resume "$REDIS_DIR" >&2 ||
		    die "Redis in $REDIS_DIR did not start again (delete $REDIS_DIR to start afresh)"
	else
		rm -rf "$REDIS_DIR"
		CRUMB_REDIS_AOF=1 bash "$rs" start "$REDIS_DIR" >/dev/null || {
			rm -rf "$REDIS_DIR"
			die "Redis did not start"
		}
	fi
	REDIS_UP=1
	# shellcheck disable=SC1091
	. "$REDIS_DIR/env"
	GB_DB_URL=$STORE_URL
	STORE_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
	say "Redis on 127.0.0.1:$REDIS_PORT (data in $REDIS_DIR)"
}

# start_host K: host K's state directory gets a copy of the key; its
# stack.sh runs in the background until it prints READY.
start_host() {
	local k=$1 dir=$STATE_DIR/host$1 port pid try
	mkdir -p "$dir" && chmod 0700 "$dir" &&
	    cp "$STATE_DIR/key" "$dir/key" && chmod 0600 "$dir/key" ||
	    die "cannot prepare $dir"
	for try in 1 2 3; do
		port=$(free_port) || die "no free port for host$k"
		: > "$RUN_DIR/host$k.out"
		# One host purges the shared store's expired sessions.
		CRUMB_STORE=$STORE_URL GB_DB=$GB_DB_URL \
		    PURGE_INTERVAL=$([ "$k" = 1 ] && echo "${PURGE_INTERVAL:-300}" || echo 0) \
		    "$TOP/scripts/stack.sh" --port "$port" --state-dir "$dir" \
		    --mode "$MODE" --workers "$WORKERS" --build-dir "$BUILD_DIR" \
		    --host-name "host$k" \
		    > "$RUN_DIR/host$k.out" 2>> "$RUN_DIR/host$k.log" &
		pid=$!
		STACK_PIDS="$STACK_PIDS $pid"
		for _ in $(seq 1 300); do
			if grep -q '^READY ' "$RUN_DIR/host$k.out"; then
				HOST_PORTS="$HOST_PORTS $port"
				say "host$k on 127.0.0.1:$port (pid $pid," \
				    "log $RUN_DIR/host$k.log)"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		STACK_PIDS=${STACK_PIDS% "$pid"}
		say "host$k did not start (try $try)"
	done
	tail -n 20 "$RUN_DIR/host$k.log" >&2
	die "host$k did not start"
}

# HAProxy: round-robin, no stickiness (no cookie, no hash).  Health
# checks ask each host for GET / every second (half a second while it
# is down), so a host that stops answering is left out within 3 s and
# back within a second of answering again.  A host answering 5xx
# (its store down) is down too: HAProxy then answers 503 itself.
write_haproxy_cfg() {
	local k=0 port user=
	if [ "$(id -u)" -eq 0 ]; then
		id haproxy >/dev/null 2>&1 && user="    user haproxy
    group haproxy"
	fi
	{
		cat <<EOF
# Generated by scripts/hosts.sh; regenerated at every start.
global
    maxconn 512
    # Room for a whole request: the guestbook's forms go up to 64 KiB.
    tune.bufsize 81920
$user

defaults
    mode http
    option httplog
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A client that sends its request headers (and, with
    # http-buffer-request, its body) this slowly is cut off.
    timeout http-request 10s
    # Wait for the whole request body before choosing a host: a client
    # sending it a byte at a time ties up no Apache thread and no
    # FastCGI worker, only a buffer here.  A body larger than the buffer
    # (80 KiB, above the guestbook's 64 KiB forms) is passed on as it
    # comes once the buffer is full.
    option http-buffer-request
    timeout http-keep-alive 5s
    timeout queue 5s
    # A health check answered slowly (a host busy with a burst, or a CGI
    # program started per request on a loaded machine) is not a dead
    # host: without this, a check fails after inter (1 s), and three
    # slow answers take a working host out.  A host that refuses the
    # connection or answers 5xx is still out at once.
    timeout check 5s
    # Only a connection that failed is tried again (on another host):
    # a request a host received is never sent twice.
    retries 2
    option redispatch 1

frontend www
    bind 127.0.0.1:$PORT
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    default-server check inter 1s fastinter 500ms downinter 500ms fall 3 rise 1
EOF
		for port in $HOST_PORTS; do
			k=$((k + 1))
			echo "    server host$k 127.0.0.1:$port"
		done
	} > "$RUN_DIR/haproxy.cfg"
	haproxy -c -q -f "$RUN_DIR/haproxy.cfg" >&2 ||
	    die "bad HAProxy configuration $RUN_DIR/haproxy.cfg"
}

start_haproxy() {
	write_haproxy_cfg
	haproxy -db -f "$RUN_DIR/haproxy.cfg" >> "$RUN_DIR/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	echo "$HAPROXY_PID" > "$RUN_DIR/haproxy.pid"
}

# Ready when the balancer has answered 200 from every host.
wait_ready() {
	local seen=" " h
	for _ in $(seq 1 150); do
		kill -0 "$HAPROXY_PID" 2>/dev/null || {
			HAPROXY_PID=
			tail -n 20 "$RUN_DIR/haproxy.log" >&2
			die "HAProxy exited"
		}
		h=$(curl -s -o /dev/null -D - --max-time 2 \
		    "http://127.0.0.1:$PORT/" | tr -d '\r' |
		    awk 'NR == 1 && $2 != 200 { exit } tolower($1) == "x-host:" { print $2 }')
		[ -n "$h" ] && case $seen in *" $h "*) ;; *) seen="$seen$h " ;; esac
		[ "$(echo "$seen" | wc -w)" -ge "$HOSTS" ] && return 0
		sleep 0.2
	done
	die "the balancer did not answer from every host after 30 s (saw:$seen)"
}

# Wait up to 15 s for a child told to stop (once: a stack.sh that gets
# a second SIGTERM while it stops its workers dies and leaves them
# behind) to exit, then kill it.
wait_child() {
	for _ in $(seq 1 75); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

stop_all() {
	local pid
	trap - EXIT INT TERM
	for pid in $HAPROXY_PID $STACK_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $HAPROXY_PID $STACK_PIDS; do
		wait_child "$pid"
	done
	[ -n "$REDIS_UP" ] && bash "$TOP/tests/redis-server.sh" pause "$REDIS_DIR"
	[ -n "$PG_UP" ] && bash "$TOP/tests/pg-server.sh" pause "$PG_DIR"
	[ -n "$HAPROXY_PID$STACK_PIDS$PG_UP$REDIS_UP" ] && say "stopped"
}

main() {
	local k
	parse_args "$@"
	check_tools
	HOST_PORTS=
	trap 'stop_all' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	prepare_state
	start_pg
	[ "$STORE" = redis ] && start_redis
	for k in $(seq 1 "$HOSTS"); do
		start_host "$k"
	done
	start_haproxy
	wait_ready
	say "balancer on 127.0.0.1:$PORT in front of $HOSTS hosts" \
	    "(config $RUN_DIR/haproxy.cfg)"
	echo "READY http://127.0.0.1:$PORT/"
	# Any part exiting ends it all.
	# shellcheck disable=SC2086
	wait -n "$HAPROXY_PID" $STACK_PIDS
	say "a part exited unexpectedly (logs in $RUN_DIR)"
	exit 1
}

main "$@"
