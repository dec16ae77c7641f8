/*
 * The library's checkpoint rule (lib/store-sqlite.c, on_commit), for the
 * floors: bench-session.c and floor-fcgi.c open their own SQLite
 * connections, and "the same settings as the library's" include when the
 * log is copied back and started over.  Register with
 *   sqlite3_wal_hook(db, floor_wal_hook, &state)
 * with a zeroed struct floor_wal state per connection.
 */
#ifndef FLOOR_WAL_H
#define FLOOR_WAL_H

#include <sqlite3.h>

struct floor_wal {
	int ckpt_pages;       /* log size at the last checkpoint */
	int ckpt_short;       /* the last one left pages for readers */
	int busy_ms;          /* the connection's busy timeout */
};

static int
floor_wal_hook(void *ctx, sqlite3 *db, const char *name, int pages)
{
	struct floor_wal *w = ctx;
	int mode, log = 0, done = 0;

	if (pages < w->ckpt_pages) {
		w->ckpt_pages = 0;
		w->ckpt_short = 0;
	}
	if (pages >= 8000)
		mode = SQLITE_CHECKPOINT_TRUNCATE;
	else if (pages - w->ckpt_pages >= (w->ckpt_short ? 100 : 4000))
		mode = SQLITE_CHECKPOINT_PASSIVE;
	else
		return SQLITE_OK;
	if (sqlite3_wal_checkpoint_v2(db, name, mode, &log, &done) != SQLITE_OK)
		log = done = 0;
	w->ckpt_pages = mode == SQLITE_CHECKPOINT_TRUNCATE ? 0 : pages;
	w->ckpt_short = mode == SQLITE_CHECKPOINT_PASSIVE && done < log;
	if (mode == SQLITE_CHECKPOINT_PASSIVE && log > 0 && done == log) {
		sqlite3_busy_timeout(db, 0);
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART,
		    NULL, NULL);
		sqlite3_busy_timeout(db, w->busy_ms);
	}
	return SQLITE_OK;
}

#endif
