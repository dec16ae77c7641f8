/* Store failures reach the caller with a message: a failing custom store,
 * SQLite files that cannot be opened or are not databases, a locked
 * database (CRUMB_E_BUSY), a table dropped under the store, and the
 * database or its -wal deleted, replaced or overwritten under it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

static void
test_custom_failure(void)
{
	crumb_store *store;
	struct tmap *map = tmap_store_new(&store);
	crumb_config *cfg = tcfg_new(store, &clk, 0xA1);
	crumb_session *s;
	char *pair = NULL, *h = NULL;
	const char *v;
	double d;
	int rc;

	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	tmap_fail(map, CRUMB_E_STORE);

	TEST("failing store: create at finish");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	rc = crumb_session_finish_str(s, &h);
	CHECK_RC(rc, CRUMB_E_STORE);
	CHECK(strstr(crumb_session_errmsg(s), "simulated store failure") !=
	    NULL);
	CHECK(strstr(crumb_store_errmsg(store), "simulated store failure") !=
	    NULL);
	/* No Set-Cookie for a session that was not stored. */
	CHECK(rc == CRUMB_OK || h == NULL || tcount_set_cookie(h) == 0);
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);

	TEST("failing store: lazy load");
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_STORE);
	CHECK(strstr(crumb_session_errmsg(s), "simulated") != NULL);
	CHECK_RC(crumb_session_load(s), CRUMB_E_STORE);
	crumb_session_free(s);

	TEST("failing store: explicit save");
	tmap_fail(map, 0);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 2));
	tmap_fail(map, CRUMB_E_BUSY);
	CHECK_RC(crumb_session_save(s), CRUMB_E_BUSY);
	CHECK(*crumb_session_errmsg(s) != '\0');
	CHECK_RC(crumb_session_finish_str(s, &h), CRUMB_E_BUSY);
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);

	TEST("failing store: invalidate, user calls, purge");
	s = tbegin(cfg, pair);
	rc = crumb_session_invalidate(s);
	if (rc == CRUMB_OK)
		rc = crumb_session_finish_str(s, &h);
	CHECK_RC(rc, CRUMB_E_BUSY);
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);
	{
		uint64_t del;

		CHECK_RC(crumb_user_logout_all(cfg, "u", &del), CRUMB_E_BUSY);
		CHECK_RC(crumb_store_purge(store, 0, 0, &del), CRUMB_E_BUSY);
	}

	TEST("recovered store: the session was not lost");
	tmap_fail(map, 0);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 1);
	CHECK_STR(crumb_session_errmsg(s), "");
	crumb_session_free(s);
	(void)v;
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

static void
test_sqlite_open(const char *dir)
{
	crumb_store *store = NULL;
	char *p;
	FILE *f;
	int i;

	TEST("SQLite: a directory is CRUMB_E_CANTOPEN");
	CHECK_RC(crumb_store_sqlite_open(dir, &store), CRUMB_E_CANTOPEN);
	CHECK(store == NULL);
	crumb_store_free(store);

	TEST("SQLite: a missing directory is CRUMB_E_CANTOPEN");
	p = tpath(dir, "missing/sub/x.db");
	store = NULL;
	CHECK_RC(crumb_store_sqlite_open(p, &store), CRUMB_E_CANTOPEN);
	CHECK(store == NULL);
	crumb_store_free(store);
	free(p);

	TEST("SQLite: a file that is not a database is CRUMB_E_CORRUPT");
	p = tpath(dir, "junk.db");
	f = fopen(p, "w");
	REQUIRE(f != NULL);
	for (i = 0; i < 512; i++)
		fputs("this is not an SQLite database file. ", f);
	fclose(f);
	store = NULL;
	CHECK_RC(crumb_store_sqlite_open(p, &store), CRUMB_E_CORRUPT);
	CHECK(store == NULL);
	crumb_store_free(store);

	TEST("SQLite: open_v2 says why in errbuf");
	{
		char why[256] = "unchanged";

		CHECK_RC(crumb_store_sqlite_open_v2(p, 100, 0, &store, why,
		    sizeof(why)), CRUMB_E_CORRUPT);
		CHECK(store == NULL);
		CHECK(strstr(why, "not a database") != NULL);
		strcpy(why, "unchanged");
		CHECK_RC(crumb_store_sqlite_open_v2(p, 100, 0, &store, why, 4),
		    CRUMB_E_CORRUPT);
		CHECK(strlen(why) == 3);
	}
	free(p);
}

