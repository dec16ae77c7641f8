/* Explicit load/save, crumb_session_atomic, and concurrent requests on
 * the same session (memory store, and SQLite with two connections). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

static void
test_load_save(void)
{
	crumb_store *store;
	struct tmap *map = tmap_store_new(&store);
	crumb_config *cfg = tcfg_new(store, &clk, 0x71);
	crumb_session *s;
	char *pair = NULL, *h = NULL;
	double d;

	TEST("save on a new session creates the record now");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_save(s));
	CHECK(tmap_counts(map)->create == 1);
	CHECK(tmap_records(map) == 1);
	CHECK_OK(tend(s, "id", &h, &pair));
	CHECK(tmap_counts(map)->create == 1);
	CHECK(tmap_counts(map)->update == 0);
	CHECK(pair != NULL);
	free(h);
	REQUIRE(pair != NULL);

	TEST("load loads once; save writes; finish writes only the rest");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_load(s));
	CHECK(tmap_counts(map)->load == 1);
	CHECK_OK(crumb_session_load(s));
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(tmap_counts(map)->load == 1);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 2));
	CHECK_OK(crumb_session_save(s));
	CHECK(tmap_counts(map)->update == 1);
	/* Saved and nothing new: finish writes nothing more. */
	CHECK_OK(crumb_session_save(s));
	CHECK(tmap_counts(map)->update == 1);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->update == 1);

	tmap_reset(map);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 3));
	CHECK_OK(crumb_session_save(s));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "m", 4));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->update == 2);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 3);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "m", &d));
	CHECK(d == 4);
	crumb_session_free(s);

	TEST("save is visible to a concurrent request before finish");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 9));
	CHECK_OK(crumb_session_save(s));
	{
		crumb_session *o = tbegin(cfg, pair);

		CHECK_OK(crumb_state_get_number(crumb_session_server(o), "n",
		    &d));
		CHECK(d == 9);
		crumb_session_free(o);
	}
	CHECK_OK(tend(s, "id", NULL, NULL));

	TEST("save on an untouched new session stores nothing");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_save(s));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_counts(map)->create == 0);
	free(h);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

struct incr {
	int calls;
	crumb_config *cfg;    /* when set: run a rival increment once */
	const char *pair;
	int locking;          /* the store locks records (SQLite) */
};

static int
do_incr(crumb_session *s, void *ud)
{
	struct incr *in = ud;
	crumb_state *st = crumb_session_server(s);
	double d = 0;
	int rc;

	in->calls++;
	rc = crumb_state_get_number(st, "n", &d);
	if (rc != CRUMB_OK && rc != CRUMB_E_NOT_FOUND)
		return rc;
	return crumb_state_insert_number(st, "n", d + 1);
}

static int
abort_fn(crumb_session *s, void *ud)
{
	(void)ud;
	crumb_state_insert_number(crumb_session_server(s), "x", 1);
	return 7;
}

/* B's fn lets a whole rival request increment first, on its first run. */
static int
incr_with_rival(crumb_session *s, void *ud)
{
	struct incr *in = ud;

	if (in->calls == 0 && in->cfg != NULL) {
		crumb_session *a = tbegin(in->cfg, in->pair);
		struct incr ain = { 0, NULL, NULL, 0 };

		if (in->locking) {
			/* B holds the record's lock: the rival must wait, and
			 * here (same thread) it times out, changing nothing. */
			CHECK_RC(crumb_session_atomic(a, do_incr, &ain),
			    CRUMB_E_BUSY);
			crumb_session_free(a);
		} else {
			CHECK_OK(crumb_session_atomic(a, do_incr, &ain));
			CHECK_OK(tend(a, "id", NULL, NULL));
		}
	}
	return do_incr(s, ud);
}

/* Both configs point at the same data (one shared store, or two SQLite
 * connections to one file). */
