# Shared part of the fault tests that drive one guestbook stack
# (scripts/stack.sh, FastCGI) on a free port: TAP reporting, requests,
# starting and stopping the stack, a /counter load client.  Sourced by
# tests/e2e-*.sh; sets SRC, BUILD, W (a scratch directory, removed at
# exit) and, once started, PORT, BASE, STATE and STACK_PID.
#
# Functions are called by the scripts that source this file (SC2317),
# variables are read there (SC2034).
# shellcheck shell=bash disable=SC2317,SC2034

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 2
N=0
FAILS=0
STACK_PID=
STATE=
W=$(mktemp -d /tmp/crumb-fault.XXXXXX) || exit 2
# The stack's user (www-data when root) enters the state directory in it.
chmod 0711 "$W"

# need TOOL...: skip (77) when one is missing.
need() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null; then
			echo "# SKIP: $t not installed (scripts/deps.sh)"
			exit 77
		fi
	done
}

ok() { N=$((N + 1)); echo "ok $N - $1"; }
nok() { N=$((N + 1)); FAILS=$((FAILS + 1)); echo "not ok $N - $1${2:+ ($2)}"; }
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else nok "$desc"; fi
}
# Exit status of the whole test.
finish() {
	echo "1..$N"
	[ "$FAILS" -eq 0 ]
}

# http JAR CURL-ARGS...: CODE, $W/h (headers) and $W/b (body).
http() {
	local jar=$1
	shift
	local opts=()
	[ -n "$jar" ] && opts=(-b "$jar" -c "$jar")
	: > "$W/h"
	: > "$W/b"
	CODE=$(curl -s -o "$W/b" -D "$W/h" -w '%{http_code}' --max-time 20 \
	    "${opts[@]}" "$@")
}
has_body() { grep -Fq -- "$1" "$W/b"; }
body_is() { [ "$(cat "$W/b")" = "$1" ]; }
csrf_of_page() {
	grep -o 'name="csrf" value="[^"]*"' "$W/b" | head -n 1 |
	    sed 's/.*value="//; s/"$//'
}
count_of() { grep -o '"count":[0-9]*' "$W/b" | cut -d: -f2; }

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return 0; }
	done
	return 1
}

# Runs a command as the owner of the state directory (SQLite's -wal and
# -shm files stay the workers').
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$(stat -c %U "$STATE")" -- "$@"
	else
		"$@"
	fi
}

stop_stack() {
	if [ -n "$STACK_PID" ]; then
		kill -TERM "$STACK_PID" 2>/dev/null
		wait "$STACK_PID" 2>/dev/null
		STACK_PID=
	fi
}

# start_stack [STACK.SH-ARGS...]: a fresh state directory, FastCGI, 4
# workers unless the arguments say otherwise; stderr in $W/stack.err.
start_stack() {
	local try
	for try in 1 2 3; do
		STATE=$W/state$try
		PORT=$(free_port) || return 1
		BASE=http://127.0.0.1:$PORT
		: > "$W/stack.out"
		CRUMB_INSECURE_COOKIE=1 PURGE_INTERVAL=0 \
		    "$SRC/scripts/stack.sh" --port "$PORT" --state-dir "$STATE" \
		    --workers 4 --build-dir "$BUILD" "$@" > "$W/stack.out" \
		    2> "$W/stack.err" &
		STACK_PID=$!
		for _ in $(seq 1 450); do
			grep -q '^READY ' "$W/stack.out" && return 0
			kill -0 "$STACK_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_stack
		echo "# stack did not start (try $try):" >&2
		sed 's/^/#   /' "$W/stack.err" >&2
	done
	return 1
}

cleanup() {
	stop_stack
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# load_client OUT COOKIES STOPFILE [URL]: GET /counter (or URL) in a
# loop until STOPFILE exists; one line a request, "START END CODE COUNT"
# (epoch seconds; COUNT empty unless the answer had one).
load_client() {
	local t0 t1 out url=${4:-$BASE/counter}
	while [ ! -e "$3" ]; do
		t0=$EPOCHREALTIME
		out=$(curl -s -o - -w ' %{http_code}' --max-time 10 -b "$2" \
		    "$url")
		t1=$EPOCHREALTIME
		printf '%s %s %s %s\n' "$t0" "$t1" "${out##* }" \
		    "$(printf '%s' "$out" | grep -o '"count":[0-9]*' | cut -d: -f2)"
	done > "$1"
}

# worker_pids: the live workers the stack lists.
worker_pids() { cat "$STATE/run/workers.pid" 2>/dev/null; }
