#!/bin/bash
# The guestbook's browser test: starts the real stack (private
# Apache in front of 2 FastCGI workers, on a free loopback port, with a
# throw-away state directory) and drives it with headless Chromium
# (Debian's chromium, through playwright-core from tests/browser).
#
#   tests/browser-test.sh [BUILD_DIR]
#
# BUILD_DIR (default: the source tree) holds the built cgi-bin/guestbook
# and lib/crumb-keygen.  Installs chromium, nodejs and npm when missing
# (apt-get) and tests/browser/node_modules when absent (npm ci).  The
# screenshots, the stack's output and its logs land in
# BUILD_DIR/test-output/browser.  The exit code is the browser test's
# (1 when the stack does not come up).
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
BROWSER_DIR=$TOP/tests/browser
BUILD_DIR=${1:-$TOP}
READY_TIMEOUT=60

say() { echo "browser-test.sh: $*" >&2; }
die() { say "$*"; exit 1; }

BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) || die "no build directory: ${1:-}"
OUT=$BUILD_DIR/test-output/browser

# ---------------------------------------------------------------- deps

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

deb_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

install_debs() {
	local missing=() p
	for p in chromium nodejs; do
		deb_installed "$p" || missing+=("$p")
	done
	# npm may come with nodejs itself (NodeSource's package ships it,
	# and conflicts with Debian's npm): only ask for the package when
	# there is no npm command at all.
	command -v npm >/dev/null || deb_installed npm || missing+=(npm)
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	as_root apt-get update -qq || say "apt-get update failed; trying anyway"
	as_root env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
	    die "apt-get install ${missing[*]} failed"
}

install_node_modules() {
	[ -d "$BROWSER_DIR/node_modules/playwright-core" ] && return 0
	say "npm ci in $BROWSER_DIR"
	(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund) || die "npm ci failed"
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- stack

STACK_PID=
STATE_DIR=
NODE_PID=

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
		kill -TERM "$NODE_PID" 2>/dev/null
		wait "$NODE_PID" 2>/dev/null
	fi
	if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
		kill -TERM "$STACK_PID" 2>/dev/null
		wait "$STACK_PID" 2>/dev/null
	fi
	if [ -n "$STATE_DIR" ]; then
		# Keep the server's logs next to the screenshots.
		cp "$STATE_DIR/run/error.log" "$OUT/apache-error.log" 2>/dev/null
		cp "$STATE_DIR/run/fcgi.log" "$OUT/fcgi.log" 2>/dev/null
		rm -rf "$STATE_DIR"
	fi
}

start_stack() {
	local port i
	port=$(free_port) || die "no free port"
	STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/crumb-browser.XXXXXX") ||
	    die "mktemp failed"
	say "starting the stack on 127.0.0.1:$port (state $STATE_DIR)"
	CRUMB_INSECURE_COOKIE=1 "$TOP/scripts/stack.sh" --port "$port" \
	    --state-dir "$STATE_DIR" --mode fcgi --workers 2 \
	    --build-dir "$BUILD_DIR" >"$OUT/stack.out" 2>"$OUT/stack.err" &
	STACK_PID=$!
	for i in $(seq 1 $((READY_TIMEOUT * 5))); do
		BASE_URL=$(sed -n 's/^READY \(http[^ ]*\)$/\1/p' "$OUT/stack.out")
		[ -n "$BASE_URL" ] && return 0
		if ! kill -0 "$STACK_PID" 2>/dev/null; then
			wait "$STACK_PID"
			say "the stack exited ($?) before READY; its stderr:"
			tail -n 30 "$OUT/stack.err" >&2
			STACK_PID=
			exit 1
		fi
		sleep 0.2
	done
	say "no READY from scripts/stack.sh within $READY_TIMEOUT s; its stderr:"
	tail -n 30 "$OUT/stack.err" >&2
	exit 1
}

# ---------------------------------------------------------------- main

install_debs
install_node_modules
mkdir -p "$OUT" || die "cannot create $OUT"
rm -f "$OUT"/*.png "$OUT"/*.log "$OUT"/stack.out "$OUT"/stack.err
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_stack
say "stack ready at $BASE_URL"

# Playwright's own timeouts bound every step; this bounds the whole run.
# In the background, so that a signal to this script is handled at once
# (the trap stops the test, which closes its browser, then the stack).
timeout 300 node "$BROWSER_DIR/guestbook.spec.mjs" "$BASE_URL" "$OUT" &
NODE_PID=$!
wait "$NODE_PID"
rc=$?
NODE_PID=
if [ "$rc" -eq 0 ]; then
	say "PASS (screenshots in $OUT)"
else
	say "FAIL ($rc); screenshots and server logs in $OUT"
fi
exit "$rc"
