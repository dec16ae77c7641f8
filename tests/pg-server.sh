#!/bin/bash
# A private, throwaway PostgreSQL server for tests and demos.
#
# As a command:
#   tests/pg-server.sh run CMD [ARG...]   start a server, run CMD with the
#                         variables below in its environment, stop the
#                         server (also when CMD fails or is interrupted);
#                         exits with CMD's status
#   tests/pg-server.sh start DIR          start a server in DIR (empty or
#                         missing; keep it for stop), print its variables
#                         as shell assignments (eval them)
#   tests/pg-server.sh stop DIR           stop it for good, delete DIR
#   tests/pg-server.sh pause DIR          stop the server, keep its data
#   tests/pg-server.sh resume DIR         start it again: same port, socket
#                         and data (a server restart, for fault tests)
# Sourced (. tests/pg-server.sh):
#   crumb_pg_start [DIR]  the same as start, but exports the variables and
#                         stops the server at the shell's EXIT (added to
#                         any EXIT trap already set); without DIR a
#                         temporary one is made
#   crumb_pg_stop, crumb_pg_pause, crumb_pg_resume   as above
#   crumb_pg_tls [DIR]    turn TLS on: a throwaway CA (DIR/tls/ca.pem,
#                         exported as PG_CA) signs a server certificate
#                         for the name "localhost" only; loopback TCP
#                         then accepts TLS connections only (hostssl),
#                         and the server restarts
#
# Variables (also in DIR/env, one NAME='value' a line):
#   PGURL        unix socket, trusted:   postgresql:///crumb?host=DIR/sock&user=crumb
#   PGURL_TCP    loopback TCP, password: postgresql://crumb:PW@127.0.0.1:PORT/crumb
#   PG_PASSWORD  the password of role crumb (PGURL_TCP needs it)
#   PG_PORT, PG_SOCKDIR, PG_DIR (DIR), PG_BIN (the server's programs)
# The superuser is "crumb", the database "crumb".  The server listens on
# 127.0.0.1 at a free port and on a socket in DIR/sock, with fsync off
# (a test server: speed over durability).
#
# PostgreSQL refuses to run as root: as root, the server runs as the user
# in PG_RUN_AS (default: nobody), which owns DIR.  Needs the Debian
# package postgresql (the binaries under /usr/lib/postgresql/*/bin).

crumb_pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
	echo "pg-server: no PostgreSQL server binaries (install the Debian package postgresql)" >&2
	return 1
}

# Run a server program as the owner of the data.
crumb_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u "${PG_RUN_AS:-nobody}" -- "$@")
	else
		(cd / && "$@")
	fi
}

crumb_pg_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start the server of an initialized DIR and wait until it answers.
crumb_pg_up() {
	local dir=$1 port bin i
	bin=$(cat "$dir/bin") port=$(cat "$dir/port")
	crumb_pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -s \
	    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
	    start >/dev/null 2>&1 || {
		echo "pg-server: the server did not start; log:" >&2
		tail -n 20 "$dir/server.log" >&2
		return 1
	}
	for i in $(seq 1 100); do
		"$bin/pg_isready" -q -h "$dir/sock" -p "$port" && return 0
		sleep 0.1
	done
	echo "pg-server: the server is not ready after 10 s" >&2
	return 1
}

# Stop the server of DIR by its PID: pg_ctl (fast), then SIGKILL.
crumb_pg_down() {
	local dir=$1 pid bin i
	[ -f "$dir/data/postmaster.pid" ] || return 0
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	bin=$(cat "$dir/bin")
	crumb_pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 10 -s stop \
	    >/dev/null 2>&1
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

crumb_pg_tls() {
	local dir=${1:-$CRUMB_PG_DIR} t
	t=$dir/tls
	mkdir -p "$t" || return 1
	# P-256 keys: quick to make.  The CA is valid for two days.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=crumb-test-ca -keyout "$t/ca.key" \
	    -out "$t/ca.pem" >/dev/null 2>&1 &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -subj /CN=localhost -keyout "$t/server.key" \
	    -out "$t/server.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=DNS:localhost\n' > "$t/ext" &&
	openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" \
	    -CAkey "$t/ca.key" -CAcreateserial -days 2 -extfile "$t/ext" \
	    -out "$t/server.pem" >/dev/null 2>&1 || {
		echo "pg-server: openssl could not make the certificates" >&2
		return 1
	}
	chmod 0600 "$t/server.key" "$t/ca.key"
	chmod 0755 "$t"
	chmod 0644 "$t/ca.pem"
	[ "$(id -u)" -eq 0 ] && chown -R "${PG_RUN_AS:-nobody}" "$t"
	crumb_pg_as sh -c "printf '%s\n' \"ssl = on\" \
	    \"ssl_cert_file = '$t/server.pem'\" \
	    \"ssl_key_file = '$t/server.key'\" >> '$dir/data/postgresql.conf' &&
	    sed -i 's/^host /hostssl /' '$dir/data/pg_hba.conf'" || return 1
	crumb_pg_down "$dir"
	crumb_pg_up "$dir" || return 1
	echo "PG_CA='$t/ca.pem'" >> "$dir/env"
	PG_CA=$t/ca.pem
	export PG_CA
}

