/* crumb_form_parse: '+', %XX, bad escapes, NULs, invalid UTF-8, empty
 * fields, duplicates, the field limit, and the accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static crumb_form *
parse(const char *body)
{
	crumb_form *f = NULL;
	int rc = crumb_form_parse(body, strlen(body), &f);

	if (rc != CRUMB_OK)
		fprintf(stderr, "parse [%s]: %s\n", body, crumb_strerror(rc));
	CHECK_OK(rc);
	CHECK(f != NULL);
	return f;
}

/* name's first value in body equals want. */
static void
expect(const char *body, const char *name, const char *want, int line)
{
	crumb_form *f = parse(body);
	const char *v = f ? crumb_form_get(f, name) : NULL;

	check_count++;
	if (v == NULL || strcmp(v, want) != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: [%s] %s = [%s], want [%s]\n",
		    __FILE__, line, body, name, v ? v : "(null)", want);
	}
	crumb_form_free(f);
}
#define EXPECT(b, n, w) expect((b), (n), (w), __LINE__)

static void
reject(const char *body, size_t len, int want, int line)
{
	crumb_form *f = (crumb_form *)&f;   /* must be reset or untouched */
	crumb_form *keep = f;
	int rc = crumb_form_parse(body, len, &f);

	check_count++;
	if (rc != want) {
		check_failures++;
		fprintf(stderr, "%s:%d: [%.*s] gave %d (%s), want %d (%s)\n",
		    __FILE__, line, (int)len, body, rc, crumb_strerror(rc),
		    want, crumb_strerror(want));
	}
	if (rc == CRUMB_OK)
		crumb_form_free(f);
	else
		CHECK(f == NULL || f == keep);
}
#define REJECT(b) reject((b), strlen(b), CRUMB_E_PARSE, __LINE__)
/* More than CRUMB_FORM_MAX_FIELDS fields: its own error. */
#define TOO_MANY(b) reject((b), strlen(b), CRUMB_E_TOO_LARGE, __LINE__)

static void
test_decode(void)
{
	TEST("decoding");
	EXPECT("a=1&b=2", "a", "1");
	EXPECT("a=1&b=2", "b", "2");
	EXPECT("a=hello+world%21", "a", "hello world!");
	EXPECT("a=%41%4a%4A%7e", "a", "AJJ~");
	EXPECT("a=%2B+%25", "a", "+ %");
	EXPECT("a=%26%3D&b=2", "a", "&=");
	EXPECT("a%20b=c", "a b", "c");
	EXPECT("a+b=c", "a b", "c");
	EXPECT("k=caf%C3%A9", "k", "caf\xc3\xa9");
	EXPECT("k=\xc3\xa9t\xc3\xa9", "k", "\xc3\xa9t\xc3\xa9");
	EXPECT("k=%F0%9F%98%80", "k", "\xf0\x9f\x98\x80");
	EXPECT("k=a;b", "k", "a;b");
}

static void
test_reject(void)
{
	TEST("bad escapes");
	REJECT("a=%");
	REJECT("a=%4");
	REJECT("a=%zz");
	REJECT("a=%G0");
	REJECT("a=%0g");
	REJECT("a=1&b=%");
	REJECT("%=1");
	REJECT("a=% 1");
	TEST("NULs");
	REJECT("a=%00");
	REJECT("a%00=1");
	reject("a=x\0y", 5, CRUMB_E_PARSE, __LINE__);
	reject("a\0=1", 4, CRUMB_E_PARSE, __LINE__);
	TEST("invalid UTF-8");
	REJECT("a=%FF");
	REJECT("a=%C3");
	REJECT("a=%C3%28");
	REJECT("a=%C0%AF");         /* overlong '/' */
	REJECT("a=%E0%80%AF");      /* overlong */
	REJECT("a=%ED%A0%80");      /* surrogate */
	REJECT("a=%F4%90%80%80");   /* > U+10FFFF */
	REJECT("a=%F8%88%80%80%80");
	REJECT("a=\xff");
	REJECT("%FF=1");
	REJECT("a=\xc3");
}

