/*
 * The guestbook's entries, in their own SQLite database beside the
 * session store.  Opened once per process; both statements are
 * prepared once and reused by every request.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb.h"
#include "gb-schema.h"

struct gb_db {
	sqlite3 *db;
	sqlite3_stmt *add;
	sqlite3_stmt *list;
	char err[256];
};

#define GB_BUSY_MS 5000

static const char sql_add[] =
    "INSERT INTO entries(author, message, created) VALUES (?1, ?2, ?3)";
static const char sql_list[] =
    "SELECT author, message, created FROM entries"
    " ORDER BY created DESC, id DESC";

/* Keep SQLite's message on the handle, as the library does. */
static int
fail(struct gb_db *g, const char *what)
{
	snprintf(g->err, sizeof(g->err), "%s: %s", what,
	    g->db ? sqlite3_errmsg(g->db) : "out of memory");
	return -1;
}

static int
prepare(struct gb_db *g, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(g->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return fail(g, "prepare");
	return 0;
}

int
gb_db_open(const char *path, struct gb_db **out)
{
	struct gb_db *g;

	if ((*out = g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return fail(g, path);
	/* Workers write concurrently: wait for the lock rather than fail,
	 * and let readers go on while one writes (WAL). */
	sqlite3_busy_timeout(g->db, GB_BUSY_MS);
	if (sqlite3_exec(g->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
		return fail(g, "pragma");
	if (sqlite3_exec(g->db, gb_schema, NULL, NULL, NULL) != SQLITE_OK)
		return fail(g, "schema");
	if (prepare(g, sql_add, &g->add) != 0 ||
	    prepare(g, sql_list, &g->list) != 0)
		return -1;
	return 0;
}

void
gb_db_close(struct gb_db *g)
{
	if (g == NULL)
		return;
	sqlite3_finalize(g->add);
	sqlite3_finalize(g->list);
	sqlite3_close(g->db);
	free(g);
}

int
gb_db_add(struct gb_db *g, const char *author, const char *message,
    int64_t now)
{
	int rc;

	sqlite3_bind_text(g->add, 1, author, -1, SQLITE_STATIC);
	sqlite3_bind_text(g->add, 2, message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(g->add, 3, now);
	rc = sqlite3_step(g->add);
	if (rc != SQLITE_DONE)
		fail(g, "insert");
	sqlite3_reset(g->add);
	/* The bound strings belong to the caller: drop them now. */
	sqlite3_clear_bindings(g->add);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
gb_db_foreach(struct gb_db *g, gb_entry_fn fn, void *ud)
{
	int rc, stop = 0;

	while ((rc = sqlite3_step(g->list)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(g->list, 0);
		const char *m = (const char *)sqlite3_column_text(g->list, 1);

		stop = fn(a ? a : "", m ? m : "",
		    sqlite3_column_int64(g->list, 2), ud);
		if (stop != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		fail(g, "select");
		stop = -1;
	}
	/* Reset ends the read transaction so that WAL can checkpoint. */
	sqlite3_reset(g->list);
	return stop;
}

const char *
gb_db_errmsg(const struct gb_db *g)
{
	return g ? g->err : "out of memory";
}
