#!/bin/bash
# A private, throwaway Redis server for tests and demos.
#
# As a command:
#   tests/redis-server.sh run CMD [ARG...]   start a server, run CMD with
#                         the variables below in its environment, stop the
#                         server (also when CMD fails or is interrupted);
#                         exits with CMD's status
#   tests/redis-server.sh start DIR       start a server in DIR (empty or
#                         missing; keep it for stop), print its variables
#                         as shell assignments (eval them)
#   tests/redis-server.sh stop DIR        stop it for good, delete DIR
#   tests/redis-server.sh pause DIR       stop the server, keep DIR
#   tests/redis-server.sh resume DIR      start it again: same port and
#                         socket (a server restart, for fault tests)
# Sourced (. tests/redis-server.sh):
#   crumb_redis_start [DIR]  the same as start, but exports the variables
#                         and stops the server at the shell's EXIT (added
#                         to any EXIT trap already set); without DIR a
#                         temporary one is made
#   crumb_redis_stop, crumb_redis_pause, crumb_redis_resume   as above
#
# Variables (also in DIR/env, one NAME='value' a line):
#   REDISURL       unix socket:  redis+unix://DIR/redis.sock?db=1&password=PW
#   REDISURL_TCP   loopback TCP: redis://:PW@127.0.0.1:PORT/2
#   REDIS_PASSWORD, REDIS_PORT, REDIS_SOCK, REDIS_DIR (DIR)
# The server listens on 127.0.0.1 at a free port and on a socket in DIR,
# with a password (requirepass), no persistence (save "", appendonly no)
# and its working directory in DIR: nothing is written elsewhere.  It is
# stopped by its PID (DIR/pid).
# CRUMB_REDIS_AOF=1 in the environment of start (or crumb_redis_start)
# turns persistence on for good in DIR: an append-only file in DIR
# (appendonly yes, appendfsync everysec), read again at resume, so that
# a server stopped by SIGTERM and resumed keeps every write it answered;
# still no RDB snapshots (save "").  Run as root, the server runs as
# REDIS_RUN_AS (default: nobody), which owns DIR and its files: a test
# never runs a network server as root.  Needs the Debian package
# redis-server (only its program: the system service it installs is
# never touched).

crumb_redis_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start the server of DIR and wait until it answers.
crumb_redis_up() {
	local dir=$1 port pw i aof=no
	port=$(cat "$dir/port") pw=$(cat "$dir/password")
	[ -e "$dir/aof" ] && aof=yes
	# The password goes through the config file, not the command line
	# (ps would show it).
	cat > "$dir/redis.conf" <<EOF
bind 127.0.0.1
port $port
unixsocket $dir/redis.sock
unixsocketperm 700
dir $dir
save ""
appendonly $aof
appendfsync everysec
daemonize no
logfile $dir/server.log
requirepass $pw
EOF
	chmod 0600 "$dir/redis.conf"
	# setpriv execs the server itself (runuser would stay as its
	# parent), so that $! is the server's PID.
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "${REDIS_RUN_AS:-nobody}" "$dir"
		as=(setpriv --reuid="${REDIS_RUN_AS:-nobody}" --regid=nogroup
		    --clear-groups --)
		if ! "${as[@]}" test -w "$dir"; then
			echo "redis-server: user ${REDIS_RUN_AS:-nobody} cannot reach $dir (a parent directory is closed to it)" >&2
			return 1
		fi
	fi
	(cd "$dir" && exec "${as[@]}" redis-server "$dir/redis.conf" \
	    </dev/null >/dev/null 2>&1) &
	echo $! > "$dir/pid"
	for i in $(seq 1 100); do
		if [ -S "$dir/redis.sock" ] &&
		    REDISCLI_AUTH=$pw redis-cli -s "$dir/redis.sock" ping \
		    2>/dev/null | grep -q PONG; then
			return 0
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "redis-server: the server did not start; log:" >&2
	tail -n 20 "$dir/server.log" >&2 2>/dev/null
	crumb_redis_down "$dir"
	return 1
}