crumb_pg_env() {
	cat "$1/env"
}

crumb_pg_init() {
	local dir=$1 bin port pw user=${PG_RUN_AS:-nobody}
	bin=$(crumb_pg_bin) || return 1
	mkdir -p "$dir" || return 1
	if [ -n "$(ls -A "$dir")" ]; then
		echo "pg-server: $dir is not empty" >&2
		return 1
	fi
	mkdir -m 0700 "$dir/sock" "$dir/data"
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" > "$dir/pwfile"
	echo "$bin" > "$dir/bin"
	[ "$(id -u)" -eq 0 ] && chown -R "$user" "$dir"
	chmod 0700 "$dir"
	if ! crumb_pg_as test -w "$dir/data"; then
		echo "pg-server: user $user cannot reach $dir (a parent directory is closed to it)" >&2
		return 1
	fi
	crumb_pg_as "$bin/initdb" -N -D "$dir/data" -U crumb -E UTF8 \
	    --locale=C.UTF-8 --pwfile="$dir/pwfile" --auth-local=trust \
	    --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
		echo "pg-server: initdb failed:" >&2
		tail -n 20 "$dir/initdb.log" >&2
		return 1
	}
	rm -f "$dir/pwfile"
	for i in 1 2 3; do
		port=$(crumb_pg_free_port) || return 1
		echo "$port" > "$dir/port"
		crumb_pg_up "$dir" && break
		[ "$i" = 3 ] && return 1
	done
	"$bin/createdb" -h "$dir/sock" -p "$port" -U crumb crumb || return 1
	cat > "$dir/env" <<EOF
PGURL='postgresql:///crumb?host=$dir/sock&port=$port&user=crumb'
PGURL_TCP='postgresql://crumb:$pw@127.0.0.1:$port/crumb'
PG_PASSWORD='$pw'
PG_PORT='$port'
PG_SOCKDIR='$dir/sock'
PG_DIR='$dir'
PG_BIN='$bin'
EOF
	[ "$(id -u)" -eq 0 ] && chown "$user" "$dir/env" "$dir/port" "$dir/bin"
	return 0
}

crumb_pg_start() {
	local dir=${1:-} old
	[ -n "$dir" ] || dir=$(mktemp -d /tmp/crumb-pg.XXXXXX) || return 1
	CRUMB_PG_DIR=$dir
	# Stop it at exit, after whatever the caller's EXIT trap does.
	# trap -p quotes the command for the shell: eval takes the quotes
	# off again, whatever quotes the command holds itself.
	old=$(trap -p EXIT)
	old=${old#"trap -- "}
	old=${old%" EXIT"}
	eval "old=${old:-''}"
	# shellcheck disable=SC2064
	trap "${old:+$old;} crumb_pg_stop '$dir'" EXIT
	crumb_pg_init "$dir" || return 1
	set -a
	# shellcheck disable=SC1091
	. "$dir/env"
	set +a
}

crumb_pg_stop() {
	local dir=${1:-${CRUMB_PG_DIR:-}}
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	crumb_pg_down "$dir"
	rm -rf "$dir"
}

crumb_pg_pause() {
	crumb_pg_down "${1:-$CRUMB_PG_DIR}"
}

crumb_pg_resume() {
	crumb_pg_up "${1:-$CRUMB_PG_DIR}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	cmd=${1:-}
	shift || true
	case $cmd in
	run)
		[ $# -gt 0 ] || { echo "usage: pg-server.sh run CMD [ARG...]" >&2; exit 2; }
		crumb_pg_start || exit 1
		trap 'exit 130' INT TERM
		rc=0
		"$@" || rc=$?
		exit "$rc"
		;;
	start)
		[ $# -eq 1 ] || { echo "usage: pg-server.sh start DIR" >&2; exit 2; }
		if ! crumb_pg_init "$1"; then
			crumb_pg_down "$1"
			exit 1
		fi
		crumb_pg_env "$1"
		;;
	stop|pause|resume)
		[ $# -eq 1 ] || { echo "usage: pg-server.sh $cmd DIR" >&2; exit 2; }
		[ -f "$1/bin" ] || { echo "pg-server: $1 holds no server" >&2; exit 1; }
		"crumb_pg_$cmd" "$1"
		;;
	*)
		echo "usage: pg-server.sh run CMD [ARG...] | start DIR | stop DIR | pause DIR | resume DIR" >&2
		exit 2
		;;
	esac
fi