static void
test_sqlite_busy(const char *dir)
{
	char *path = tpath(dir, "busy.db");
	crumb_store *store = NULL;
	crumb_config *cfg;
	crumb_session *s;
	sqlite3 *db = NULL;
	char *h = NULL, *pair = NULL;
	double d;
	int rc;

	REQUIRE(crumb_store_sqlite_open_v2(path, 50, 0, &store, NULL, 0) == CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0xA2);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("SQLite: a write lock held elsewhere is CRUMB_E_BUSY");
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	REQUIRE(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
	    SQLITE_OK);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	rc = crumb_session_finish_str(s, &h);
	CHECK_RC(rc, CRUMB_E_BUSY);
	CHECK(*crumb_session_errmsg(s) != '\0');
	CHECK(*crumb_store_errmsg(store) != '\0');
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);

	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 2));
	CHECK_RC(crumb_session_finish_str(s, &h), CRUMB_E_BUSY);
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);
	REQUIRE(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);

	TEST("SQLite: works again once the lock is gone, nothing half-written");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 1);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 3));
	CHECK_OK(tend(s, "id", NULL, NULL));
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &d));
	CHECK(d == 3);
	crumb_session_free(s);

	TEST("SQLite: table dropped under the store");
	REQUIRE(sqlite3_exec(db, "DROP TABLE crumb_sessions", NULL, NULL,
	    NULL) == SQLITE_OK);
	s = tbegin(cfg, pair);
	rc = crumb_state_get_number(crumb_session_server(s), "n", &d);
	CHECK(rc != CRUMB_OK && rc != CRUMB_E_NOT_FOUND);
	CHECK(strstr(crumb_session_errmsg(s), "crumb_sessions") != NULL);
	crumb_session_free(s);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	rc = crumb_session_finish_str(s, &h);
	CHECK(rc != CRUMB_OK);
	CHECK(*crumb_session_errmsg(s) != '\0');
	crumb_free(h);
	crumb_session_free(s);
	sqlite3_close(db);

	free(pair);
	free(path);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

/* The open store notices its files are not what it opened at most a
 * second later: wait past that. */
static void
after_a_second(void)
{
	struct timespec ts = { 1, 150000000 };

	nanosleep(&ts, NULL);
}

enum fault { DELETE_DB, DELETE_WAL, REPLACE_DB, OVERWRITE_DB };

static void
vanish_case(const char *dir, enum fault fault, int want, const char *says)
{
	char *path = tpath(dir, "vanish.db"), *other = tpath(dir, "other.db");
	char wal[4200];
	crumb_store *store = NULL, *again = NULL;
	crumb_config *cfg;
	crumb_session *s;
	char *pair = NULL;
	double d;
	FILE *f;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(path);
	unlink(wal);
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0xA3);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	switch (fault) {
	case DELETE_DB:
		CHECK(unlink(path) == 0);
		break;
	case DELETE_WAL:
		CHECK(unlink(wal) == 0);
		break;
	case REPLACE_DB:
		REQUIRE(crumb_store_sqlite_open(other, &again) == CRUMB_OK);
		crumb_store_free(again);
		again = NULL;
		CHECK(rename(other, path) == 0);
		break;
	case OVERWRITE_DB:
		REQUIRE((f = fopen(path, "r+b")) != NULL);
		fputs("not a database any more", f);
		fclose(f);
		break;
	}
	after_a_second();
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    want);
	CHECK(strstr(crumb_session_errmsg(s), says) != NULL);
	crumb_session_free(s);
	/* Every later call, reads and writes, until the store is reopened. */
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_RC(tend(s, "id", NULL, NULL), want);
	CHECK(strstr(crumb_store_errmsg(store), says) != NULL);
	crumb_config_free(cfg);
	crumb_store_free(store);
	free(pair);
	if (fault != OVERWRITE_DB) {
		/* Reopened on purpose: the files there now. */
		CHECK_OK(crumb_store_sqlite_open(path, &again));
		crumb_store_free(again);
	}
	unlink(path);
	unlink(wal);
	free(path);
	free(other);
}

static void
test_sqlite_vanish(const char *dir)
{
	TEST("SQLite: the database deleted under the store: CRUMB_E_CANTOPEN");
	vanish_case(dir, DELETE_DB, CRUMB_E_CANTOPEN, "vanish.db was deleted");
	TEST("SQLite: the -wal deleted under the store: CRUMB_E_CANTOPEN");
	vanish_case(dir, DELETE_WAL, CRUMB_E_CANTOPEN,
	    "vanish.db-wal was deleted");
	TEST("SQLite: the database replaced (rename over it): CRUMB_E_CANTOPEN");
	vanish_case(dir, REPLACE_DB, CRUMB_E_CANTOPEN,
	    "vanish.db was replaced by another file");
	TEST("SQLite: the database overwritten in place: CRUMB_E_CORRUPT");
	vanish_case(dir, OVERWRITE_DB, CRUMB_E_CORRUPT,
	    "no longer a SQLite database");
}

int
main(void)
{
	char *dir = tdir_new();

	test_custom_failure();
	test_sqlite_open(dir);
	test_sqlite_busy(dir);
	test_sqlite_vanish(dir);
	tdir_remove(dir);
	return CHECK_DONE();
}
