/* crumb_form_read_body / crumb_form_read: each status (411, 400, 413,
 * 415), what is read and what is not, bodies that arrive in pieces,
 * NULs, the limit at 0 and at its edge, and CONTENT_LENGTH with a sign,
 * spaces or more digits than a size_t holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define FORM "application/x-www-form-urlencoded"

/* A body in memory, handed out at most chunk bytes a call; fail makes
 * the call at that offset an error, lie makes every call claim one
 * byte more than it was asked for. */
struct src {
	const char *data;
	size_t len, pos, chunk;
	size_t fail;            /* (size_t)-1: never */
	int lie;
	int calls;
};

static long
src_read(void *buf, size_t len, void *ud)
{
	struct src *s = ud;
	size_t n = s->len - s->pos;

	s->calls++;
	if (s->pos == s->fail)
		return -1;
	if (s->lie)
		return (long)len + 1;
	if (n > len)
		n = len;
	if (s->chunk != 0 && n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (long)n;
}

static struct src
src_of(const char *data, size_t len, size_t chunk)
{
	struct src s = { data, len, 0, chunk, (size_t)-1, 0, 0 };

	return s;
}

/* One call; checks its crumb_err, its status and that a failure leaves
 * *out NULL.  The form is returned (or NULL) for the caller to inspect. */
static crumb_form *
run(const char *ct, const char *cl, struct src *s, size_t limit, int want_rc,
    int want_status, int line)
{
	crumb_form *f = (crumb_form *)&f;
	int status = -1, rc;

	rc = crumb_form_read_body(ct, cl, src_read, s, limit, &f, &status);
	check_count++;
	if (rc != want_rc || status != want_status ||
	    (rc != CRUMB_OK && f != NULL) || (rc == CRUMB_OK && f == NULL)) {
		check_failures++;
		fprintf(stderr, "%s:%d: [%s] [%s]: rc %d (%s) status %d, "
		    "want rc %d status %d (form %p)\n", __FILE__, line,
		    ct ? ct : "(null)", cl ? cl : "(null)", rc,
		    crumb_strerror(rc), status, want_rc, want_status,
		    (void *)f);
	}
	return rc == CRUMB_OK ? f : NULL;
}
#define RUN(ct, cl, s, lim, rc, st) run((ct), (cl), (s), (lim), (rc), (st), \
	__LINE__)

/* A refusal that must happen before any byte is read. */
static void
refused_unread(const char *ct, const char *cl, size_t limit, int want_rc,
    int want_status, int line)
{
	struct src s = src_of("a=1", 3, 0);

	run(ct, cl, &s, limit, want_rc, want_status, line);
	check_count++;
	if (s.calls != 0) {
		check_failures++;
		fprintf(stderr, "%s:%d: [%s] [%s] read %d times, want none\n",
		    __FILE__, line, ct ? ct : "(null)", cl ? cl : "(null)",
		    s.calls);
	}
}
#define REFUSED(ct, cl, lim, rc, st) refused_unread((ct), (cl), (lim), \
	(rc), (st), __LINE__)

static void
test_ok(void)
{
	struct src s = src_of("a=1&b=x+y%21", 12, 0);
	crumb_form *f;

	TEST("a body read whole and parsed");
	f = RUN(FORM, "12", &s, 100, CRUMB_OK, 0);
	CHECK_STR(crumb_form_get(f, "a"), "1");
	CHECK_STR(crumb_form_get(f, "b"), "x y!");
	CHECK(s.pos == 12);
	crumb_form_free(f);
}

static void
test_chunks(void)
{
	static const char body[] = "name=alice&message=hello+world";
	size_t chunk;

	TEST("a body arriving in pieces of 1, 2 and 7 bytes");
	for (chunk = 1; chunk <= 7; chunk += chunk == 1 ? 1 : 5) {
		struct src s = src_of(body, sizeof(body) - 1, chunk);
		char cl[16];
		crumb_form *f;

		snprintf(cl, sizeof(cl), "%zu", sizeof(body) - 1);
		f = RUN(FORM, cl, &s, 1024, CRUMB_OK, 0);
		CHECK_STR(crumb_form_get(f, "name"), "alice");
		CHECK_STR(crumb_form_get(f, "message"), "hello world");
		CHECK(s.calls >= (int)((sizeof(body) - 1 + chunk - 1) / chunk));
		crumb_form_free(f);
	}
}