static void
concurrency(crumb_config *ca, crumb_config *cb, const char *label,
    int locking)
{
	crumb_session *s, *a, *b;
	char *pair = NULL;
	struct incr in;
	double d;
	int i;

	printf("-- [%s]\n", label);
	s = tbegin(ca, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 0));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("atomic counter");
	for (i = 0; i < 5; i++) {
		memset(&in, 0, sizeof(in));
		s = tbegin(ca, pair);
		CHECK_OK(crumb_session_atomic(s, do_incr, &in));
		CHECK(in.calls == 1);
		CHECK_OK(tend(s, "id", NULL, NULL));
	}
	CHECK(tread_number(cb, pair, "n") == 5);

	TEST("atomic: fn's non-zero return aborts and is returned");
	s = tbegin(ca, pair);
	CHECK_RC(crumb_session_atomic(s, abort_fn, NULL), 7);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tread_number(cb, pair, "x") == -1);
	CHECK(tread_number(cb, pair, "n") == 5);
	s = tbegin(ca, pair);
	CHECK_RC(crumb_session_atomic(s, NULL, NULL), CRUMB_E_INVAL);
	crumb_session_free(s);

	TEST("two requests change different keys: both persist");
	a = tbegin(ca, pair);
	b = tbegin(cb, pair);
	CHECK_OK(crumb_session_load(a));
	CHECK_OK(crumb_session_load(b));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(a), "x", 1));
	CHECK_OK(tend(a, "id", NULL, NULL));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(b), "y", 2));
	CHECK_OK(tend(b, "id", NULL, NULL));
	CHECK(tread_number(ca, pair, "x") == 1);
	CHECK(tread_number(ca, pair, "y") == 2);
	CHECK(tread_number(ca, pair, "n") == 5);

	TEST("two requests remove and add: both persist");
	a = tbegin(ca, pair);
	b = tbegin(cb, pair);
	CHECK_OK(crumb_session_load(a));
	CHECK_OK(crumb_session_load(b));
	CHECK_OK(crumb_state_remove_raw(crumb_session_server(a), "x"));
	CHECK_OK(tend(a, "id", NULL, NULL));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(b), "z", 3));
	CHECK_OK(tend(b, "id", NULL, NULL));
	CHECK(tread_number(ca, pair, "x") == -1);
	CHECK(tread_number(ca, pair, "z") == 3);

	TEST("interleaved atomic increments: no lost update");
	a = tbegin(ca, pair);
	b = tbegin(cb, pair);
	CHECK_OK(crumb_session_load(a));
	CHECK_OK(crumb_session_load(b));
	memset(&in, 0, sizeof(in));
	CHECK_OK(crumb_session_atomic(a, do_incr, &in));
	memset(&in, 0, sizeof(in));
	CHECK_OK(crumb_session_atomic(b, do_incr, &in));
	CHECK_OK(tend(a, "id", NULL, NULL));
	CHECK_OK(tend(b, "id", NULL, NULL));
	CHECK(tread_number(ca, pair, "n") == 7);

	TEST(locking ? "rival inside fn: blocked by the record lock, fn runs once" :
	    "rival increment inside fn: retried, no lost update");
	b = tbegin(cb, pair);
	memset(&in, 0, sizeof(in));
	in.cfg = ca;
	in.pair = pair;
	in.locking = locking;
	CHECK_OK(crumb_session_atomic(b, incr_with_rival, &in));
	CHECK(locking ? in.calls == 1 : in.calls >= 2);
	CHECK_OK(crumb_state_get_number(crumb_session_server(b), "n", &d));
	CHECK(d == (locking ? 8 : 9));
	CHECK_OK(tend(b, "id", NULL, NULL));
	CHECK(tread_number(ca, pair, "n") == (locking ? 8 : 9));
	if (locking) {
		/* Bring n to 9 like the other run, for what follows. */
		s = tbegin(ca, pair);
		memset(&in, 0, sizeof(in));
		CHECK_OK(crumb_session_atomic(s, do_incr, &in));
		CHECK_OK(tend(s, "id", NULL, NULL));
	}

	TEST("plain increments race: the later writer re-applies");
	a = tbegin(ca, pair);
	b = tbegin(cb, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(a), "n", &d));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(a), "a", d));
	CHECK_OK(crumb_state_get_number(crumb_session_server(b), "n", &d));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(b), "b", d));
	CHECK_OK(tend(a, "id", NULL, NULL));
	CHECK_OK(tend(b, "id", NULL, NULL));
	CHECK(tread_number(ca, pair, "a") == 9);
	CHECK(tread_number(ca, pair, "b") == 9);

	TEST("one request invalidates while another changes");
	a = tbegin(ca, pair);
	b = tbegin(cb, pair);
	CHECK_OK(crumb_session_load(a));
	CHECK_OK(crumb_session_load(b));
	CHECK_OK(crumb_session_invalidate(a));
	CHECK_OK(tend(a, "id", NULL, NULL));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(b), "w", 1));
	(void)tend(b, "id", NULL, NULL);
	/* The invalidated session must not come back to life. */
	CHECK(tread_number(ca, pair, "n") == -1);
	CHECK(tread_number(ca, pair, "w") == -1);
	free(pair);
}

int
main(void)
{
	crumb_store *mem = NULL, *sa = NULL, *sb = NULL;
	crumb_config *ca, *cb;
	char *dir, *path;

	test_load_save();

	REQUIRE(crumb_store_memory_new(&mem) == CRUMB_OK);
	ca = tcfg_new(mem, &clk, 0x72);
	cb = tcfg_new(mem, &clk, 0x72);
	concurrency(ca, cb, "memory store", 0);
	crumb_config_free(ca);
	crumb_config_free(cb);
	crumb_store_free(mem);

	dir = tdir_new();
	path = tpath(dir, "sessions.db");
	/* A short busy timeout: one test waits on a lock held on purpose. */
	REQUIRE(crumb_store_sqlite_open_v2(path, 200, 0, &sa, NULL, 0) ==
	    CRUMB_OK);
	REQUIRE(crumb_store_sqlite_open_v2(path, 200, 0, &sb, NULL, 0) ==
	    CRUMB_OK);
	ca = tcfg_new(sa, &clk, 0x73);
	cb = tcfg_new(sb, &clk, 0x73);
	concurrency(ca, cb, "SQLite store, two connections", 1);
	crumb_config_free(ca);
	crumb_config_free(cb);
	crumb_store_free(sa);
	crumb_store_free(sb);
	free(path);
	tdir_remove(dir);
	return CHECK_DONE();
}
