/* The stores: memory and SQLite (a real file in a temporary directory)
 * through the same functions: records persist, expired records are never
 * returned, crumb_store_purge deletes in batches and counts; SQLite keeps
 * only the ID's hash and survives reopening. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

static char *
seed(crumb_config *cfg, const char *val)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;

	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "v",
	    val));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

static int
alive(crumb_config *cfg, const char *pair, const char *val)
{
	crumb_session *s = tbegin(cfg, pair);
	const char *v = NULL;
	int r = crumb_state_get_string(crumb_session_server(s), "v", &v) ==
	    CRUMB_OK && strcmp(v, val) == 0;

	crumb_session_free(s);
	return r;
}

/* map: the custom store's counters, NULL for the library's stores. */
static int
scan_none(const uint8_t *hash, const crumb_record *rec, void *ud)
{
	(void)hash;
	(void)rec;
	(void)ud;
	return 1;
}

static void
run(crumb_store *store, struct tmap *map, const char *label)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x91);
	char *old[5], *young[3], *big;
	uint64_t del;
	int i, n;

	printf("-- [%s]\n", label);
	CHECK_OK(crumb_config_set_ttl(cfg, 1000));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_CHANGE, 0));

	TEST("records persist; large and unicode state");
	clk.now = T_START;
	for (i = 0; i < 5; i++)
		old[i] = seed(cfg, "old");
	big = malloc(100001);
	REQUIRE(big != NULL);
	for (i = 0; i < 100000; i++)
		big[i] = "h\xc3\xa9llo \"'\\\n"[i % 11];
	big[99999] = 'x';     /* do not cut the 2-byte é in half */
	big[100000] = '\0';
	{
		char *p = seed(cfg, big);

		CHECK(alive(cfg, p, big));
		free(p);
	}
	free(big);
	clk.now = T_START + 500;
	for (i = 0; i < 3; i++)
		young[i] = seed(cfg, "young");
	for (i = 0, n = 0; i < 5; i++)
		n += alive(cfg, old[i], "old");
	CHECK(n == 5);

	TEST("expired records are never returned");
	clk.now = T_START + 1000;
	for (i = 0, n = 0; i < 5; i++)
		n += alive(cfg, old[i], "old");
	CHECK(n == 0);
	for (i = 0, n = 0; i < 3; i++)
		n += alive(cfg, young[i], "young");
	CHECK(n == 3);

	TEST("an expired record is not updated back to life");
	{
		crumb_session *s = tbegin(cfg, old[0]);
		char *np = NULL;

		CHECK_OK(crumb_state_insert_string(crumb_session_server(s),
		    "w", "1"));
		CHECK_OK(tend(s, "id", NULL, &np));
		/* The write went to a fresh session with a new cookie. */
		CHECK(np != NULL && strcmp(np, old[0]) != 0);
		free(np);
		CHECK(!alive(cfg, old[0], "old"));
	}

	TEST("purge in batches");
	clk.now = T_START + 1200;
	del = 99;
	if (map != NULL)
		tmap_reset(map);
	CHECK_OK(crumb_store_purge(store, T_START + 1200, 2, &del));
	CHECK(del == 6);   /* 5 old + the big one */
	if (map != NULL)   /* batches of 2 */
		CHECK(tmap_counts(map)->purge >= 3);
	del = 99;
	CHECK_OK(crumb_store_purge(store, T_START + 1200, 2, &del));
	CHECK(del == 0);
	for (i = 0, n = 0; i < 3; i++)
		n += alive(cfg, young[i], "young");
	CHECK(n == 3);
	del = 99;
	CHECK_OK(crumb_store_purge(store, T_START + 1499, 0, &del));
	CHECK(del == 0);
	TEST("purge with now = 0 uses time()");
	/* The test clock is in 1970: by real time everything expired, the
	 * session created in the expiry test included. */
	del = 0;
	CHECK_OK(crumb_store_purge(store, 0, 0, &del));
	CHECK(del == 4);
	for (i = 0, n = 0; i < 3; i++)
		n += alive(cfg, young[i], "young");
	CHECK(n == 0);
	CHECK_RC(crumb_store_purge(NULL, 0, 0, &del), CRUMB_E_INVAL);

	if (map != NULL) {
		crumb_store_counts sc;
		crumb_record rec = { "{}", 2, NULL, 1, 1, 1, 4, NULL };
		uint8_t h[CRUMB_HASH_LEN] = { 1 };
		int w = 7;

		TEST("a store without stats, scan, import: UNSUPPORTED");
		CHECK_RC(crumb_store_stats(store, 0, &sc), CRUMB_E_UNSUPPORTED);
		CHECK(sc.records == 0 && sc.bytes == -1);
		CHECK_RC(crumb_store_scan(store, 0, 0, scan_none, NULL),
		    CRUMB_E_UNSUPPORTED);
		CHECK_RC(crumb_store_import(store, h, &rec, 3, &w),
		    CRUMB_E_UNSUPPORTED);
		CHECK(w == 0);
		CHECK_STR(crumb_strerror(CRUMB_E_UNSUPPORTED),
		    "the session store does not support this operation");
	}

	TEST("store errmsg is empty after success");
	CHECK(crumb_store_errmsg(store) != NULL);
	CHECK_STR(crumb_store_errmsg(store), "");

	for (i = 0; i < 5; i++)
		free(old[i]);
	for (i = 0; i < 3; i++)
		free(young[i]);
	crumb_config_free(cfg);
	clk.now = T_START;
}

