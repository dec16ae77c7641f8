/* Small helpers: crumb_html_escape, crumb_utf8_valid, crumb_ct_equal,
 * crumb_strerror, crumb_version, crumb_free and the *_free(NULL) rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Undo the escapes crumb_html_escape may produce; NULL when out holds a
 * raw special character or an unknown entity. */
static char *
unescape(const char *out)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&#34;", '"' }, { "&#x22;", '"' },
		{ "&#39;", '\'' }, { "&#x27;", '\'' }, { "&apos;", '\'' },
	};
	char *r = malloc(strlen(out) + 1), *q = r;
	size_t i;

	REQUIRE(r != NULL);
	while (*out != '\0') {
		if (strchr("<>\"'", *out) != NULL) {
			free(r);
			return NULL;
		}
		if (*out != '&') {
			*q++ = *out++;
			continue;
		}
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
			if (strncmp(out, ents[i].ent, strlen(ents[i].ent)) ==
			    0)
				break;
		if (i == sizeof(ents) / sizeof(ents[0])) {
			free(r);
			return NULL;
		}
		*q++ = ents[i].c;
		out += strlen(ents[i].ent);
	}
	*q = '\0';
	return r;
}

static void
escape_ok(const char *in, int line)
{
	char *out = NULL, *back;
	int rc = crumb_html_escape(in, &out);

	check_count++;
	back = rc == CRUMB_OK && out != NULL ? unescape(out) : NULL;
	if (back == NULL || strcmp(back, in) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: escape [%s] -> [%s] rc %d\n",
		    __FILE__, line, in, out ? out : "(null)", rc);
	}
	free(back);
	crumb_free(out);
}

static void
test_escape(void)
{
	char *out = NULL;

	TEST("crumb_html_escape");
	CHECK_OK(crumb_html_escape("<a href=\"x\">'&'</a>", &out));
	CHECK(out != NULL && strncmp(out, "&lt;a href=&quot;x&quot;&gt;",
	    28) == 0);
	crumb_free(out);
	escape_ok("<script>alert('x')</script>", __LINE__);
	escape_ok("&amp; already", __LINE__);
	escape_ok("plain text, caf\xc3\xa9", __LINE__);
	escape_ok("", __LINE__);
	escape_ok("\"\"''<<>>&&", __LINE__);
	out = NULL;
	CHECK_OK(crumb_html_escape("plain", &out));
	CHECK_STR(out, "plain");
	crumb_free(out);
	CHECK_RC(crumb_html_escape(NULL, &out), CRUMB_E_INVAL);
	CHECK_RC(crumb_html_escape("x", NULL), CRUMB_E_INVAL);
}

static void
test_utf8(void)
{
	TEST("crumb_utf8_valid");
	CHECK(crumb_utf8_valid("", 0));
	CHECK(crumb_utf8_valid("hello", 5));
	CHECK(crumb_utf8_valid("caf\xc3\xa9", 5));
	CHECK(crumb_utf8_valid("\xe2\x82\xac", 3));           /* € */
	CHECK(crumb_utf8_valid("\xf0\x9f\x98\x80", 4));       /* emoji */
	CHECK(crumb_utf8_valid("\xf4\x8f\xbf\xbf", 4));       /* U+10FFFF */
	CHECK(crumb_utf8_valid("\xed\x9f\xbf", 3));           /* U+D7FF */
	CHECK(crumb_utf8_valid("\xee\x80\x80", 3));           /* U+E000 */
	CHECK(crumb_utf8_valid("abc\xff", 3));                /* len bounds */
	CHECK(!crumb_utf8_valid("a\0b", 3));
	CHECK(!crumb_utf8_valid("\xff", 1));
	CHECK(!crumb_utf8_valid("\xfe", 1));
	CHECK(!crumb_utf8_valid("\x80", 1));
	CHECK(!crumb_utf8_valid("\xc3", 1));
	CHECK(!crumb_utf8_valid("caf\xc3\xa9", 4));           /* cut in half */
	CHECK(!crumb_utf8_valid("\xc3\x28", 2));
	CHECK(!crumb_utf8_valid("\xc0\xaf", 2));              /* overlong */
	CHECK(!crumb_utf8_valid("\xc1\xbf", 2));
	CHECK(!crumb_utf8_valid("\xe0\x80\xaf", 3));
	CHECK(!crumb_utf8_valid("\xf0\x80\x80\xaf", 4));
	CHECK(!crumb_utf8_valid("\xed\xa0\x80", 3));          /* surrogate */
	CHECK(!crumb_utf8_valid("\xed\xbf\xbf", 3));
	CHECK(!crumb_utf8_valid("\xf4\x90\x80\x80", 4));      /* > U+10FFFF */
	CHECK(!crumb_utf8_valid("\xf5\x80\x80\x80", 4));
	CHECK(!crumb_utf8_valid("\xe2\x82", 2));
	CHECK(!crumb_utf8_valid("\xe2\x28\xac", 3));
}

static void
test_ct_equal(void)
{
	TEST("crumb_ct_equal");
	CHECK(crumb_ct_equal("abc", 3, "abc", 3));
	CHECK(!crumb_ct_equal("abc", 3, "abd", 3));
	CHECK(!crumb_ct_equal("abc", 3, "xbc", 3));
	CHECK(!crumb_ct_equal("abc", 3, "abcd", 4));
	CHECK(!crumb_ct_equal("abcd", 4, "abc", 3));
	CHECK(!crumb_ct_equal("abc", 3, "", 0));
	CHECK(crumb_ct_equal("", 0, "", 0));
	CHECK(crumb_ct_equal("a\0b", 3, "a\0b", 3));
	CHECK(!crumb_ct_equal("a\0b", 3, "a\0c", 3));
	CHECK(crumb_ct_equal("abcX", 3, "abcY", 3));
}

static void
test_strerror(void)
{
	int i, j, bad = 0;

	TEST("crumb_strerror: every code has its own text");
	for (i = CRUMB_OK; i <= CRUMB_E_NOKEY; i++) {
		const char *a = crumb_strerror(i);

		if (a == NULL || *a == '\0') {
			fprintf(stderr, "code %d: no text\n", i);
			bad++;
			continue;
		}
		for (j = CRUMB_OK; j < i; j++) {
			const char *b = crumb_strerror(j);

			if (b != NULL && strcmp(a, b) == 0) {
				fprintf(stderr, "codes %d and %d share "
				    "\"%s\"\n", j, i, a);
				bad++;
			}
		}
	}
	CHECK(bad == 0);
	CHECK(CRUMB_E_NOKEY == 18);   /* never renumbered */
	CHECK(crumb_strerror(-1) != NULL);
	CHECK(crumb_strerror(CRUMB_E_NOKEY + 1) != NULL);
	CHECK(crumb_strerror(100000) != NULL);
	CHECK(crumb_strerror(7) != NULL && crumb_strerror(-1) != NULL &&
	    strcmp(crumb_strerror(-1), crumb_strerror(CRUMB_E_NOMEM)) != 0);
}

int
main(void)
{
	TEST("crumb_version");
	CHECK_STR(crumb_version(), CRUMB_VERSION_STRING);
	TEST("free NULL");
	crumb_free(NULL);
	crumb_session_free(NULL);
	crumb_config_free(NULL);
	crumb_store_free(NULL);
	crumb_form_free(NULL);
	test_escape();
	test_utf8();
	test_ct_equal();
	test_strerror();
	return CHECK_DONE();
}
