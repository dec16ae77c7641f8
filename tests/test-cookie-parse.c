/* Cookie header parsing through crumb_cookie_get: RFC 6265 cookie-string
 * edge cases, and hostile headers that must give a fresh session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static crumb_config *cfg;

/* crumb_cookie_get(name) on a session begun with header equals want
 * (NULL: CRUMB_E_NOT_FOUND). */
static void
expect(const char *header, const char *name, const char *want, int line)
{
	crumb_session *s = tbegin(cfg, header);
	const char *v = NULL;
	int rc = crumb_cookie_get(s, name, &v);

	check_count++;
	if (want == NULL ? rc != CRUMB_E_NOT_FOUND :
	    rc != CRUMB_OK || v == NULL || strcmp(v, want) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: header [%.60s] cookie %s: rc %d (%s) "
		    "value [%s], want [%s]\n", __FILE__, line, header ? header
		    : "(null)", name, rc, crumb_strerror(rc),
		    rc == CRUMB_OK && v ? v : "-", want ? want : "NOT_FOUND");
	}
	crumb_session_free(s);
}
#define EXPECT(h, n, w) expect((h), (n), (w), __LINE__)

static void
test_basic(void)
{
	TEST("basic pairs");
	EXPECT("a=1", "a", "1");
	EXPECT("a=1; b=2", "a", "1");
	EXPECT("a=1; b=2", "b", "2");
	EXPECT("a=1; b=2", "c", NULL);
	EXPECT("a=1;b=2", "b", "2");
	EXPECT("A=1", "a", NULL);           /* names are case-sensitive */
	EXPECT("a=1", "A", NULL);
	EXPECT("ab=1", "a", NULL);          /* no prefix match */
	EXPECT("a=1", "ab", NULL);
	EXPECT("xa=1; a=2", "a", "2");
	EXPECT("a=b=c", "a", "b=c");        /* value may hold '=' */
}

static void
test_whitespace(void)
{
	TEST("whitespace");
	EXPECT("  a=1", "a", "1");
	EXPECT("a=1  ", "a", "1");
	EXPECT("a=1 ;  b=2 ", "b", "2");
	EXPECT("a=1 ;  b=2 ", "a", "1");
	EXPECT("a = 1; b = 2", "a", "1");
	EXPECT("a = 1; b = 2", "b", "2");
	EXPECT("a=1;\tb=2", "b", "2");
	EXPECT(" ; ; a=1 ; ;", "a", "1");
}

static void
test_quoted(void)
{
	crumb_session *s;
	const char *v = NULL;

	TEST("quoted values");
	/* RFC 6265 allows DQUOTE cookie-octets DQUOTE.  Whether the quotes
	 * are kept is the parser's choice; the content must survive. */
	s = tbegin(cfg, "q=\"hello\"; b=2");
	CHECK_OK(crumb_cookie_get(s, "q", &v));
	CHECK(v != NULL && (strcmp(v, "hello") == 0 ||
	    strcmp(v, "\"hello\"") == 0));
	CHECK_OK(crumb_cookie_get(s, "b", &v));
	CHECK_STR(v, "2");
	crumb_session_free(s);
	/* A quoted value must not swallow the next cookie. */
	EXPECT("q=\"x\"; r=y", "r", "y");
	EXPECT("q=\"\"; r=y", "r", "y");
}

static void
test_many(void)
{
	char *hdr = malloc(100 * 24), *p = hdr;
	crumb_session *s;
	char name[16], want[16];
	const char *v;
	int i, bad = 0;

	REQUIRE(hdr != NULL);
	TEST("100 cookies");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "%sc%d=v%d", i ? "; " : "", i, i * 7);
	s = tbegin(cfg, hdr);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		snprintf(want, sizeof(want), "v%d", i * 7);
		v = NULL;
		if (crumb_cookie_get(s, name, &v) != CRUMB_OK || v == NULL ||
		    strcmp(v, want) != 0)
			bad++;
	}
	CHECK(bad == 0);
	/* Borrowed values stay valid for the session's life. */
	{
		const char *a = NULL, *b = NULL;

		CHECK_OK(crumb_cookie_get(s, "c1", &a));
		CHECK_OK(crumb_cookie_get(s, "c99", &b));
		CHECK_STR(a, "v7");
		CHECK_STR(b, "v693");
	}
	crumb_session_free(s);
	free(hdr);
}

static void
test_duplicates_empty_junk(void)
{
	TEST("duplicates, empty values, pairs without '='");
	EXPECT("a=1; a=2", "a", "1");
	EXPECT("a=1; b=x; a=2", "a", "1");
	EXPECT("a=; b=2", "a", "");
	EXPECT("a=; b=2", "b", "2");
	EXPECT("a=", "a", "");
	EXPECT("junk; a=1", "a", "1");
	EXPECT("a=1; junk", "a", "1");
	EXPECT("junk", "a", NULL);
	EXPECT("=x; a=1", "a", "1");
	EXPECT(";;;", "a", NULL);
	EXPECT("", "a", NULL);
	EXPECT("=", "a", NULL);
	EXPECT(NULL, "a", NULL);
}

/* Two Cookie lines joined by a server with ", ": a comma that comes
 * before "name=" separates pairs; other commas stay in the value. */
