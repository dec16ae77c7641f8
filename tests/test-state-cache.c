/*
 * Parsed server states kept across requests (lib/state-cache.c): a
 * cached tree is never stale, never changed by a session that changes
 * its state, and values read from it stay valid for the session's life.
 * Two configs on one store stand for two FastCGI workers.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

static void
set_num(crumb_config *cfg, const char *pair, const char *key, double v)
{
	crumb_session *s = tbegin(cfg, pair);

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), key, v));
	CHECK_OK(tend(s, "id", NULL, NULL));
}

int
main(void)
{
	crumb_store *store;
	crumb_config *a, *b;
	crumb_session *s, *t;
	const char *str, *str2;
	char *pair = NULL, *pair2 = NULL;
	double d;
	int i;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	a = tcfg_new(store, &clk, 0x53);
	b = tcfg_new(store, &clk, 0x53);
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "name",
	    "ada"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("repeated reads see the stored value");
	for (i = 0; i < 5; i++)
		CHECK(tread_number(a, pair, "n") == 1);

	TEST("a write by another worker is seen at once (never stale)");
	set_num(b, pair, "n", 2);
	CHECK(tread_number(a, pair, "n") == 2);
	set_num(b, pair, "n", 3);
	CHECK(tread_number(a, pair, "n") == 3);
	CHECK(tread_number(b, pair, "n") == 3);

	TEST("a change that is not written leaves the cached tree alone");
	s = tbegin(a, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 3);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 99));
	CHECK_OK(crumb_state_remove_raw(crumb_session_server(s), "name"));
	crumb_session_free(s);          /* dropped, never finished */
	CHECK(tread_number(a, pair, "n") == 3);
	s = tbegin(a, pair);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "name", &str));
	CHECK_STR(str, "ada");
	crumb_session_free(s);

	TEST("values read before a change stay valid (ASan, valgrind)");
	s = tbegin(a, pair);
	t = tbegin(a, pair);            /* shares the same tree */
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "name", &str));
	CHECK_OK(crumb_state_get_string(crumb_session_server(t), "name",
	    &str2));
	CHECK(str == str2);             /* one tree, one string */
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 4));
	CHECK_OK(crumb_state_clear(crumb_session_server(t)));
	CHECK_OK(tend(t, "id", NULL, NULL));   /* the record is now {} */
	/* Another record fills the cache slots meanwhile. */
	for (i = 0; i < 50; i++) {
		crumb_session *o = tbegin(a, NULL);
		char *p = NULL;

		CHECK_OK(crumb_state_insert_number(crumb_session_server(o),
		    "i", i));
		CHECK_OK(tend(o, "id", NULL, &p));
		CHECK(tread_number(a, p, "i") == i);
		free(p);
	}
	/* This read replaces the cache's tree: s's reference keeps it. */
	CHECK(tread_number(a, pair, "n") == -1);
	CHECK_STR(str, "ada");
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 4);
	crumb_session_free(s);
	CHECK(tread_number(a, pair, "n") == -1);         /* t's clear won */
	CHECK(tread_number(b, pair, "n") == -1);

	TEST("two records with the same text are two entries");
	set_num(a, pair, "n", 7);
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 7));
	CHECK_OK(tend(s, "id", NULL, &pair2));
	CHECK(tread_number(a, pair, "n") == 7 && tread_number(a, pair2, "n") == 7);
	set_num(a, pair2, "n", 8);
	CHECK(tread_number(a, pair, "n") == 7);
	CHECK(tread_number(a, pair2, "n") == 8);

	TEST("delete after a cached read");
	s = tbegin(a, pair);
	CHECK(crumb_state_get_number(crumb_session_server(s), "n", &d) ==
	    CRUMB_OK && d == 7);
	CHECK_OK(crumb_session_delete(s));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tread_number(a, pair, "n") == -1);
	CHECK(tread_number(a, pair2, "n") == 8);

	free(pair);
	free(pair2);
	crumb_config_free(a);
	crumb_config_free(b);
	crumb_store_free(store);
	return CHECK_DONE();
}
