/*
 * What the two floors share (bench-session.c in process, floor-fcgi.c end
 * to end); they use no code of the library's, by design.
 *
 * floor_b64dec: base64url without padding.
 *
 * floor_wal_hook: the library's checkpoint rule (lib/store-sqlite.c,
 * on_commit): the floors open their own SQLite connections, and "the
 * same settings as the library's" include when the log is copied back
 * and started over.  Register with
 *   sqlite3_wal_hook(db, floor_wal_hook, &state)
 * with a struct floor_wal per connection, zeroed but for busy_ms.
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <stddef.h>
#include <string.h>

#include <sqlite3.h>

static const char floor_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decoded length, or 0 for a character outside the alphabet. */
static size_t
floor_b64dec(const char *in, size_t n, unsigned char *out)
{
	static signed char val[256];
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (val['B'] == 0) {
		memset(val, -1, sizeof(val));
		for (i = 0; i < 64; i++)
			val[(unsigned char)floor_b64[i]] = (signed char)i;
	}
	for (i = 0; i < n; i++) {
		if (val[(unsigned char)in[i]] < 0)
			return 0;
		acc = acc << 6 | (unsigned)val[(unsigned char)in[i]];
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

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
