#!/bin/sh
# The library's ABI, written down in places that must agree:
#   lib/crumb.h                 the public functions it declares;
#   lib/libcrumb.sym            the exported-symbols list the library is
#                               linked with (one name per line, sorted);
#   lib/.libs/libcrumb.so       what the built library exports (nm -D),
#                               and its soname;
#   debian/libcrumbN.symbols    what the Debian package libcrumbN
#                               promises, N the soname's number (when
#                               the tree has debian/).
# A function declared in crumb.h but not listed, listed but not
# exported, or exported but not listed fails, and the difference is
# printed ("-" only in the first, "+" only in the second).
# The library part is skipped when no shared library was built.
src=${top_srcdir:-.}
lib="${top_builddir:-.}/lib/.libs/libcrumb.so"
hdr=$src/lib/crumb.h
list=$src/lib/libcrumb.sym
debsyms=
for f in "$src"/debian/libcrumb*.symbols; do
	[ -f "$f" ] && debsyms=$f
done
fails=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crumb-symbols.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# same WHAT A-NAME A-FILE B-NAME B-FILE: the two sorted lists are equal.
same() {
	if cmp -s "$3" "$5"; then
		echo "ok: $1"
	else
		echo "FAIL: $1: '-' only in $2, '+' only in $4:"
		diff "$3" "$5" | sed -n 's/^< /  - /p; s/^> /  + /p'
		fails=$((fails + 1))
	fi
}

[ -f "$list" ] || { echo "FAIL: no $list"; exit 1; }
LC_ALL=C sort -u "$list" > "$tmp/list"
if ! cmp -s "$list" "$tmp/list"; then
	echo "FAIL: $list is not sorted (LC_ALL=C sort -u) or repeats a name"
	fails=$((fails + 1))
fi
bad=$(grep -v '^crumb_[a-z0-9_]*$' "$tmp/list")
if [ -n "$bad" ]; then
	echo "FAIL: names in $list that are not crumb_ functions:"
	printf '%s\n' "$bad" | sed 's/^/  /'
	fails=$((fails + 1))
fi

# Prototypes in crumb.h start at the line's first column with their
# return type: "int crumb_foo(...".
sed -n 's/^[a-z].*[ *]\(crumb_[a-z0-9_]*\)(.*/\1/p' "$hdr" |
    LC_ALL=C sort -u > "$tmp/header"
if [ ! -s "$tmp/header" ]; then
	echo "FAIL: no function found in $hdr"
	exit 1
fi
same "crumb.h declares the listed functions" \
    crumb.h "$tmp/header" lib/libcrumb.sym "$tmp/list"

if [ -n "$debsyms" ]; then
	sed -n 's/^ \([a-z0-9_]*\)@Base .*/\1/p' "$debsyms" |
	    LC_ALL=C sort > "$tmp/deb"
	same "the Debian symbols file has the listed functions" \
	    lib/libcrumb.sym "$tmp/list" "debian/${debsyms##*/}" "$tmp/deb"
fi

if [ ! -f "$lib" ]; then
	echo "no $lib: library checks skipped"
elif ! command -v nm >/dev/null 2>&1; then
	echo "no nm: library checks skipped"
else
	nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' |
	    LC_ALL=C sort > "$tmp/lib"
	same "libcrumb.so exports the listed functions and nothing else" \
	    lib/libcrumb.sym "$tmp/list" libcrumb.so "$tmp/lib"
	# The soname names the Debian package: libcrumb.so.N in libcrumbN.
	soname=$(objdump -p "$lib" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
	if [ -n "$debsyms" ] && [ -n "$soname" ]; then
		n=${soname#libcrumb.so.}
		want="$soname libcrumb$n #MINVER#"
		if [ "${debsyms##*/}" = "libcrumb$n.symbols" ] &&
		    [ "$(sed -n 1p "$debsyms")" = "$want" ]; then
			echo "ok: soname $soname is the package libcrumb$n's"
		else
			echo "FAIL: soname $soname: want debian/libcrumb$n.symbols" \
			    "beginning '$want', have debian/${debsyms##*/}" \
			    "beginning '$(sed -n 1p "$debsyms")' (the package" \
			    "is named after the soname: debian/control too)"
			fails=$((fails + 1))
		fi
	fi
fi
if [ "$fails" -ne 0 ]; then
	echo "A new public function is declared in crumb.h (marked CRUMB_API"
	echo "where it is defined), listed in lib/libcrumb.sym (LC_ALL=C sort)"
	echo "and in debian/libcrumb0.symbols as ' NAME@Base VERSION', VERSION"
	echo "the first package version that has it; configure.ac says how"
	echo "CRUMB_LT_VERSION changes with it."
	exit 1
fi
echo "ok: $(wc -l < "$tmp/list") symbols agree"