static void
test_reads_only_the_length(void)
{
	struct src s = src_of("a=1&b=2", 7, 0);
	crumb_form *f;

	TEST("only CONTENT_LENGTH bytes are read");
	f = RUN(FORM, "3", &s, 100, CRUMB_OK, 0);
	CHECK(s.pos == 3);
	CHECK_STR(crumb_form_get(f, "a"), "1");
	CHECK(crumb_form_get(f, "b") == NULL);
	crumb_form_free(f);
}

static void
test_411(void)
{
	TEST("411: no or empty CONTENT_LENGTH");
	REFUSED(FORM, NULL, 100, CRUMB_E_NOT_FOUND, 411);
	REFUSED(FORM, "", 100, CRUMB_E_NOT_FOUND, 411);
}

static void
test_400_length(void)
{
	static const char *bad[] = {
		"+3", "-3", " 3", "3 ", "3\t", "3\n", "0x3", "3.0", "3e0",
		"1 2", "abc", "３", "\xff",
		/* past SIZE_MAX (64 bits: 18446744073709551615) */
		"18446744073709551616", "99999999999999999999999999999999",
		"000000000000000000000000000000018446744073709551616",
	};
	size_t i;

	TEST("400: CONTENT_LENGTH with a sign, spaces, other characters, "
	    "or more than a size_t holds");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(FORM, bad[i], SIZE_MAX, CRUMB_E_PARSE, 400);
	if (SIZE_MAX == UINT64_MAX)
		REFUSED(FORM, "18446744073709551615", SIZE_MAX - 1,
		    CRUMB_E_TOO_LARGE, 413);
}

static void
test_413(void)
{
	struct src s = src_of("a=12", 4, 0);
	crumb_form *f;

	TEST("413: over the limit, nothing read; the limit itself is fine");
	REFUSED(FORM, "4", 3, CRUMB_E_TOO_LARGE, 413);
	REFUSED(FORM, "1000000000000", 65536, CRUMB_E_TOO_LARGE, 413);
	/* The length decides before the type is looked at. */
	REFUSED("text/plain", "4", 3, CRUMB_E_TOO_LARGE, 413);
	f = RUN(FORM, "4", &s, 4, CRUMB_OK, 0);
	CHECK_STR(crumb_form_get(f, "a"), "12");
	crumb_form_free(f);
	/* Leading zeros are still digits. */
	s = src_of("a=12", 4, 0);
	f = RUN(FORM, "0004", &s, 4, CRUMB_OK, 0);
	crumb_form_free(f);
}

static void
test_limit_0(void)
{
	struct src s = src_of("", 0, 0);
	crumb_form *f;

	TEST("limit 0: only an empty body");
	f = RUN(FORM, "0", &s, 0, CRUMB_OK, 0);
	CHECK(crumb_form_count(f) == 0);
	CHECK(s.calls == 0);
	crumb_form_free(f);
	REFUSED(FORM, "1", 0, CRUMB_E_TOO_LARGE, 413);
}

