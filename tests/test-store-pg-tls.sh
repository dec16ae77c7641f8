#!/bin/bash
# The PostgreSQL store over TLS, as the README tells deployments on a
# network they do not trust to connect: sslmode=verify-full with
# sslrootcert= naming the CA, the password in a passfile rather than in
# the URL.  A private server (tests/pg-server.sh) with TLS on, accepting
# loopback TCP over TLS only, and a throwaway CA:
#   - the whole conformance suite passes over such a URL;
#   - the same URL with sslmode=disable is refused (so the suite really
#     ran over TLS);
#   - verify-full refuses a server whose certificate does not name the
#     host in the URL, and one signed by another CA;
#   - without the passfile the connection is refused;
#   - no error message holds the password.
# Run by "make check" when built with libpq.
set -u
prog="${top_builddir:-.}/tests/test-conformance"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crumb-pgtls.XXXXXX") || exit 1
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
for t in openssl; do
	command -v "$t" >/dev/null ||
	    { echo "FAIL: $t not installed (scripts/deps.sh)"; exit 1; }
done
# Nothing from the caller's environment reaches libpq.
unset PGPASSWORD PGPASSFILE PGSSLMODE PGSSLROOTCERT PGHOST PGPORT PGUSER
export HOME=$tmp

# shellcheck source=tests/pg-server.sh
. "${top_srcdir:-.}/tests/pg-server.sh"
crumb_pg_start >/dev/null || { echo "FAIL: no PostgreSQL server"; exit 1; }
crumb_pg_tls || { echo "FAIL: TLS could not be turned on"; exit 1; }

fails=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }

pass=$tmp/pgpass
printf 'localhost:%s:crumb:crumb:%s\n' "$PG_PORT" "$PG_PASSWORD" > "$pass"
chmod 0600 "$pass"
base="postgresql://crumb@localhost:$PG_PORT/crumb"
good="$base?sslmode=verify-full&sslrootcert=$PG_CA&passfile=$pass"

if "$prog" "$good" > "$tmp/good.out" 2>&1; then
	ok "the conformance suite passes over TLS (verify-full, passfile)"
else
	nok "the conformance suite passes over TLS (verify-full, passfile)"
	tail -n 20 "$tmp/good.out"
fi

# refused NAME URL PATTERN: the store does not open, and says why.
refused() {
	local out=$tmp/$1.out msg
	if "$prog" "$2" > "$out" 2>&1; then
		nok "$1: the store opened"
		return
	fi
	if grep -qiE "$3" "$out"; then
		ok "$1: refused ($(grep -m1 -oiE "$3" "$out"))"
	else
		nok "$1: refused, saying why ($3)"
		sed 's/^/#   /' "$out" | head -n 5
	fi
	# The reason crumb_store_open gave, after the URL the test printed.
	msg=$(grep -F "crumb_store_open($2): " "$out")
	msg=${msg#"crumb_store_open($2): "}
	if [ -z "$msg" ]; then
		nok "$1: crumb_store_open gave a reason"
	elif printf '%s' "$msg" | grep -qF "$PG_PASSWORD"; then
		nok "$1: the message holds the password"
	else
		ok "$1: the message does not hold the password"
	fi
}

refused no-tls "$base?sslmode=disable&passfile=$pass" \
    'no pg_hba.conf entry|SSL off|no encryption'
refused wrong-name \
    "postgresql://crumb@127.0.0.1:$PG_PORT/crumb?sslmode=verify-full&sslrootcert=$PG_CA&passfile=$pass" \
    'does not match host name|server certificate'
# Another CA, which did not sign the server's certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 2 -subj /CN=another-ca -keyout "$tmp/other.key" \
    -out "$tmp/other.pem" >/dev/null 2>&1
refused other-ca "$base?sslmode=verify-full&sslrootcert=$tmp/other.pem&passfile=$pass" \
    'certificate verify failed|certificate'
refused no-password "$base?sslmode=verify-full&sslrootcert=$PG_CA&passfile=$tmp/none" \
    'password'
# A password in the URL itself is not repeated either.
refused url-password \
    "postgresql://crumb:$PG_PASSWORD@127.0.0.1:$PG_PORT/crumb?sslmode=verify-full&sslrootcert=$PG_CA" \
    'does not match host name|server certificate'

if [ "$fails" -ne 0 ]; then
	echo "FAIL: $fails checks failed"
	exit 1
fi
echo "PASS"
