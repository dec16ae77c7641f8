#!/bin/bash
# Build the libFuzzer targets (clang, ASan + UBSan) and run each one.
#
#   scripts/fuzz.sh [SECONDS]     # default 20 s per target; 600 for a longer run
#
# Targets and seed corpora are in tests/fuzz/.  New inputs found go to
# build/fuzz/corpus/<target>/ (the seeds stay untouched); a crash stops the
# run with its input saved in build/fuzz/ — copy it into
# tests/fuzz/seeds/<target>/ so it stays a regression test.
# -h or --help prints the usage; anything but one number exits with 2.
set -euo pipefail

usage() {
	echo "usage: scripts/fuzz.sh [SECONDS]   (per target, default 20)"
}
case ${1:-} in
-h|--help) usage; exit 0 ;;
*[!0-9]*) echo "fuzz.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
if [ $# -gt 1 ]; then
	echo "fuzz.sh: unknown argument: $2" >&2
	usage >&2
	exit 2
fi
TOP=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-20}
OUT=$TOP/build/fuzz
mkdir -p "$OUT"

SCHEMA=$OUT/sqlite-schema.h
{ echo 'static const char crumb_sqlite_schema[] ='
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' \
      "$TOP/sql/sqlite-store.sql"
  echo ';'; } > "$SCHEMA"

FLAGS=(-g -O1 -pthread -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$TOP/lib" -I"$OUT" $(pkg-config --cflags libcjson sqlite3 libgcrypt))
LIBS=($(pkg-config --libs libcjson sqlite3 libgcrypt))
LIBSRC=$(ls "$TOP"/lib/*.c | grep -v keygen.c)

# The library once for the four targets (fuzzer-no-link: instrumented
# for coverage, libFuzzer's main linked into each target only), as many
# files at a time as there are cores.
echo "== the library: building"
OBJ=$OUT/obj
mkdir -p "$OBJ"
LIBOBJ=()
fail=0
for src in $LIBSRC; do
	o=$OBJ/$(basename "${src%.c}").o
	LIBOBJ+=("$o")
	clang "${FLAGS[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" \
	    -c -o "$o" "$src" &
	while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do
		wait -n || fail=1
	done
done
while [ -n "$(jobs -rp)" ]; do
	wait -n || fail=1
done
if [ "$fail" -ne 0 ]; then
	echo "fuzz: the library did not build"
	exit 1
fi

for target in cookie-header cookie-value form body; do
	echo "== fuzz-$target: building"
	clang "${FLAGS[@]}" -o "$OUT/fuzz-$target" \
	    "$TOP/tests/fuzz/fuzz-$target.c" "${LIBOBJ[@]}" "${LIBS[@]}"
	mkdir -p "$OUT/corpus/$target"
	echo "== fuzz-$target: running ${SECS}s"
	rc=0
	(cd "$OUT" && ./"fuzz-$target" -max_total_time="$SECS" -max_len=8192 \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    "corpus/$target" "$TOP/tests/fuzz/seeds/$target") \
	    > "$OUT/fuzz-$target.log" 2>&1 || rc=$?
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' \
	    "$OUT/fuzz-$target.log" || true
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$OUT/fuzz-$target.log"
		echo "fuzz-$target FAILED (exit $rc)"
		exit 1
	fi
done
echo "fuzzing: no crash"
