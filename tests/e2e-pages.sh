#!/bin/bash
# The guestbook's front page stays bounded however many entries there
# are: the real stack (scripts/stack.sh, FastCGI) with 10,000 entries of
# 200 characters put straight into guestbook.db, then two posted through
# the guestbook.  Checks: GET / shows the newest 50 (the two posts
# first) and links to /?page=2; page 2 shows the next 50 and links back;
# the last page has the rest and no older link; a page past the end is
# 404, a malformed page number 400; the front page's size and median
# time (20 requests) are printed, and the size is bounded (under 64 KiB,
# where all entries would be over 2 MB).
#
#   tests/e2e-pages.sh [BUILD_DIR]  (default: $top_builddir, else .)
#
# Prints one TAP line per check; exits non-zero when one fails, 77 when
# a program is missing.
# check passes single-quoted expressions to eval (SC2016); start_stack
# takes optional arguments (SC2119).
# shellcheck disable=SC2016,SC2119
set -u
# shellcheck source=tests/stack-lib.sh
. "$(dirname "$0")/stack-lib.sh"
need apache2 spawn-fcgi multiwatch curl ss sqlite3

ENTRIES=10000
entries() { grep -c 'class="entry"' "$W/b"; }
older() { grep -o 'id="older" rel="next" href="[^"]*"' "$W/b" | sed 's/.*href="//; s/"$//'; }
newer() { grep -o 'id="newer" href="[^"]*"' "$W/b" | sed 's/.*href="//; s/"$//'; }

T0=$SECONDS
if ! start_stack --workers 2; then
	echo "not ok 1 - the stack starts"
	exit 1
fi
ok "the stack starts"

# 10,000 old entries, one transaction, as the workers' user.
as_owner sqlite3 "$STATE/guestbook.db" "PRAGMA busy_timeout=5000;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
        WHERE i < $ENTRIES)
    INSERT INTO entries(author, message, created)
    SELECT 'old' || i, 'entry ' || i || ' ' || substr(hex(zeroblob(100)),
        1, 190), 1700000000 + i FROM n;" > /dev/null
check "$ENTRIES entries in guestbook.db" eval '[ "$(as_owner sqlite3 \
    "$STATE/guestbook.db" "SELECT count(*) FROM entries")" = "$ENTRIES" ]'

J=$W/jar
http "$J" -d 'name=pager' "$BASE/login"
http "$J" "$BASE/"
for m in "first new post" "second new post"; do
	token=$(csrf_of_page)
	http "$J" -d "csrf=$token" --data-urlencode "message=$m" "$BASE/post"
	http "$J" "$BASE/"
done
check "two entries posted through the guestbook" \
    eval '[ "$CODE" = 200 ] && has_body "second new post"'

http "" "$BASE/"
check "GET / is 200" eval '[ "$CODE" = 200 ]'
check "GET / shows 50 entries ($(entries))" eval '[ "$(entries)" = 50 ]'
check "GET / starts with the newest (the two posts)" \
    eval '[ "$(grep -o "second new post\|first new post" "$W/b" | head -n 2 |
        tr "\n" ,)" = "second new post,first new post," ]'
check "GET / links to the older entries (/?page=2)" \
    eval '[ "$(older)" = "/?page=2" ] && [ -z "$(newer)" ]'
SIZE=$(wc -c < "$W/b")
check "GET / is under 64 KiB ($SIZE bytes) with $((ENTRIES + 2)) entries" \
    eval '[ "$SIZE" -lt 65536 ]'
for _ in $(seq 1 20); do
	curl -s -o /dev/null -w '%{time_total}\n' "$BASE/"
done | sort -n > "$W/times"
echo "# GET / with $((ENTRIES + 2)) entries: $SIZE bytes, median" \
    "$(sed -n 10p "$W/times") s, worst $(tail -n 1 "$W/times") s (20 requests)"

http "" "$BASE/?page=2"
check "page 2 shows the next 50, oldest of the new first-page ones after" \
    eval '[ "$CODE" = 200 ] && [ "$(entries)" = 50 ] &&
          has_body "old$((ENTRIES - 48))<" && has_body "old$((ENTRIES - 97))<" &&
          ! has_body "old$((ENTRIES - 47))<" && ! has_body "old$((ENTRIES - 98))<"'
check "page 2 links to / and to page 3" \
    eval '[ "$(newer)" = "/" ] && [ "$(older)" = "/?page=3" ]'
LAST=$(( (ENTRIES + 2 + 49) / 50 ))
http "" "$BASE/?page=$LAST"
check "the last page ($LAST) has the rest ($(( (ENTRIES + 2) - (LAST - 1) * 50 ))) and no older link" \
    eval '[ "$CODE" = 200 ] && [ "$(entries)" = "$(( (ENTRIES + 2) - (LAST - 1) * 50 ))" ] &&
          has_body "old1<" && [ -z "$(older)" ] &&
          [ "$(newer)" = "/?page=$((LAST - 1))" ]'
http "" "$BASE/?page=$((LAST + 1))"
check "a page past the end is 404" eval '[ "$CODE" = 404 ]'
for q in page=0 page=abc page= page=1000001 page=02 'page=1%00'; do
	http "" "$BASE/?$q"
	check "GET /?$q is 400 ($CODE)" eval '[ "$CODE" = 400 ]'
done
http "" "$BASE/?utm_source=x"
check "another parameter is the front page" \
    eval '[ "$CODE" = 200 ] && [ "$(entries)" = 50 ]'
stop_stack
echo "# $((SECONDS - T0)) s"
finish
