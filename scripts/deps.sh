#!/bin/bash
# Install the Debian packages given as arguments, but only those that
# are missing (dpkg-query), so that a machine that has everything is
# never touched and needs no network.
#
#   scripts/deps.sh PACKAGE...          as a command
#   . scripts/deps.sh; crumb_deps PKG...  from another script
#
# Not root: uses sudo when there is one.

# The packages the guestbook demo and its end-to-end test need.
CRUMB_DEMO_PACKAGES="autoconf automake libtool pkg-config make gcc
libfcgi-dev libcjson-dev libsqlite3-dev libgcrypt20-dev apache2 apache2-utils spawn-fcgi
multiwatch procps curl sqlite3"
# And what the several-host demo adds (scripts/hosts.sh): the balancer,
# a PostgreSQL server and the library's PostgreSQL store.
# shellcheck disable=SC2034 # used by scripts/demo.sh
CRUMB_HOSTS_PACKAGES="haproxy postgresql libpq-dev python3 iproute2"
# And what the several-host demo with its sessions in Redis adds
# (scripts/hosts.sh --store redis): the server and the Redis store's
# client library.
# shellcheck disable=SC2034 # used by scripts/demo.sh
CRUMB_REDIS_PACKAGES="redis-server libhiredis-dev"

# What `make check` needs beyond the build: mandoc lints the manual
# pages (tests/test-man-lint.sh fails without it), perl and nm read them
# against crumb.h and the library, man-db renders them as man(1) does.
# shellcheck disable=SC2034 # used by scripts/test.sh
CRUMB_CHECK_PACKAGES="mandoc man-db perl binutils"

crumb_deps_missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
		    grep -q '^install ok installed$' || echo "$p"
	done
}

# $missing is split on purpose: one package a word.
# shellcheck disable=SC2086
crumb_deps() {
	local missing sudo=
	command -v dpkg-query >/dev/null || {
		echo "deps: not a Debian system; install by hand: $*" >&2
		return 1
	}
	missing=$(crumb_deps_missing "$@")
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || {
			echo "deps: missing" $missing "(run as root)" >&2
			return 1
		}
		sudo=sudo
	fi
	echo "deps: installing" $missing >&2
	# Another apt run (unattended-upgrades, a second script) holds the
	# lock for a while: wait for it rather than fail.
	$sudo apt-get -o DPkg::Lock::Timeout=300 update -q &&
	    $sudo env DEBIAN_FRONTEND=noninteractive apt-get \
	    -o DPkg::Lock::Timeout=300 install -y -q \
	    --no-install-recommends $missing
}

# Run as a command (not sourced).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	if [ $# -eq 0 ]; then
		# shellcheck disable=SC2086
		set -- $CRUMB_DEMO_PACKAGES
	fi
	crumb_deps "$@"
fi
