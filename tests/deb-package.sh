#!/bin/bash
# The Debian packages, from source to a working install and back:
#   1. installs what building them needs (when missing: scripts/deps.sh,
#      then apt-get build-dep for debian/control's list);
#   2. builds them with dpkg-buildpackage -us -uc -b from a clean copy of
#      the tree, without the upstream test suite (nocheck: CI runs it);
#   3. runs lintian on them, prints every finding, fails on an error;
#   4. installs libcrumb0, libcrumb-dev and crumb-tools with apt-get;
#   5. compiles the README's counter.c against the installed package
#      with `pkg-config --cflags --libs crumb` (and nothing else), runs
#      it as a CGI program with a key from the installed crumb-keygen:
#      it counts 1 and sets a cookie, then 2 with that cookie, using the
#      packaged libcrumb.so.0;
#   6. runs crumbctl --version (the package's version) and
#      crumb-keygen --help, crumbctl stats on the counter's store, and
#      man on the installed pages;
#   7. purges the three packages and whatever installing them pulled in.
#
#   tests/deb-package.sh [TARBALL]
#
# The clean copy is TARBALL (make dist's, which holds debian/) or, by
# default, `git archive` of HEAD with the working tree's changes to
# tracked files (git stash create: a new file counts once it is added).
# Needs apt and root (or sudo); run by scripts/test.sh, not by make
# check.  Refuses to run when a crumb package is installed already, as
# step 7 would remove it.  Everything it made is removed at exit.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
PACKAGES="libcrumb0 libcrumb-dev crumb-tools"
T0=$SECONDS

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "deb-package: $*"; }

