#!/bin/bash
# crumbctl key new|rotate: --help (exit 0), usage errors (exit 2, no
# file written), failures (exit 1, one reason on stderr, nothing
# changed), the files a rotation leaves (key.old is the very file key
# was, key new, key.next promoted, no temporary file left), rotations
# run at once in one directory, and no key in any output.
# Run by make check (top_builddir set) or by hand: tests/test-ctl-key.sh BUILD_DIR
# "a && ok || fail" is meant (SC2015); the names compared are plain
# (SC2012); keys are one word a line (SC2013).
# shellcheck disable=SC2015,SC2012,SC2013
set -uo pipefail
BUILD=$(cd "${1:-${top_builddir:-.}}" && pwd) || exit 1
CTL=$BUILD/tools/crumbctl
WORK=$(mktemp -d /tmp/crumb-ctl-key.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# run WANT_STATUS CMD...: stdout and stderr kept in out and err; every
# key written so far must be absent from both.
run() {
	local want=$1 got k
	shift
	"$@" >out 2>err
	got=$?
	for k in $(cat keys 2>/dev/null); do
		if grep -qi "$k" out err; then
			fail "$* printed a key"
		fi
	done
	if [ "$got" -ne "$want" ]; then
		fail "$* exited $got, want $want (stderr: $(head -c 300 err))"
		return 1
	fi
	return 0
}
# Remember the key in file $1, to be looked for in every output.
remember() { tr -d '\n' < "$1" >> keys; echo >> keys; }
is_key() { [ "$(stat -c %a "$1")" = 600 ] && grep -Eqx '[0-9a-f]{64}' "$1"; }
# Only the given names in directory $1 (no temporary file left).
only() {
	local d=$1 want=
	shift
	[ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	[ "$(ls -A "$d" | sort | tr '\n' ' ')" = "$want" ]
}

# --- usage ---
if run 0 "$CTL" key --help && grep -q "^usage: crumbctl key new" out &&
    [ ! -s err ]; then
	ok "key --help: usage on stdout, exit 0"
else
	fail "key --help"
fi
run 0 "$CTL" key rotate --help && grep -q "^usage: crumbctl key" out &&
	ok "key rotate --help: exit 0" || fail "key rotate --help"
mkdir u
for args in "" "frob" "new" "rotate" "new --frobnicate u/k" "new u/a u/b" \
    "rotate u u" "rotate --force u" "new ''"; do
	eval "set -- $args"
	if run 2 "$CTL" key "$@" && grep -q "^usage: crumbctl key" err &&
	    [ ! -s out ] && only u; then
		ok "key $args: usage on stderr, exit 2, no file"
	else
		fail "key $args: usage on stderr, exit 2, no file"
	fi
done

# --- key new ---
mkdir d
if run 0 "$CTL" --quiet key new d/k && is_key d/k && [ ! -s out ] &&
    only d k; then
	ok "key new: a 0600 key file, nothing printed under --quiet"
else
	fail "key new d/k"
fi
remember d/k
cp d/k before
if run 1 "$CTL" key new d/k && cmp -s d/k before &&
    grep -qx "crumbctl key: d/k: file exists (--force replaces it)" err &&
    only d k; then
	ok "key new on an existing file: exit 1, file unchanged"
else
	fail "key new on an existing file"
fi
if run 0 "$CTL" key new --force d/k && is_key d/k && ! cmp -s d/k before &&
    only d k; then
	ok "key new --force: replaced by a new key"
else
	fail "key new --force"
fi
remember d/k
run 0 "$CTL" key new -- d/-k && is_key d/-k && ok "key new -- d/-k" ||
	fail "key new -- d/-k"
remember d/-k
run 1 "$CTL" key new nodir/k && grep -q "nodir: No such file or directory" err &&
	ok "key new in a missing directory: exit 1" ||
	fail "key new in a missing directory"
run 1 "$CTL" key new --force d && grep -q "is a directory" err &&
	ok "key new --force on a directory: exit 1" ||
	fail "key new --force on a directory"
if run 0 "$CTL" --json key new d/j &&
    python3 -c 'import json,sys; o=json.load(open("out")); sys.exit(o["path"] != "d/j")'; then
	ok "key new --json: one JSON object"
else
	fail "key new --json"
fi
remember d/j

# --- key rotate ---
mkdir r
run 1 "$CTL" key rotate r && grep -q "r/key: No such file or directory" err &&
	only r && ok "key rotate without key: exit 1" ||
	fail "key rotate without key"
run 1 "$CTL" key rotate d/k && grep -q "not a directory" err &&
	ok "key rotate on a file: exit 1" || fail "key rotate on a file"
"$CTL" --quiet key new r/key
remember r/key
chmod 0644 r/key
run 1 "$CTL" key rotate r && grep -q "mode 0644" err && only r key &&
	ok "key rotate with an unsafe key: exit 1, nothing changed" ||
	fail "key rotate with an unsafe key"
chmod 0600 r/key
cp r/key k1
ino=$(stat -c %i r/key)
if run 0 "$CTL" --quiet key rotate r && cmp -s r/key.old k1 &&
    [ "$(stat -c %i r/key.old)" = "$ino" ] && is_key r/key &&
    ! cmp -s r/key k1 && only r key key.old; then
	ok "key rotate: key.old is the file key was, key a new key"
else
	fail "key rotate: key.old and key"
fi
remember r/key
cp r/key k2
"$CTL" --quiet key new r/key.next
remember r/key.next
cp r/key.next k3
if run 0 "$CTL" key rotate r && cmp -s r/key k3 && cmp -s r/key.old k2 &&
    only r key key.old && grep -q "key.next is the current key" out; then
	ok "key rotate with key.next: key.next promoted, key retired"
else
	fail "key rotate with key.next"
fi
cp r/key k4
cp r/key.old k5
run 1 "$CTL" key rotate --next r && grep -q "r: no key.next (--next)" err &&
    cmp -s r/key k4 && cmp -s r/key.old k5 && only r key key.old &&
	ok "key rotate --next without key.next: exit 1, nothing changed" ||
	fail "key rotate --next without key.next"
"$CTL" --quiet key new r/key.next
remember r/key.next
cp r/key.next k6
run 0 "$CTL" key rotate --next r && cmp -s r/key k6 && cmp -s r/key.old k4 &&
    only r key key.old && ok "key rotate --next: key.next promoted" ||
	fail "key rotate --next with key.next"
run 2 "$CTL" key new --next r/x && [ ! -e r/x ] &&
	ok "key new --next: exit 2" || fail "key new --next"
echo 0011 > r/key.next
chmod 0600 r/key.next
run 1 "$CTL" key rotate r && grep -q "key.next: not 64 hex digits" err &&
	cmp -s r/key k6 && ok "key rotate with a malformed key.next: exit 1" ||
	fail "key rotate with a malformed key.next"
rm r/key.next
ln -s key.old r/key.next
run 1 "$CTL" key rotate r && grep -q "symbolic link" err &&
	cmp -s r/key k6 && ok "key rotate with a linked key.next: exit 1" ||
	fail "key rotate with a linked key.next"
rm r/key.next

# Rotations at once in one directory take turns: each leaves a pair.
for _ in 1 2 3 4 5; do "$CTL" --quiet key rotate r & done
wait
if is_key r/key && is_key r/key.old && ! cmp -s r/key r/key.old &&
    only r key key.old; then
	ok "five rotations at once: a key, a retired key, nothing else"
else
	fail "five rotations at once: $(ls -A r | tr '\n' ' ')"
fi
remember r/key
remember r/key.old
run 0 "$CTL" key rotate r && ok "no key printed by rotate" ||
	fail "key rotate (final)"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