static void
sqlite_only(const char *path)
{
	crumb_store *store = NULL;
	crumb_config *cfg;
	char *pair;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	const char *val;
	int rows = 0, bad = 0;

	TEST("SQLite: reopen keeps sessions");
	REQUIRE(crumb_store_sqlite_open_v2(path, 1000, 1, &store, NULL, 0) ==
	    CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0x92);
	pair = seed(cfg, "persisted");
	crumb_config_free(cfg);
	crumb_store_free(store);
	store = NULL;
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0x92);
	CHECK(alive(cfg, pair, "persisted"));

	TEST("SQLite: only a 32-byte hash of the ID is stored");
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	REQUIRE(sqlite3_prepare_v2(db, "SELECT id, state FROM crumb_sessions",
	    -1, &st, NULL) == SQLITE_OK);
	val = tpair_value(pair);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(st, 1);

		rows++;
		if (sqlite3_column_type(st, 0) != SQLITE_BLOB ||
		    sqlite3_column_bytes(st, 0) != CRUMB_HASH_LEN)
			bad++;
		if (state != NULL && strstr(state, val) != NULL)
			bad++;
	}
	sqlite3_finalize(st);
	CHECK(rows >= 1);
	CHECK(bad == 0);
	{
		char *mode = NULL;

		sqlite3_stmt *jm;

		REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &jm,
		    NULL) == SQLITE_OK);
		if (sqlite3_step(jm) == SQLITE_ROW)
			mode = strdup((const char *)
			    sqlite3_column_text(jm, 0));
		sqlite3_finalize(jm);
		TEST("SQLite: WAL mode");
		CHECK_STR(mode, "wal");
		free(mode);
	}
	/* A write within the TTL threshold changes state only: one page
	 * (the record's) goes to the log, not the indexes' pages too. */
	TEST("SQLite: a state-only write logs one page");
	{
		crumb_session *s = tbegin(cfg, pair);
		int log = -1, done = -1;

		REQUIRE(sqlite3_wal_checkpoint_v2(db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, &log, &done) == SQLITE_OK);
		CHECK(log == 0);
		CHECK_OK(crumb_state_insert_string(crumb_session_server(s),
		    "v", "rewritten"));
		CHECK_OK(tend(s, "id", NULL, NULL));
		REQUIRE(sqlite3_wal_checkpoint_v2(db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK);
		CHECK(log == 1);
		CHECK(alive(cfg, pair, "rewritten"));
	}
	/* crumb checkpoints by its own rule (every 4000 pages a connection
	 * has seen logged): the log starts over instead of growing. */
	TEST("SQLite: the log is checkpointed and starts over");
	{
		int i, log = -1, done = -1, failed = 0;
		char v[32];

		for (i = 0; i < 4500; i++) {
			crumb_session *s = tbegin(cfg, pair);

			snprintf(v, sizeof(v), "n%d", i);
			if (crumb_state_insert_string(crumb_session_server(s),
			    "v", v) != CRUMB_OK)
				failed++;
			if (tend(s, "id", NULL, NULL) != CRUMB_OK)
				failed++;
		}
		CHECK(failed == 0);
		REQUIRE(sqlite3_wal_checkpoint_v2(db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK);
		CHECK(log > 0 && log < 4000);
		CHECK(alive(cfg, pair, "n4499"));
	}
	/* A purge checkpoints the pages it writes itself (every 1000), so
	 * that requests do not pay for copying them: the log stays short. */
	TEST("SQLite: a purge keeps the log short");
	{
		int log = -1, done = -1;
		uint64_t del = 0;

		REQUIRE(sqlite3_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 "
		    "UNION ALL SELECT i + 1 FROM n WHERE i < 30000) "
		    "INSERT INTO crumb_sessions (id, state, version, user, "
		    "created, last_seen, expires) SELECT randomblob(32), "
		    "'{\"pad\":\"' || hex(randomblob(40)) || '\"}', 1, NULL, "
		    "1, 1, 2 FROM n", NULL, NULL, NULL) == SQLITE_OK);
		REQUIRE(sqlite3_wal_checkpoint_v2(db, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, &log, &done) == SQLITE_OK);
		CHECK_OK(crumb_store_purge(store, 3, 250, &del));
		CHECK(del == 30000);
		REQUIRE(sqlite3_wal_checkpoint_v2(db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK);
		CHECK(log < 2000);
		CHECK(alive(cfg, pair, "n4499"));
	}
	sqlite3_close(db);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

int
main(void)
{
	crumb_store *store = NULL;
	char *dir, *path;

	TEST("crumb_store_new argument checks; free NULL");
	CHECK_RC(crumb_store_new(NULL, NULL, &store), CRUMB_E_INVAL);
	crumb_store_free(NULL);
	CHECK_RC(crumb_store_memory_new(NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_store_sqlite_open(NULL, &store), CRUMB_E_INVAL);

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	run(store, NULL, "memory store");
	crumb_store_free(store);

	dir = tdir_new();
	path = tpath(dir, "store.db");
	store = NULL;
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	run(store, NULL, "SQLite store");
	crumb_store_free(store);
	sqlite_only(path);
	free(path);
	tdir_remove(dir);

	{
		struct tmap *map = tmap_store_new(&store);

		run(store, map, "custom store (checks the test's own map)");
	}
	crumb_store_free(store);
	return CHECK_DONE();
}