if [ $# -gt 1 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	echo "usage: tests/deb-package.sh [TARBALL]" >&2
	exit 2
fi
TARBALL=
if [ $# -eq 1 ]; then
	TARBALL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	[ -f "$TARBALL" ] || fail "no tarball $1"
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || fail "needs root or sudo (apt-get)"
	SUDO=sudo
fi
# Other jobs on the machine may hold the dpkg lock for a while.
apt_() {
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
	    -o DPkg::Lock::Timeout=300 "$@"
}
# alternatives "a b c": the regular expression a|b|c.
alternatives() { printf '%s\n' "$1" | xargs -n 1 | paste -s -d '|'; }
installed() {
	dpkg-query -W -f='${db:Status-Status} ${Package}\n' 2>/dev/null |
	    awk '$1 == "installed" { print $2 }' | LC_ALL=C sort
}

now=$(installed)
for p in $PACKAGES; do
	if grep -qx "$p" <<<"$now"; then
		fail "$p is installed already; this test would remove it" \
		    "(apt-get purge $PACKAGES first)"
	fi
done

WORK=$(mktemp -d /tmp/crumb-deb.XXXXXX)
chmod 0755 "$WORK"
PURGE=
cleanup() {
	local rc=$?
	if [ -n "$PURGE" ]; then
		say "purging $PURGE"
		# shellcheck disable=SC2086 # one package a word
		apt_ purge $PURGE >"$WORK/purge.log" 2>&1 ||
		    { cat "$WORK/purge.log" >&2; rc=1; }
		left=$(installed | grep -xE "$(alternatives "$PURGE")" || true)
		if [ -n "$left" ]; then
			echo "FAIL: still installed after purge: $left" >&2
			rc=1
		fi
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 2 (first the copy, whose debian/control names the build deps) --
SRC=$WORK/crumb
mkdir "$SRC"
if [ -n "$TARBALL" ]; then
	tar -xzf "$TARBALL" -C "$SRC" --strip-components=1
	say "building from $TARBALL"
else
	command -v git >/dev/null || fail "no git: give a tarball (make dist)"
	rev=$(git -C "$TOP" stash create)
	git -C "$TOP" archive "${rev:-HEAD}" | tar -x -C "$SRC"
	say "building from git archive ${rev:+of the working tree on }HEAD"
fi
[ -f "$SRC/debian/control" ] || fail "no debian/ in the copy"

# ---- 1 ---------------------------------------------------------------
# shellcheck source=scripts/deps.sh disable=SC1091
. "$TOP/scripts/deps.sh"
crumb_deps build-essential dpkg-dev debhelper lintian
# Then what debian/control asks for (apt-get build-dep reads it).
if ! (cd "$SRC" && dpkg-checkbuilddeps -P nocheck) 2>/dev/null; then
	say "installing the build dependencies"
	apt_ update >/dev/null
	apt_ build-dep --no-install-recommends -P nocheck "$SRC" >/dev/null
fi

t=$SECONDS
(cd "$SRC" &&
    DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc 2>/dev/null || echo 2)" \
    dpkg-buildpackage -us -uc -b -Pnocheck) > "$WORK/build.log" 2>&1 || {
	tail -n 60 "$WORK/build.log"
	fail "dpkg-buildpackage failed"
}
say "packages built in $((SECONDS - t)) s"
changes=$(ls "$WORK"/*.changes)
debs=
for p in $PACKAGES; do
	f=$(ls "$WORK/${p}"_*.deb 2>/dev/null) || fail "no $p package built"
	debs="$debs $f"
done

# ---- 3 ---------------------------------------------------------------
# Not as root (lintian advises against it): as nobody, who can read $WORK.
t=$SECONDS
lint=(lintian -I --fail-on error "$changes")
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
	lint=(runuser -u nobody -- env HOME="$WORK" "${lint[@]}")
fi
rc=0
"${lint[@]}" > "$WORK/lintian.txt" 2>&1 || rc=$?
echo "---- lintian ($((SECONDS - t)) s): $(grep -c '^[EWIPX]: ' "$WORK/lintian.txt" || true) findings"
cat "$WORK/lintian.txt"
echo "----"
[ "$rc" -eq 0 ] || fail "lintian reports errors (exit $rc)"

# ---- 4 ---------------------------------------------------------------
installed > "$WORK/before"
PURGE=$PACKAGES
# shellcheck disable=SC2086
apt_ install --no-install-recommends $debs > "$WORK/install.log" 2>&1 || {
	cat "$WORK/install.log"
	fail "apt-get install of the packages failed"
}
# What installing them pulled in goes too.
pulled=$(installed | LC_ALL=C comm -13 "$WORK/before" - |
    grep -vxE "$(alternatives "$PACKAGES")" | paste -s -d ' ' || true)
PURGE="$PACKAGES${pulled:+ $pulled}"
say "installed $PACKAGES${pulled:+ (and $pulled)}"

# ---- 5 ---------------------------------------------------------------
awk '$0 == "<!-- example: counter.c -->" { on = 1; next }
     on && $0 == "```c" { inblock = 1; next }
     inblock && /^```$/ { exit }
     inblock { print }' "$SRC/README" > "$WORK/counter.c"
[ "$(wc -l < "$WORK/counter.c")" -gt 10 ] || fail "no counter.c in README"
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
flags=$(pkg-config --cflags --libs crumb) || fail "pkg-config knows no crumb"
pcdir=$(pkg-config --variable=libdir crumb)
[ "$pcdir" = "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)" ] ||
    fail "crumb.pc's libdir is $pcdir"
# shellcheck disable=SC2086
cc -Wall -Wextra -Werror -o "$WORK/counter" "$WORK/counter.c" $flags ||
    fail "README's counter.c does not compile against libcrumb-dev"
say "README's counter.c compiles with: pkg-config --cflags --libs crumb = $flags"
lib=$(ldd "$WORK/counter" | awk '$1 == "libcrumb.so.0" { print $3 }')
[ -n "$lib" ] || fail "counter is not linked with libcrumb.so.0: $(ldd "$WORK/counter")"
owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | cut -d: -f1)
[ "$owner" = libcrumb0 ] || fail "counter loads $lib, not libcrumb0's"
say "counter runs with $lib from libcrumb0"

STATE=$WORK/state
mkdir -m 0700 "$STATE"
crumb-keygen "$STATE/key" > /dev/null || fail "crumb-keygen failed"
[ "$(stat -c %a "$STATE/key")" = 600 ] || fail "key not mode 0600"
cgi() {
	env -i PATH=/usr/bin:/bin GATEWAY_INTERFACE=CGI/1.1 \
	    REQUEST_METHOD=GET REQUEST_URI=/ CRUMB_STATE_DIR="$STATE" \
	    HTTP_COOKIE="$1" "$WORK/counter"
}
out=$(cgi "") || fail "counter exited $?"
printf '%s\n' "$out" | grep -q '^Status:' && fail "first request: $out"
printf '%s\n' "$out" | grep -q '^Content-Type: text/plain' ||
    fail "first request, no Content-Type: $out"
cookie=$(printf '%s\n' "$out" | tr -d '\r' |
    sed -n 's/^Set-Cookie: \([^;]*\);.*/\1/p' | head -n 1)
[ -n "$cookie" ] || fail "first request sets no cookie: $out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = 1 ] || fail "first request: $out"
[ -s "$STATE/sessions.db" ] || fail "no SQLite store in $STATE"
out=$(cgi "$cookie") || fail "counter exited $?"
[ "$(printf '%s\n' "$out" | tail -n 1)" = 2 ] ||
    fail "second request with the cookie: $out"
say "counter as CGI: 1 and a session cookie, then 2 with it"

# ---- 6 ---------------------------------------------------------------
version=$(dpkg-query -W -f='${Version}' crumb-tools)
got=$(crumbctl --version) || fail "crumbctl --version exited $?"
[ "$got" = "crumbctl ${version%-*}" ] ||
    fail "crumbctl --version: '$got', package ${version}"
say "crumbctl --version: $got"
(cd "$WORK" && crumb-keygen --help) > "$WORK/help" ||
    fail "crumb-keygen --help exited $?"
grep -q '^usage: crumb-keygen' "$WORK/help" ||
    fail "crumb-keygen --help: $(cat "$WORK/help")"
[ ! -e "$WORK/--help" ] || fail "crumb-keygen --help wrote a key file"
say "crumb-keygen --help prints its usage"
crumbctl --store "sqlite:$STATE/sessions.db" stats > "$WORK/stats" ||
    fail "crumbctl stats exited $?"
grep -qE '^ *live: +1$' "$WORK/stats" ||
    fail "crumbctl stats does not count the counter's 1 session: $(cat "$WORK/stats")"
say "crumbctl --store sqlite:... stats:"
sed 's/^/  /' "$WORK/stats"
# The manual pages the packages installed, as a user reads them.
for page in crumb_session_begin crumb_session_free crumbctl crumb-store; do
	man -P cat "$page" > "$WORK/man.txt" 2> "$WORK/man.err" ||
	    fail "man $page: $(cat "$WORK/man.err")"
	grep -q '^NAME' "$WORK/man.txt" && grep -qF "$page" "$WORK/man.txt" ||
	    fail "man $page shows no page naming $page"
done
say "man crumb_session_begin, crumb_session_free, crumbctl, crumb-store: found"

# ---- 7 (cleanup, at exit) --------------------------------------------
say "ok ($((SECONDS - T0)) s in all)"