static void
test_fields(void)
{
	crumb_form *f;
	const char *n, *v;

	TEST("empty fields and pairs without '='");
	f = parse("a=&b=2");
	CHECK_STR(crumb_form_get(f, "a"), "");
	CHECK_STR(crumb_form_get(f, "b"), "2");
	CHECK(crumb_form_count(f) == 2);
	crumb_form_free(f);
	f = parse("flag&b=2");
	CHECK_STR(crumb_form_get(f, "flag"), "");
	CHECK_STR(crumb_form_get(f, "b"), "2");
	crumb_form_free(f);
	f = parse("&&a=1&&");
	CHECK_STR(crumb_form_get(f, "a"), "1");
	CHECK(crumb_form_get(f, "") == NULL ||
	    strcmp(crumb_form_get(f, ""), "") == 0);
	crumb_form_free(f);
	f = parse("");
	CHECK(crumb_form_count(f) == 0);
	CHECK(crumb_form_get(f, "a") == NULL);
	CHECK_RC(crumb_form_field(f, 0, &n, &v), CRUMB_E_NOT_FOUND);
	crumb_form_free(f);
	f = NULL;
	{
		/* A NULL body of length 0: empty form or refused, no crash. */
		int rc = crumb_form_parse(NULL, 0, &f);

		CHECK(rc == CRUMB_OK || rc == CRUMB_E_INVAL);
		CHECK(rc != CRUMB_OK || (f != NULL &&
		    crumb_form_count(f) == 0));
	}
	crumb_form_free(f);

	TEST("duplicates keep order; get returns the first");
	f = parse("a=1&b=x&a=2");
	CHECK_STR(crumb_form_get(f, "a"), "1");
	CHECK(crumb_form_count(f) == 3);
	n = v = NULL;
	CHECK_OK(crumb_form_field(f, 0, &n, &v));
	CHECK_STR(n, "a");
	CHECK_STR(v, "1");
	CHECK_OK(crumb_form_field(f, 1, &n, &v));
	CHECK_STR(n, "b");
	CHECK_STR(v, "x");
	CHECK_OK(crumb_form_field(f, 2, &n, &v));
	CHECK_STR(n, "a");
	CHECK_STR(v, "2");
	CHECK_RC(crumb_form_field(f, 3, &n, &v), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_form_field(f, (size_t)-1, &n, &v), CRUMB_E_NOT_FOUND);
	CHECK(crumb_form_get(f, "A") == NULL);
	CHECK(crumb_form_get(f, "c") == NULL);
	CHECK(crumb_form_get(f, NULL) == NULL);
	crumb_form_free(f);

	TEST("len bounds the input");
	f = NULL;
	CHECK_OK(crumb_form_parse("a=1&b=2", 3, &f));
	CHECK(f != NULL && crumb_form_count(f) == 1);
	CHECK(f != NULL && crumb_form_get(f, "b") == NULL);
	crumb_form_free(f);
	f = NULL;
	CHECK_OK(crumb_form_parse("a=12345", 4, &f));
	CHECK(f != NULL);
	if (f != NULL)
		CHECK_STR(crumb_form_get(f, "a"), "12");
	crumb_form_free(f);

	TEST("bad arguments");
	CHECK_RC(crumb_form_parse("a=1", 3, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_form_parse(NULL, 3, &f), CRUMB_E_INVAL);
	crumb_form_free(NULL);
	CHECK(crumb_form_count(NULL) == 0);
	CHECK(crumb_form_get(NULL, "a") == NULL);
}

static void
test_limit(void)
{
	size_t cap = (CRUMB_FORM_MAX_FIELDS + 2) * 12, i;
	char *body = malloc(cap), *p;
	crumb_form *f;
	char name[16];

	REQUIRE(body != NULL);
	TEST("CRUMB_FORM_MAX_FIELDS fields pass, one more fails");
	p = body;
	for (i = 0; i < CRUMB_FORM_MAX_FIELDS; i++)
		p += sprintf(p, "%sf%zu=%zu", i ? "&" : "", i, i);
	f = parse(body);
	CHECK(f != NULL && crumb_form_count(f) == CRUMB_FORM_MAX_FIELDS);
	snprintf(name, sizeof(name), "f%d", CRUMB_FORM_MAX_FIELDS - 1);
	CHECK(f != NULL && crumb_form_get(f, name) != NULL);
	crumb_form_free(f);
	sprintf(p, "&f%d=x", CRUMB_FORM_MAX_FIELDS);
	TOO_MANY(body);
	/* Many more. */
	free(body);
	body = malloc(100000 * 4 + 1);
	REQUIRE(body != NULL);
	for (i = 0, p = body; i < 100000; i++)
		p += sprintf(p, "a=&");
	TOO_MANY(body);
	free(body);
}

int
main(void)
{
	test_decode();
	test_reject();
	test_fields();
	test_limit();
	return CHECK_DONE();
}
