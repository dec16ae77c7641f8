/* What an outside user ran into: the form field limit counts only the
 * fields a body has (empty "&&" and a trailing '&' are not fields), a
 * write failure in finish after the record is stored, and a Cookie
 * header too long to be read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static size_t
parse_count(const char *body, int want_rc)
{
	crumb_form *f = NULL;
	size_t n;

	CHECK_RC(crumb_form_parse(body, strlen(body), &f), want_rc);
	n = crumb_form_count(f);
	crumb_form_free(f);
	return n;
}

static void
test_form_limit_counts_fields(void)
{
	size_t cap = (CRUMB_FORM_MAX_FIELDS + 2) * 16, i;
	char *body = malloc(cap), *p;

	REQUIRE(body != NULL);
	TEST("a trailing '&' after CRUMB_FORM_MAX_FIELDS fields is no field");
	p = body;
	for (i = 0; i < CRUMB_FORM_MAX_FIELDS; i++)
		p += sprintf(p, "f%zu=%zu&", i, i);
	CHECK(parse_count(body, CRUMB_OK) == CRUMB_FORM_MAX_FIELDS);

	TEST("empty fields between the last ones do not count either");
	p = body;
	for (i = 0; i + 1 < CRUMB_FORM_MAX_FIELDS; i++)
		p += sprintf(p, "f%zu=%zu&", i, i);
	sprintf(p, "&&&last=1");
	CHECK(parse_count(body, CRUMB_OK) == CRUMB_FORM_MAX_FIELDS);

	TEST("a body of only '&' has no fields");
	memset(body, '&', CRUMB_FORM_MAX_FIELDS + 10);
	body[CRUMB_FORM_MAX_FIELDS + 10] = '\0';
	CHECK(parse_count(body, CRUMB_OK) == 0);

	TEST("one real field over the limit is still refused");
	p = body;
	for (i = 0; i <= CRUMB_FORM_MAX_FIELDS; i++)
		p += sprintf(p, "%sf%zu=%zu", i ? "&" : "", i, i);
	parse_count(body, CRUMB_E_TOO_LARGE);
	free(body);
}

static int
fail_write(const char *buf, size_t len, void *ud)
{
	(void)buf;
	(void)len;
	(*(int *)ud)++;
	return -1;
}

static void
test_finish_write_failure(void)
{
	struct tclock clk = { T_START };
	crumb_store *store = NULL;
	struct tmap *map;
	crumb_config *cfg;
	crumb_session *s;
	char *pair = NULL;
	int calls = 0;
	double n = 0;

	TEST("finish stores first: a failed write is CRUMB_E_IO, the record stays");
	REQUIRE((map = tmap_store_new(&store)) != NULL);
	cfg = tcfg_new(store, &clk, 1);
	s = tbegin(cfg, "");
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 7));
	CHECK_RC(crumb_session_finish(s, fail_write, &calls), CRUMB_E_IO);
	CHECK(calls == 1);
	CHECK(tmap_records(map) == 1);
	CHECK_RC(crumb_session_finish(s, fail_write, &calls), CRUMB_E_STATE);
	crumb_session_free(s);

	TEST("state calls after finish are CRUMB_E_STATE");
	s = tbegin(cfg, "");
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_RC(tend(s, "id", NULL, &pair), CRUMB_OK);
	REQUIRE(pair != NULL);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &n));
	CHECK(n == 1);
	{
		char *h = NULL;

		CHECK_OK(crumb_session_finish_str(s, &h));
		crumb_free(h);
	}
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &n),
	    CRUMB_E_STATE);
	crumb_session_free(s);

	TEST("a Cookie header over 64 KiB is ignored whole: a fresh session");
	{
		size_t big = 64 * 1024 + 1, plen = strlen(pair);
		char *hdr = malloc(big + plen + 8);

		REQUIRE(hdr != NULL);
		sprintf(hdr, "%s; x=", pair);
		memset(hdr + plen + 4, 'a', big);
		hdr[plen + 4 + big] = '\0';
		s = tbegin(cfg, hdr);
		CHECK(crumb_session_is_new(s));
		crumb_session_free(s);
		hdr[plen + 4 + 1000] = '\0';   /* a long but readable one */
		s = tbegin(cfg, hdr);
		CHECK(!crumb_session_is_new(s));
		crumb_session_free(s);
		free(hdr);
	}
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

int
main(void)
{
	test_form_limit_counts_fields();
	test_finish_write_failure();
	return CHECK_DONE();
}