# Stop the server of DIR by its PID: TERM, then KILL.
crumb_redis_down() {
	local dir=$1 pid i
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	rm -f "$dir/pid"
	return 0
}

crumb_redis_init() {
	local dir=$1 port pw i
	command -v redis-server >/dev/null || {
		echo "redis-server: no redis-server (install the Debian package redis-server)" >&2
		return 1
	}
	mkdir -p "$dir" || return 1
	if [ -n "$(ls -A "$dir")" ]; then
		echo "redis-server: $dir is not empty" >&2
		return 1
	fi
	chmod 0700 "$dir"
	[ "${CRUMB_REDIS_AOF:-0}" = 1 ] && : > "$dir/aof"
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" > "$dir/password"
	for i in 1 2 3; do
		port=$(crumb_redis_free_port) || return 1
		echo "$port" > "$dir/port"
		crumb_redis_up "$dir" && break
		[ "$i" = 3 ] && return 1
	done
	cat > "$dir/env" <<EOF
REDISURL='redis+unix://$dir/redis.sock?db=1&password=$pw'
REDISURL_TCP='redis://:$pw@127.0.0.1:$port/2'
REDIS_PASSWORD='$pw'
REDIS_PORT='$port'
REDIS_SOCK='$dir/redis.sock'
REDIS_DIR='$dir'
EOF
	return 0
}

crumb_redis_env() {
	cat "$1/env"
}

crumb_redis_start() {
	local dir=${1:-} old
	[ -n "$dir" ] || dir=$(mktemp -d /tmp/crumb-redis.XXXXXX) || return 1
	CRUMB_REDIS_DIR=$dir
	# Stop it at exit, after whatever the caller's EXIT trap does.
	# trap -p quotes the command for the shell: eval takes the quotes
	# off again, whatever quotes the command holds itself.
	old=$(trap -p EXIT)
	old=${old#"trap -- "}
	old=${old%" EXIT"}
	eval "old=${old:-''}"
	# shellcheck disable=SC2064
	trap "${old:+$old;} crumb_redis_stop '$dir'" EXIT
	crumb_redis_init "$dir" || return 1
	set -a
	# shellcheck disable=SC1091
	. "$dir/env"
	set +a
}

crumb_redis_stop() {
	local dir=${1:-${CRUMB_REDIS_DIR:-}}
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	crumb_redis_down "$dir"
	rm -rf "$dir"
}

crumb_redis_pause() {
	crumb_redis_down "${1:-$CRUMB_REDIS_DIR}"
}

crumb_redis_resume() {
	crumb_redis_up "${1:-$CRUMB_REDIS_DIR}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	cmd=${1:-}
	shift || true
	case $cmd in
	run)
		[ $# -gt 0 ] || { echo "usage: redis-server.sh run CMD [ARG...]" >&2; exit 2; }
		crumb_redis_start || exit 1
		trap 'exit 130' INT TERM
		rc=0
		"$@" || rc=$?
		exit "$rc"
		;;
	start)
		[ $# -eq 1 ] || { echo "usage: redis-server.sh start DIR" >&2; exit 2; }
		if ! crumb_redis_init "$1"; then
			crumb_redis_down "$1"
			exit 1
		fi
		crumb_redis_env "$1"
		;;
	stop|pause|resume)
		[ $# -eq 1 ] || { echo "usage: redis-server.sh $cmd DIR" >&2; exit 2; }
		[ -f "$1/port" ] || { echo "redis-server: $1 holds no server" >&2; exit 1; }
		"crumb_redis_$cmd" "$1"
		;;
	*)
		echo "usage: redis-server.sh run CMD [ARG...] | start DIR | stop DIR | pause DIR | resume DIR" >&2
		exit 2
		;;
	esac
fi
