/* Lazy loading: a counting store proves that requests which never touch
 * the server state do no store I/O, that the state is loaded once, and
 * that an equal-value insert writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static crumb_store *store;
static struct tmap *map;
static crumb_config *cfg;

static void
dump(const char *what)
{
	const struct tcounts *c = tmap_counts(map);

	if (tmap_total(map) != 0)
		fprintf(stderr, "%s: create %u load %u update %u touch %u "
		    "remove %u change_id %u\n", what, c->create, c->load,
		    c->update, c->touch, c->remove, c->change_id);
}

int
main(void)
{
	crumb_session *s;
	char *pair = NULL, *h = NULL;
	const char *v;
	double d;
	size_t n;

	map = tmap_store_new(&store);
	cfg = tcfg_new(store, &clk, 0x61);
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST,
	    3600));

	TEST("no cookie, no session use: zero store calls");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK(crumb_session_is_new(s));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_total(map) == 0);
	dump("no cookie");
	CHECK(h != NULL && *h == '\0');
	free(h);

	/* A stored session. */
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c",
	    "x"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("valid cookie, session untouched: zero store calls");
	tmap_reset(map);
	clk.now = T_START + 10;
	s = tbegin(cfg, pair);
	CHECK(!crumb_session_is_new(s));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_total(map) == 0);
	dump("untouched");
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	free(h);

	TEST("client state and other cookies only: zero store calls");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_string(crumb_session_client(s), "c", &v));
	CHECK_STR(v, "x");
	CHECK_RC(crumb_cookie_get(s, "nope", &v), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_cookie_set(s, "pref", "1", -1, NULL, NULL, 0));
	(void)crumb_session_is_modified(s);
	(void)crumb_session_status(s);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_total(map) == 0);
	dump("client only");

	/* The re-issued cookie keeps its expiry, so the record needs no
	 * touch: client state never goes to the store. */
	TEST("client-state change: a cookie, zero store calls");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c",
	    "y"));
	{
		char *np = NULL;

		CHECK_OK(tend(s, "id", NULL, &np));
		CHECK(np != NULL);
		free(np);
	}
	CHECK(tmap_total(map) == 0);

	TEST("server state loaded once, on first use");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK(tmap_total(map) == 0);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(tmap_counts(map)->load == 1);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK_OK(crumb_state_len(crumb_session_server(s), &n));
	CHECK(tmap_counts(map)->load == 1);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->load == 1);
	CHECK(tmap_counts(map)->update == 0 && tmap_counts(map)->touch == 0);

	TEST("equal-value insert: no update");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK(!crumb_session_is_modified(s));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_counts(map)->update == 0);
	CHECK(tmap_counts(map)->create == 0);
	CHECK(tmap_counts(map)->touch == 0);
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	free(h);

	TEST("a real change: exactly one update");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 2));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "m", 3));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->update == 1);
	CHECK(tmap_counts(map)->create == 0);

	TEST("a new visitor's first insert: one create, no load");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->create == 1);
	CHECK(tmap_counts(map)->load == 0);
	CHECK(tmap_counts(map)->update == 0);

	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