static void
test_joined(void)
{
	crumb_session *s;
	char *pair = NULL, hdr[512];
	const char *v;
	static const char *joined[] = {
		"theme=dark, %s", "%s, theme=dark", "flag, %s",
		"a=1; b=2, %s; c=3", "theme=dark,%s", "theme=dark ,\t%s",
	};
	size_t i;

	TEST("joined Cookie lines split at ', name='");
	EXPECT("a=1, b=2", "a", "1");
	EXPECT("a=1, b=2", "b", "2");
	EXPECT("a=1,b=2", "b", "2");
	EXPECT("a=1 ,  b=2", "a", "1");
	EXPECT("a=1 ,  b=2", "b", "2");
	EXPECT("a=1; b=2, c=3; d=4", "c", "3");
	EXPECT("a=1; b=2, c=3; d=4", "b", "2");
	EXPECT("a=1, b=", "b", "");
	EXPECT("a=1, =2", "a", "1, =2");

	TEST("a comma inside a value is kept");
	EXPECT("a=x, y", "a", "x, y");
	EXPECT("a=x,y", "a", "x,y");
	EXPECT("a=x, y; b=2", "a", "x, y");
	EXPECT("a=x, y z=1", "a", "x, y z=1");   /* "y z" is no token */
	EXPECT("a=x,", "a", "x,");
	EXPECT("a=,,,", "a", ",,,");
	EXPECT(",", "a", NULL);

	TEST("the session survives joined Cookie lines");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "k",
	    "kept"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL && strlen(pair) < 300);
	for (i = 0; i < sizeof(joined) / sizeof(*joined); i++) {
		snprintf(hdr, sizeof(hdr), joined[i], pair);
		s = tbegin(cfg, hdr);
		v = NULL;
		check_count++;
		if (crumb_session_is_new(s) ||
		    crumb_state_get_string(crumb_session_server(s), "k", &v) !=
		    CRUMB_OK || strcmp(v, "kept") != 0) {
			check_failures++;
			fprintf(stderr, "%s:%d: session lost in [%s]\n",
			    __FILE__, __LINE__, joined[i]);
		}
		crumb_session_free(s);
	}
	free(pair);
}

static void
test_bad_args(void)
{
	crumb_session *s = tbegin(cfg, "a=1");
	const char *v;

	TEST("bad arguments");
	CHECK_RC(crumb_cookie_get(s, NULL, &v), CRUMB_E_INVAL);
	CHECK_RC(crumb_cookie_get(NULL, "a", &v), CRUMB_E_INVAL);
	CHECK_RC(crumb_cookie_get(s, "a", NULL), CRUMB_E_INVAL);
	crumb_session_free(s);
}

/* A hostile header: begin succeeds, the session is fresh, nothing is
 * stored or emitted but what the handler asks for. */
static void
check_fresh(const char *hdr, const char *what)
{
	crumb_session *s = NULL;
	const char *v;
	int rc;

	TEST(what);
	rc = crumb_session_begin(cfg, hdr, &s);
	CHECK_OK(rc);
	if (rc != CRUMB_OK || s == NULL)
		return;
	CHECK(crumb_session_is_new(s));
	CHECK_RC(crumb_state_get_string(crumb_session_server(s), "k", &v),
	    CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_insert_string(crumb_session_server(s), "k",
	    "v"), CRUMB_OK);
	{
		char *h = NULL, *pair;

		CHECK_OK(crumb_session_finish_str(s, &h));
		pair = h ? tcookie_pair(h, "id") : NULL;
		CHECK(pair != NULL);
		free(pair);
		crumb_free(h);
	}
	crumb_session_free(s);
}

static void
test_hostile(void)
{
	size_t big = 64 * 1024, i;
	char *hdr = malloc(big + 64), *p;

	REQUIRE(hdr != NULL);
	/* One 64 KiB cookie value. */
	memcpy(hdr, "x=", 2);
	memset(hdr + 2, 'A', big);
	strcpy(hdr + 2 + big, "; id=AAAA");
	check_fresh(hdr, "64 KiB header");
	/* 64 KiB session cookie value. */
	memcpy(hdr, "id=", 3);
	memset(hdr + 3, 'B', big);
	hdr[3 + big] = '\0';
	check_fresh(hdr, "64 KiB session cookie");
	/* 64 KiB of separators and spaces. */
	for (i = 0; i < big; i++)
		hdr[i] = i % 2 ? ';' : ' ';
	hdr[big] = '\0';
	check_fresh(hdr, "64 KiB of separators");
	free(hdr);

	/* 5000 cookies, a bogus session cookie among them. */
	hdr = malloc(5000 * 16 + 32);
	REQUIRE(hdr != NULL);
	p = hdr;
	for (i = 0; i < 5000; i++) {
		p += sprintf(p, "c%zu=v; ", i);
		if (i == 2500)
			p += sprintf(p, "id=notavalidcookie; ");
	}
	*p = '\0';
	check_fresh(hdr, "5000 cookies");
	free(hdr);

	check_fresh("id=", "empty session cookie");
	check_fresh("id", "session cookie name without '='");
	check_fresh("id=\"\"", "quoted empty session cookie");
	check_fresh("id=%00%00", "escaped NULs");
	check_fresh("id=\x01\x02\x7f\xff\xfe", "control and high bytes");
	check_fresh("id=!!!!****", "non-base64 session cookie");
}

int
main(void)
{
	crumb_store *store = NULL;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, NULL, 0x11);
	test_basic();
	test_whitespace();
	test_quoted();
	test_many();
	test_duplicates_empty_junk();
	test_joined();
	test_bad_args();
	test_hostile();
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
