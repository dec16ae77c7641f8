/* A failed store call answers for the rest of the request: later calls
 * that need the server state return it, and finish returns it and
 * writes nothing (no record, no Set-Cookie), even when the store has
 * recovered in between.  An atomic fn's abort is not a store failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

struct sink {
	unsigned calls;
};

static int
count_write(const char *buf, size_t len, void *ud)
{
	(void)buf;
	(void)len;
	((struct sink *)ud)->calls++;
	return 0;
}

static int
bump(crumb_session *s, void *ud)
{
	(void)ud;
	return crumb_state_insert_number(crumb_session_server(s), "n", 5);
}

static int
abort_fn(crumb_session *s, void *ud)
{
	(void)ud;
	crumb_state_insert_number(crumb_session_server(s), "n", -1);
	return 7;
}

int
main(void)
{
	crumb_store *store;
	struct tmap *map = tmap_store_new(&store);
	crumb_config *cfg = tcfg_new(store, &clk, 0x3C);
	crumb_session *s;
	crumb_state *sv;
	struct sink sink = { 0 };
	char *pair = NULL;
	const char *u;
	double d;

	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_set_user(s, "carol"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("a failed load is returned by every later server call");
	tmap_fail(map, CRUMB_E_BUSY);
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK_RC(crumb_state_get_number(sv, "n", &d), CRUMB_E_BUSY);
	tmap_fail(map, 0);      /* the store recovers: too late */
	tmap_reset(map);
	CHECK_RC(crumb_state_insert_number(sv, "n", 2), CRUMB_E_BUSY);
	CHECK_RC(crumb_state_get_number(sv, "n", &d), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_load(s), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_get_user(s, &u), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_set_user(s, "dave"), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_save(s), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_atomic(s, bump, NULL), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_clear(s), CRUMB_E_BUSY);
	CHECK_RC(crumb_session_delete(s), CRUMB_E_BUSY);
	CHECK(tmap_total(map) == 0);
	/* The client state does not need the store. */
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c", "x"));
	CHECK_OK(crumb_cookie_set(s, "other", "v", -1, NULL, NULL, 0));

	TEST("... and finish returns it and writes nothing");
	CHECK_RC(crumb_session_finish(s, count_write, &sink), CRUMB_E_BUSY);
	CHECK(sink.calls == 0);
	CHECK(tmap_total(map) == 0);
	CHECK(strstr(crumb_session_errmsg(s), "simulated") != NULL);
	crumb_session_free(s);
	CHECK(tread_number(cfg, pair, "n") == 1);

	TEST("a failed write: finish returns it without writing again");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 3));
	tmap_fail(map, CRUMB_E_FULL);
	CHECK_RC(crumb_session_save(s), CRUMB_E_FULL);
	tmap_fail(map, 0);
	tmap_reset(map);
	sink.calls = 0;
	CHECK_RC(crumb_session_finish(s, count_write, &sink), CRUMB_E_FULL);
	CHECK(sink.calls == 0);
	CHECK(tmap_total(map) == 0);
	crumb_session_free(s);

	TEST("an atomic fn's abort is not a store failure");
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_session_atomic(s, abort_fn, NULL), 7);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 1);
	CHECK_OK(crumb_session_atomic(s, bump, NULL));
	sink.calls = 0;
	CHECK_OK(crumb_session_finish(s, count_write, &sink));
	crumb_session_free(s);
	CHECK(tread_number(cfg, pair, "n") == 5);

	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