static void
test_415(void)
{
	static const char *bad[] = {
		"text/plain", "multipart/form-data; boundary=x",
		"application/json", "application/x-www-form-urlencodedx",
		"application/x-www-form-urlencoded2; charset=utf-8",
		"application/x-www-form", "",
		FORM "; charset=iso-8859-1", FORM "; charset=\"latin1\"",
		FORM "; charset=utf-8x", FORM "; charset=\"utf-8",
		FORM "; charset=", FORM "; =utf-8", FORM "; charset utf-8",
		FORM " x", FORM ", text/plain",
	};
	static const char *good[] = {
		FORM, "Application/X-WWW-Form-URLEncoded",
		FORM "; charset=UTF-8", FORM ";charset=utf-8",
		FORM " ; charset=\"UTF-8\" ", FORM "; foo=bar; charset=utf-8",
		FORM "; a=\"x;y\\\"z\"", FORM ";", FORM "\t",
	};
	size_t i;

	TEST("415: other content types and charsets; parameters allowed");
	REFUSED(NULL, "3", 100, CRUMB_E_TYPE, 415);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(bad[i], "3", 100, CRUMB_E_TYPE, 415);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct src s = src_of("a=1", 3, 0);
		crumb_form_free(RUN(good[i], "3", &s, 100, CRUMB_OK, 0));
	}
}

static void
test_400_body(void)
{
	struct src s;

	TEST("400: a short body, a read error, a NUL, a malformed form");
	s = src_of("a=1", 3, 0);
	RUN(FORM, "10", &s, 100, CRUMB_E_PARSE, 400);
	CHECK(s.pos == 3);
	s = src_of("a=1&b=2", 7, 2);
	s.fail = 4;
	RUN(FORM, "7", &s, 100, CRUMB_E_IO, 400);
	s = src_of("a=1\0b=2", 7, 0);
	RUN(FORM, "7", &s, 100, CRUMB_E_PARSE, 400);
	s = src_of("a=%zz", 5, 0);
	RUN(FORM, "5", &s, 100, CRUMB_E_PARSE, 400);
	s = src_of("a=%FF", 5, 0);
	RUN(FORM, "5", &s, 100, CRUMB_E_PARSE, 400);
}

static void
test_misuse(void)
{
	struct src s = src_of("a=1", 3, 0);
	crumb_form *f = NULL;
	int status = -1;

	TEST("NULL arguments and a read function that over-reports");
	CHECK_RC(crumb_form_read_body(FORM, "3", NULL, &s, 100, &f, &status),
	    CRUMB_E_INVAL);
	CHECK(status == 500 && f == NULL);
	CHECK_RC(crumb_form_read_body(FORM, "3", src_read, &s, 100, NULL,
	    &status), CRUMB_E_INVAL);
	CHECK_RC(crumb_form_read_body(FORM, "3", src_read, &s, 100, &f, NULL),
	    CRUMB_E_INVAL);
	CHECK(f == NULL && s.calls == 0);
	s.lie = 1;
	RUN(FORM, "3", &s, 100, CRUMB_E_INVAL, 500);
}

static void
test_env(void)
{
	struct src s = src_of("x=%C3%A9", 8, 3);
	crumb_form *f = NULL;
	int status = -1;

	TEST("crumb_form_read takes CONTENT_TYPE and CONTENT_LENGTH");
	setenv("CONTENT_TYPE", FORM "; charset=UTF-8", 1);
	setenv("CONTENT_LENGTH", "8", 1);
	CHECK_OK(crumb_form_read(src_read, &s, 100, &f, &status));
	CHECK(status == 0);
	CHECK_STR(crumb_form_get(f, "x"), "\xc3\xa9");
	crumb_form_free(f);
	unsetenv("CONTENT_LENGTH");
	s = src_of("x=1", 3, 0);
	CHECK_RC(crumb_form_read(src_read, &s, 100, &f, &status),
	    CRUMB_E_NOT_FOUND);
	CHECK(status == 411 && f == NULL);
	setenv("CONTENT_LENGTH", "3", 1);
	unsetenv("CONTENT_TYPE");
	CHECK_RC(crumb_form_read(src_read, &s, 100, &f, &status),
	    CRUMB_E_TYPE);
	CHECK(status == 415 && f == NULL);
}

int
main(void)
{
	test_ok();
	test_chunks();
	test_reads_only_the_length();
	test_411();
	test_400_length();
	test_413();
	test_limit_0();
	test_415();
	test_400_body();
	test_misuse();
	test_env();
	return CHECK_DONE();
}
