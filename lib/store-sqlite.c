/*
 * SQLite store.  The database is opened once per process (a FastCGI
 * worker serves many requests) with WAL, so readers never wait for the
 * writer, and crumb's writers queue on a gate (gate.c) before they
 * ask SQLite for its write lock, so they wait without polling; a busy
 * timeout covers writers from outside.  Every statement is prepared at
 * open and reused; each call is one autocommit statement (or the one
 * transaction of lock..unlock), so no record is ever half written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "crumb-private.h"
#include "sqlite-schema.h"

enum {
	Q_LOAD, Q_CREATE, Q_UPDATE, Q_TOUCH, Q_REMOVE, Q_CHANGE_ID, Q_PURGE,
	Q_USER_REMOVE, Q_USER_LIST, Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
	Q_UPDATE_KEEP, Q_UPDATE_STATE, Q_SET_LABEL, Q_COUNT
};

static const char *const sql[Q_COUNT] = {
	[Q_LOAD] = "SELECT state, user, version, created, last_seen, expires, "
	    "label FROM crumb_sessions WHERE id = ?1 AND expires > ?2",
	[Q_CREATE] = "INSERT INTO crumb_sessions "
	    "(id, state, version, user, created, last_seen, expires) "
	    "VALUES (?1, ?2, 1, ?3, ?4, ?4, ?5)",
	[Q_UPDATE] = "UPDATE crumb_sessions SET id = coalesce(?2, id), "
	    "state = ?3, version = version + 1, user = ?4, last_seen = ?5, "
	    "expires = ?6 WHERE id = ?1 AND version = ?7 AND expires > ?5",
	[Q_TOUCH] = "UPDATE crumb_sessions SET last_seen = ?2, expires = ?3 "
	    "WHERE id = ?1 AND expires > ?2",
	[Q_REMOVE] = "DELETE FROM crumb_sessions WHERE id = ?1",
	[Q_CHANGE_ID] = "UPDATE crumb_sessions SET id = ?2, last_seen = ?3 "
	    "WHERE id = ?1 AND expires > ?3",
	[Q_PURGE] = "DELETE FROM crumb_sessions WHERE id IN (SELECT id FROM "
	    "crumb_sessions WHERE expires <= ?1 LIMIT ?2)",
	[Q_USER_REMOVE] = "DELETE FROM crumb_sessions WHERE user = ?1",
	[Q_USER_LIST] = "SELECT id, created, last_seen, expires, label FROM "
	    "crumb_sessions WHERE user = ?1 AND expires > ?2 "
	    "ORDER BY last_seen DESC",
	/* IMMEDIATE takes the write lock at once: the read that follows
	 * sees the latest record and nobody writes until we commit. */
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	/* The same without touching expires: an indexed column, whose
	 * change costs a second page in the WAL. */
	[Q_UPDATE_KEEP] = "UPDATE crumb_sessions SET id = coalesce(?2, id), "
	    "state = ?3, version = version + 1, user = ?4, last_seen = ?5 "
	    "WHERE id = ?1 AND version = ?7 AND expires > ?5 AND ?6 = 0",
	/* The common write: state only.  Naming a column in SET makes
	 * SQLite rewrite every index that holds it, and id is in all of
	 * them, so this one leaves id, user and expires out of SET (user
	 * is compared instead: when it differs, nothing changes and
	 * s_update falls back to Q_UPDATE_KEEP).  One page per write. */
	[Q_UPDATE_STATE] = "UPDATE crumb_sessions SET state = ?3, "
	    "version = version + 1, last_seen = ?5 "
	    "WHERE id = ?1 AND version = ?7 AND expires > ?5 AND user IS ?4",
	[Q_SET_LABEL] = "UPDATE crumb_sessions SET label = ?2 WHERE id = ?1",
};

/* Administration (crumbctl): prepared at their first use, so that a
 * worker's open stays as it is. */
enum { A_STATS, A_SCAN, A_IMPORT, A_COUNT };

static const char *const admin_sql[A_COUNT] = {
	/* One statement: one snapshot, so the counts agree. */
	[A_STATS] = "SELECT count(*), coalesce(sum(expires > ?1), 0), "
	    "(SELECT count(DISTINCT user) FROM crumb_sessions "
	    "WHERE expires > ?1 AND user IS NOT NULL) FROM crumb_sessions",
	/* A range of the primary key: each page starts where the last
	 * one ended, without OFFSET. */
	[A_SCAN] = "SELECT id, state, user, version, created, last_seen, "
	    "expires, label FROM crumb_sessions WHERE id > coalesce(?1, x'') "
	    "AND expires > ?2 AND length(id) = 32 ORDER BY id LIMIT ?3",
	/* One statement: inserted, or an expired or older record replaced,
	 * or (no change) a live one at the same or a newer version kept. */
	[A_IMPORT] = "INSERT INTO crumb_sessions (id, state, version, user, "
	    "created, last_seen, expires, label) VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8) ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
	    "version = excluded.version, user = excluded.user, "
	    "created = excluded.created, last_seen = excluded.last_seen, "
	    "expires = excluded.expires, label = excluded.label "
	    "WHERE crumb_sessions.expires <= ?9 OR "
	    "crumb_sessions.version < excluded.version",
};

typedef struct sstore {
	sqlite3 *db;
	sqlite3_stmt *admin[A_COUNT]; /* NULL until first used */
	int busy_ms;
	struct timespec busy_since;   /* first retry of the current wait */
	sqlite3_stmt *q[Q_COUNT];
	char *state;          /* copy of the last loaded record's state */
	size_t state_cap;
	char *user;
	char *label;          /* the last loaded record's label */
	size_t label_cap;
	int ckpt_pages;       /* log size at this connection's last checkpoint */
	int purging;          /* in s_purge: checkpoint its own pages */
	int ckpt_short;       /* the last one left pages behind for readers */
	int no_wait;          /* busy: give up at once */
	crumb_gate *gate;     /* NULL: SQLite's locking alone */
	int in_gate;          /* nesting of enter() */
	int in_txn;           /* between s_lock and s_unlock */
	int ckpt_mode;        /* a checkpoint due at leave(), or -1 */
	int ckpt_log;         /* the log's size when it fell due */
	char msg[CRUMB_ERRMSG_LEN];
	/* The files the connection has open, to notice them deleted or
	 * replaced under it (watch_files()). */
	int watching;         /* a file database: look now and then */
	int wal_known;        /* wal_dev/wal_ino hold the log's identity */
	int had_header;       /* the database's header was seen, once */
	int lost;             /* noticed: the crumb_err every call returns */
	dev_t db_dev, wal_dev;
	ino_t db_ino, wal_ino;
	struct timespec watched;  /* the last look */
} sstore;

/* Map SQLite's result to ours and keep its message on the handle. */
static int
fail(sstore *ss, int src)
{
	int code = src & 0xff, rc;

	switch (code) {
	case SQLITE_BUSY: case SQLITE_LOCKED: rc = CRUMB_E_BUSY; break;
	case SQLITE_READONLY: rc = CRUMB_E_READONLY; break;
	case SQLITE_FULL: rc = CRUMB_E_FULL; break;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: rc = CRUMB_E_CORRUPT; break;
	case SQLITE_CANTOPEN: rc = CRUMB_E_CANTOPEN; break;
	/* create or a rename onto a hash a record holds */
	case SQLITE_CONSTRAINT:
		rc = src == SQLITE_CONSTRAINT_PRIMARYKEY ? CRUMB_E_CONFLICT :
		    CRUMB_E_STORE;
		break;
	case SQLITE_NOMEM: rc = CRUMB_E_NOMEM; break;
	default: rc = CRUMB_E_STORE; break;
	}
	crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: %s (code %d)",
	    ss->db != NULL ? sqlite3_errmsg(ss->db) : sqlite3_errstr(src), src);
	return rc;
}

static int watch_files(sstore *ss);

/* Every write enters the gate first, once: lock..unlock holds it across
 * the calls made in between. */
static int
enter(sstore *ss)
{
	int rc;

	if (ss->in_gate++ > 0)
		return CRUMB_OK;
	if ((rc = watch_files(ss)) != CRUMB_OK) {
		ss->in_gate = 0;
		return rc;
	}
	if ((rc = crumb_gate_enter(ss->gate, ss->busy_ms)) != CRUMB_OK) {
		ss->in_gate = 0;
		crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: other writers "
		    "held the store for %d ms", ss->busy_ms);
	}
	return rc;
}

static void checkpoint(sstore *ss);

static int
leave(sstore *ss, int rc)
{
	if (ss->in_gate > 0 && --ss->in_gate == 0) {
		/* A log cut back must wait for the readers and keep writers
		 * out: inside.  A plain copy lets them write meanwhile. */
		if (ss->ckpt_mode == SQLITE_CHECKPOINT_TRUNCATE)
			checkpoint(ss);
		crumb_gate_leave(ss->gate);
		if (ss->ckpt_mode >= 0)
			checkpoint(ss);
	}
	return rc;
}

/* Step a statement that returns no rows, then reset it. */
static int
run(sstore *ss, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	return rc == SQLITE_DONE ? CRUMB_OK : fail(ss, rc);
}

/* Run a write statement in the gate. */
static int
run_write(sstore *ss, sqlite3_stmt *q)
{
	int rc = enter(ss);

	return rc != CRUMB_OK ? rc : leave(ss, run(ss, q));
}

static void
bind_hash(sqlite3_stmt *q, int i, const uint8_t *hash)
{
	sqlite3_bind_blob(q, i, hash, CRUMB_HASH_LEN, SQLITE_STATIC);
}

static void
bind_text(sqlite3_stmt *q, int i, const char *s, size_t len)
{
	if (s == NULL)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_text64(q, i, s, len, SQLITE_STATIC, SQLITE_UTF8);
}

static int
s_create(void *ctx, const uint8_t *hash, const char *state, size_t len,
    const char *user, int64_t now, int64_t expires)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_CREATE];

	bind_hash(q, 1, hash);
	bind_text(q, 2, state, len);
	bind_text(q, 3, user, user != NULL ? strlen(user) : 0);
	sqlite3_bind_int64(q, 4, now);
	sqlite3_bind_int64(q, 5, expires);
	return run_write(ss, q);
}

static int
keep(char **dst, size_t *cap, const unsigned char *src, size_t len)
{
	if (len + 1 > *cap) {
		char *p = realloc(*dst, len + 1);
		if (p == NULL)
			return CRUMB_E_NOMEM;
		*dst = p;
		*cap = len + 1;
	}
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	return CRUMB_OK;
}

static int
s_load(void *ctx, const uint8_t *hash, int64_t now, crumb_record *out)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_LOAD];
	int rc;

	if ((rc = watch_files(ss)) != CRUMB_OK)
		return rc;
	bind_hash(q, 1, hash);
	sqlite3_bind_int64(q, 2, now);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const unsigned char *u = sqlite3_column_text(q, 1);
		const unsigned char *l = sqlite3_column_text(q, 6);
		/* Copy out and reset at once: an open read statement would
		 * hold the WAL snapshot for the rest of the request. */
		rc = keep(&ss->state, &ss->state_cap, sqlite3_column_text(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0));
		if (rc == CRUMB_OK && l != NULL)
			rc = keep(&ss->label, &ss->label_cap, l,
			    (size_t)sqlite3_column_bytes(q, 6));
		out->label = l != NULL ? ss->label : NULL;
		free(ss->user);
		ss->user = NULL;
		if (rc == CRUMB_OK && u != NULL &&
		    (ss->user = crumb_strdup((const char *)u)) == NULL)
			rc = CRUMB_E_NOMEM;
		out->state = ss->state;
		out->state_len = (size_t)sqlite3_column_bytes(q, 0);
		out->user = ss->user;
		out->version = sqlite3_column_int64(q, 2);
		out->created = sqlite3_column_int64(q, 3);
		out->last_seen = sqlite3_column_int64(q, 4);
		out->expires = sqlite3_column_int64(q, 5);
	} else if (rc == SQLITE_DONE) {
		rc = CRUMB_E_NOT_FOUND;
	} else {
		rc = fail(ss, rc);
	}
	sqlite3_reset(q);
	return rc;
}

/* After an UPDATE touched no row: gone, or someone else's version? */
static int
why_unchanged(sstore *ss, const uint8_t *hash, int64_t now)
{
	crumb_record rec;
	int rc = s_load(ss, hash, now, &rec);

	return rc == CRUMB_OK ? CRUMB_E_CONFLICT : rc;
}

/* Bind the update parameters (every update statement numbers them
 * alike, using some) to statement qi and run it. */
static int
update_with(sstore *ss, int qi, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	sqlite3_stmt *q = ss->q[qi];

	bind_hash(q, 1, hash);
	if (new_hash != NULL)
		bind_hash(q, 2, new_hash);
	else
		sqlite3_bind_null(q, 2);
	bind_text(q, 3, state, len);
	bind_text(q, 4, user, user != NULL ? strlen(user) : 0);
	sqlite3_bind_int64(q, 5, now);
	sqlite3_bind_int64(q, 6, expires);
	sqlite3_bind_int64(q, 7, version);
	return run(ss, q);
}

static int
update_in_gate(sstore *ss, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	int rc, qi = expires != 0 ? Q_UPDATE : Q_UPDATE_KEEP;

	if (new_hash == NULL && expires == 0) {
		rc = update_with(ss, Q_UPDATE_STATE, hash, NULL, version,
		    state, len, user, now, 0);
		if (rc != CRUMB_OK || sqlite3_changes(ss->db) == 1)
			return rc;
		/* user changed (or the record did): the whole statement */
	}
	rc = update_with(ss, qi, hash, new_hash, version, state, len, user,
	    now, expires);
	if (rc != CRUMB_OK)
		return rc;
	return sqlite3_changes(ss->db) == 1 ? CRUMB_OK :
	    why_unchanged(ss, hash, now);
}

static int
s_update(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	sstore *ss = ctx;
	int rc;

	if ((rc = enter(ss)) != CRUMB_OK)
		return rc;
	return leave(ss, update_in_gate(ss, hash, new_hash, version, state,
	    len, user, now, expires));
}

/* Run a one-row UPDATE; no row changed means the record is gone. */
static int
run_one(sstore *ss, sqlite3_stmt *q)
{
	int rc = run_write(ss, q);

	if (rc == CRUMB_OK && sqlite3_changes(ss->db) == 0)
		rc = CRUMB_E_NOT_FOUND;
	return rc;
}

static int
s_touch(void *ctx, const uint8_t *hash, int64_t now, int64_t expires)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_TOUCH];

	bind_hash(q, 1, hash);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_int64(q, 3, expires);
	return run_one(ss, q);
}

static int
s_remove(void *ctx, const uint8_t *hash)
{
	sstore *ss = ctx;

	bind_hash(ss->q[Q_REMOVE], 1, hash);
	return run_write(ss, ss->q[Q_REMOVE]);
}

static int
s_set_label(void *ctx, const uint8_t *hash, const char *label)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_SET_LABEL];

	bind_hash(q, 1, hash);
	bind_text(q, 2, label, strlen(label));
	return run_one(ss, q);
}

static int
s_change_id(void *ctx, const uint8_t *old_hash, const uint8_t *new_hash,
    int64_t now)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_CHANGE_ID];

	bind_hash(q, 1, old_hash);
	bind_hash(q, 2, new_hash);
	sqlite3_bind_int64(q, 3, now);
	return run_one(ss, q);
}

static int
s_purge(void *ctx, int64_t now, unsigned batch, uint64_t *deleted)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_PURGE];
	int rc;

	sqlite3_bind_int64(q, 1, now);
	sqlite3_bind_int64(q, 2, batch);
	ss->purging = 1;
	rc = run_write(ss, q);
	ss->purging = 0;
	*deleted = rc == CRUMB_OK ? (uint64_t)sqlite3_changes(ss->db) : 0;
	return rc;
}

static int
s_user_remove(void *ctx, const char *user, uint64_t *deleted)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_USER_REMOVE];
	int rc;

	bind_text(q, 1, user, strlen(user));
	rc = run_write(ss, q);
	*deleted = rc == CRUMB_OK ? (uint64_t)sqlite3_changes(ss->db) : 0;
	return rc;
}

static int
s_user_list(void *ctx, const char *user, int64_t now, crumb_info_fn fn,
    void *ud)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = ss->q[Q_USER_LIST];
	int rc;

	if ((rc = watch_files(ss)) != CRUMB_OK)
		return rc;
	bind_text(q, 1, user, strlen(user));
	sqlite3_bind_int64(q, 2, now);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *h = sqlite3_column_blob(q, 0);
		crumb_session_info info;

		memset(&info, 0, sizeof(info));
		if (h != NULL && sqlite3_column_bytes(q, 0) == CRUMB_HASH_LEN)
			crumb_hex_encode(h, CRUMB_HASH_LEN, info.id_hash);
		info.created = sqlite3_column_int64(q, 1);
		info.last_seen = sqlite3_column_int64(q, 2);
		info.expires = sqlite3_column_int64(q, 3);
		(void)crumb_label_clean((const char *)sqlite3_column_text(q, 4),
		    info.label);
		if (fn(&info, ud) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	rc = rc == SQLITE_DONE ? CRUMB_OK : fail(ss, rc);
	sqlite3_reset(q);
	return rc;
}

/* Statement ai of the administration set, prepared now if need be. */
static sqlite3_stmt *
admin(sstore *ss, int ai)
{
	int rc;

	if (ss->admin[ai] == NULL && (rc = sqlite3_prepare_v2(ss->db,
	    admin_sql[ai], -1, &ss->admin[ai], NULL)) != SQLITE_OK) {
		(void)fail(ss, rc);
		ss->admin[ai] = NULL;
	}
	return ss->admin[ai];
}

/* Bytes of path, 0 when it does not exist. */
static int64_t
file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static int
s_stats(void *ctx, int64_t now, crumb_store_counts *out)
{
	sstore *ss = ctx;
	sqlite3_stmt *q;
	const char *file;
	char *wal;
	int rc;

	/* Counting a database that was deleted or replaced would report
	 * the wrong file's figures. */
	if ((rc = watch_files(ss)) != CRUMB_OK)
		return rc;
	if ((q = admin(ss, A_STATS)) == NULL)
		return CRUMB_E_STORE;
	sqlite3_bind_int64(q, 1, now);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->records = (uint64_t)sqlite3_column_int64(q, 0);
		out->live = (uint64_t)sqlite3_column_int64(q, 1);
		out->expired = out->records - out->live;
		out->users = (uint64_t)sqlite3_column_int64(q, 2);
		rc = CRUMB_OK;
	} else {
		rc = fail(ss, rc);
	}
	sqlite3_reset(q);
	if (rc != CRUMB_OK)
		return rc;
	out->bytes = -1;
	file = sqlite3_db_filename(ss->db, "main");
	if (file != NULL && *file != '\0') {
		if ((wal = sqlite3_mprintf("%s-wal", file)) == NULL)
			return CRUMB_E_NOMEM;
		out->bytes = file_bytes(file) + file_bytes(wal);
		sqlite3_free(wal);
	}
	return CRUMB_OK;
}

static int
s_scan(void *ctx, const uint8_t *after, int64_t now, unsigned max,
    crumb_scan_fn fn, void *ud, unsigned *seen)
{
	sstore *ss = ctx;
	sqlite3_stmt *q;
	int rc;

	*seen = 0;
	if ((rc = watch_files(ss)) != CRUMB_OK)
		return rc;
	if ((q = admin(ss, A_SCAN)) == NULL)
		return CRUMB_E_STORE;
	if (after != NULL)
		bind_hash(q, 1, after);
	else
		sqlite3_bind_null(q, 1);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_int64(q, 3, max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const uint8_t *h = sqlite3_column_blob(q, 0);
		crumb_record rec;

		rec.state = (const char *)sqlite3_column_text(q, 1);
		rec.state_len = (size_t)sqlite3_column_bytes(q, 1);
		rec.user = (const char *)sqlite3_column_text(q, 2);
		rec.version = sqlite3_column_int64(q, 3);
		rec.created = sqlite3_column_int64(q, 4);
		rec.last_seen = sqlite3_column_int64(q, 5);
		rec.expires = sqlite3_column_int64(q, 6);
		rec.label = (const char *)sqlite3_column_text(q, 7);
		if (h == NULL || rec.state == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		(*seen)++;
		if (fn(h, &rec, ud) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	rc = rc == SQLITE_DONE ? CRUMB_OK : fail(ss, rc);
	sqlite3_reset(q);
	return rc;
}

static int
s_import(void *ctx, const uint8_t *hash, const crumb_record *rec,
    int64_t now, int *written)
{
	sstore *ss = ctx;
	sqlite3_stmt *q = admin(ss, A_IMPORT);
	const char *label = rec->label;
	int rc;

	*written = 0;
	if (q == NULL)
		return CRUMB_E_STORE;
	if (label != NULL && *label == '\0')
		label = NULL;
	bind_hash(q, 1, hash);
	bind_text(q, 2, rec->state, rec->state_len);
	sqlite3_bind_int64(q, 3, rec->version);
	bind_text(q, 4, rec->user, rec->user != NULL ? strlen(rec->user) : 0);
	sqlite3_bind_int64(q, 5, rec->created);
	sqlite3_bind_int64(q, 6, rec->last_seen);
	sqlite3_bind_int64(q, 7, rec->expires);
	bind_text(q, 8, label, label != NULL ? strlen(label) : 0);
	sqlite3_bind_int64(q, 9, now);
	rc = run_write(ss, q);
	if (rc == CRUMB_OK)
		*written = sqlite3_changes(ss->db) == 1;
	return rc;
}

/*
 * SQLite's own busy handler sleeps longer and longer (up to 100 ms a
 * time), so a writer that keeps missing the lock while others commit
 * back to back can wait far past its turn.  Polling every quarter of a
 * millisecond keeps the wait close to the time the lock is really held;
 * the limit is measured on the monotonic clock, not counted in retries.
 */
static int
on_busy(void *ctx, int count)
{
	sstore *ss = ctx;
	struct timespec now, nap = { 0, 250000 };
	long waited_ms;

	if (ss->no_wait)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		ss->busy_since = now;
	waited_ms = (now.tv_sec - ss->busy_since.tv_sec) * 1000L +
	    (now.tv_nsec - ss->busy_since.tv_nsec) / 1000000L;
	if (waited_ms >= ss->busy_ms)
		return 0;
	nanosleep(&nap, NULL);
	return 1;
}

/*
 * Checkpoints.  SQLite's automatic checkpoint is passive: it copies what
 * no reader still needs, but under steady traffic from several workers
 * some reader always holds an older snapshot, the log never starts over
 * and grows without bound (130 MB seen for a one-row table).  So past
 * WAL_LONG pages the committing connection also waits, briefly (reads
 * are short), for the readers to move on and truncates the log.
 *
 * Each checkpoint ends in fdatasync() of the log and the database, the
 * dearest thing a commit can do (about as much CPU as the whole rest of
 * a request on a small VM), and it copies every page changed since the
 * last one.  SQLite's own rule checkpoints on EVERY commit once the log
 * is past its threshold, and when the log does not start over that is
 * every commit.  So a connection checkpoints only after WAL_AUTO more
 * pages than at its own last checkpoint; 4000 pages (16 MiB of log)
 * rather than SQLite's 1000 because a hot session's page, written
 * many times in between, is then copied once instead of four times
 * (at a million sessions, writes cost 1.6x those at a thousand with
 * 1000, 1.2x with 4000).  The price: the commit that checkpoints waits
 * for up to 16 MiB to reach the disk (about 25 ms here).
 *
 * A purge writes thousands of scattered pages, and the request whose
 * commit then crossed WAL_AUTO paid for copying them all (60 ms seen).
 * The purging connection checkpoints its own pages instead, every
 * WAL_PURGE pages: maintenance pays for its own writes.  After a
 * checkpoint that a reader cut short, the next try comes WAL_RETRY
 * pages later.
 */
#define WAL_AUTO 4000
#define WAL_LONG 8000
#define WAL_PURGE 1000
#define WAL_RETRY 100

/* Decides; the checkpoint itself runs in leave(), a passive one after
 * the gate is left: inside, every other writer would wait for its
 * fsync() too (the worst round trip during a purge: 18 ms, not 20-23). */
static int
on_commit(void *ctx, sqlite3 *db, const char *name, int pages)
{
	sstore *ss = ctx;
	int every;

	(void)db;
	(void)name;
	if (pages < ss->ckpt_pages) {
		ss->ckpt_pages = 0;     /* the log has started over */
		ss->ckpt_short = 0;
	}
	every = ss->ckpt_short ? WAL_RETRY : ss->purging ? WAL_PURGE : WAL_AUTO;
	if (pages >= WAL_LONG)
		ss->ckpt_mode = SQLITE_CHECKPOINT_TRUNCATE;
	else if (pages - ss->ckpt_pages >= every)
		ss->ckpt_mode = SQLITE_CHECKPOINT_PASSIVE;
	else
		return SQLITE_OK;
	ss->ckpt_log = pages;
	return SQLITE_OK;
}

static void
checkpoint(sstore *ss)
{
	sqlite3 *db = ss->db;
	const char *name = "main";
	int mode = ss->ckpt_mode, pages = ss->ckpt_log, log = 0, done = 0;

	ss->ckpt_mode = -1;
	if (sqlite3_wal_checkpoint_v2(db, name, mode, &log, &done) != SQLITE_OK)
		log = done = 0;
	ss->ckpt_pages = mode == SQLITE_CHECKPOINT_TRUNCATE ? 0 : pages;
	/* A reader held part of the log back: try again soon. */
	ss->ckpt_short = mode == SQLITE_CHECKPOINT_PASSIVE && done < log;
	/* All copied: start the log over now, if no reader is in it (not
	 * waiting for one).  Left to itself, SQLite starts over only when
	 * a writer begins right after a complete checkpoint, which under
	 * steady traffic from several processes is seldom. */
	if (mode == SQLITE_CHECKPOINT_PASSIVE && log > 0 && done == log) {
		ss->no_wait = 1;
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART,
		    NULL, NULL);
		ss->no_wait = 0;
	}
}

static const char *
s_errmsg(void *ctx)
{
	return ((sstore *)ctx)->msg;
}

static void
s_close(void *ctx)
{
	sstore *ss = ctx;
	size_t i;

	if (ss == NULL)
		return;
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(ss->q[i]);
	for (i = 0; i < A_COUNT; i++)
		sqlite3_finalize(ss->admin[i]);
	sqlite3_close(ss->db);
	crumb_gate_close(ss->gate);
	free(ss->state);
	free(ss->user);
	free(ss->label);
	free(ss);
}

static int
s_lock(void *ctx, const uint8_t *hash)
{
	sstore *ss = ctx;

	int rc;

	(void)hash;     /* SQLite locks the whole database */
	if (ss->in_txn)
		return CRUMB_E_STATE;
	if ((rc = enter(ss)) != CRUMB_OK)
		return rc;
	if ((rc = run(ss, ss->q[Q_BEGIN])) != CRUMB_OK)
		return leave(ss, rc);
	ss->in_txn = 1;
	return CRUMB_OK;
}

static int
s_unlock(void *ctx, int commit)
{
	sstore *ss = ctx;
	int rc;

	if (!ss->in_txn)
		return CRUMB_E_STATE;
	ss->in_txn = 0;
	if (sqlite3_get_autocommit(ss->db))
		return leave(ss, CRUMB_OK); /* already ended (rolled back) */
	rc = run(ss, ss->q[commit ? Q_COMMIT : Q_ROLLBACK]);
	if (rc != CRUMB_OK && !sqlite3_get_autocommit(ss->db))
		run(ss, ss->q[Q_ROLLBACK]);
	return leave(ss, rc);
}

static const crumb_store_ops sqlite_ops = {
	s_create, s_load, s_update, s_touch, s_remove, s_change_id, s_purge,
	s_user_remove, s_user_list, s_errmsg, s_close, s_lock, s_unlock,
	s_set_label, s_stats, s_scan, s_import,
};

/* *has: does the table have the label column? */
static int
has_label(sstore *ss, int *has)
{
	sqlite3_stmt *q;
	int rc;

	*has = 0;
	rc = sqlite3_prepare_v2(ss->db, "SELECT 1 FROM "
	    "pragma_table_info('crumb_sessions') WHERE name = 'label'", -1,
	    &q, NULL);
	if (rc != SQLITE_OK)
		return fail(ss, rc);
	rc = sqlite3_step(q);
	*has = rc == SQLITE_ROW;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? CRUMB_OK : fail(ss, rc);
	sqlite3_finalize(q);
	return rc;
}

/* A database made before labels has no label column (the schema's
 * CREATE TABLE IF NOT EXISTS leaves an old table as it is): add it.
 * Asked again inside the write transaction, as another process may be
 * adding it at the same moment. */
static int
add_label_column(sstore *ss)
{
	int has, rc, src;

	if ((rc = has_label(ss, &has)) != CRUMB_OK || has)
		return rc;
	if ((src = sqlite3_exec(ss->db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL)) != SQLITE_OK)
		return fail(ss, src);
	if ((rc = has_label(ss, &has)) == CRUMB_OK && !has &&
	    (src = sqlite3_exec(ss->db, "ALTER TABLE crumb_sessions "
	    "ADD COLUMN label TEXT", NULL, NULL, NULL)) != SQLITE_OK)
		rc = fail(ss, src);
	if (rc == CRUMB_OK && (src = sqlite3_exec(ss->db, "COMMIT", NULL, NULL,
	    NULL)) != SQLITE_OK)
		rc = fail(ss, src);
	if (!sqlite3_get_autocommit(ss->db))
		sqlite3_exec(ss->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Files deleted or replaced under a running process.  SQLite keeps its
 * files open by descriptor: once the database or its -wal is unlinked
 * (an operator's rm, a deploy script's mv of a new file over it), every
 * write goes into a file nobody will open again and is lost at the next
 * start, while requests go on answering 200.  So, at most once a second
 * (two stat() calls and a 16-byte read on SQLite's own descriptor),
 * each connection checks that the paths still name the files it has
 * open and that the database still starts with SQLite's header.  Once
 * that fails, every call fails the same way (the program answers 503)
 * until the store is opened again, and one line goes to stderr.  Only
 * stat() and SQLite's descriptor: opening and closing a descriptor of
 * our own on the database would drop SQLite's POSIX locks.
 */
#define WATCH_NS 1000000000L
/* A clock read per call must cost next to nothing: the coarse one. */
#ifndef CLOCK_MONOTONIC_COARSE
#define CLOCK_MONOTONIC_COARSE CLOCK_MONOTONIC
#endif

static const char sqlite_magic[16] = "SQLite format 3";

/* The identity of the file at path (stat() follows symlinks, as SQLite
 * did when it resolved the name at open): 0, -1 when there is no such
 * file, 1 when stat() failed otherwise (that proves nothing). */
static int
file_id(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR ? -1 : 1;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/* Read the first bytes of the database through SQLite's descriptor:
 * 1 a database header, 0 something else, -1 too short or unreadable. */
static int
read_header(sstore *ss)
{
	sqlite3_file *f = NULL;
	char head[sizeof(sqlite_magic)];

	if (sqlite3_file_control(ss->db, "main", SQLITE_FCNTL_FILE_POINTER,
	    &f) != SQLITE_OK || f == NULL || f->pMethods == NULL)
		return -1;
	if (f->pMethods->xRead(f, head, (int)sizeof(head), 0) != SQLITE_OK)
		return -1;
	return memcmp(head, sqlite_magic, sizeof(head)) == 0;
}

/* After open: what the paths name now is what the connection has. */
static void
watch_start(sstore *ss)
{
	const char *db = sqlite3_db_filename(ss->db, "main");

	if (db == NULL || *db == '\0' ||
	    file_id(db, &ss->db_dev, &ss->db_ino) != 0)
		return;
	ss->watching = 1;
	ss->wal_known = file_id(sqlite3_filename_wal(db), &ss->wal_dev,
	    &ss->wal_ino) == 0;
	ss->had_header = read_header(ss) == 1;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ss->watched);
}

static int
lost(sstore *ss, int rc, const char *what, const char *path)
{
	ss->lost = rc;
	crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: %s %s while the store "
	    "was open; every call fails until it is opened again (never "
	    "delete, move or copy over a live store)", path, what);
	fprintf(stderr, "crumb: %s\n", ss->msg);
	return rc;
}

static int
watch_files(sstore *ss)
{
	struct timespec now;
	const char *db, *wal;
	dev_t dev;
	ino_t ino;
	int head, found;

	if (ss->lost) {
		/* the message stays the one lost() wrote */
		return ss->lost;
	}
	if (!ss->watching)
		return CRUMB_OK;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if ((now.tv_sec - ss->watched.tv_sec) * 1000000000L +
	    (now.tv_nsec - ss->watched.tv_nsec) < WATCH_NS)
		return CRUMB_OK;
	ss->watched = now;
	db = sqlite3_db_filename(ss->db, "main");
	wal = sqlite3_filename_wal(db);
	if ((found = file_id(db, &dev, &ino)) < 0)
		return lost(ss, CRUMB_E_CANTOPEN, "was deleted", db);
	if (found == 0 && (dev != ss->db_dev || ino != ss->db_ino))
		return lost(ss, CRUMB_E_CANTOPEN, "was replaced by another file",
		    db);
	if (!ss->wal_known) {
		ss->wal_known = file_id(wal, &ss->wal_dev, &ss->wal_ino) == 0;
	} else if ((found = file_id(wal, &dev, &ino)) < 0) {
		return lost(ss, CRUMB_E_CANTOPEN, "was deleted", wal);
	} else if (found == 0 && (dev != ss->wal_dev || ino != ss->wal_ino)) {
		return lost(ss, CRUMB_E_CANTOPEN, "was replaced by another file",
		    wal);
	}
	head = read_header(ss);
	if (head == 1)
		ss->had_header = 1;
	else if (ss->had_header)
		return lost(ss, CRUMB_E_CORRUPT, "is no longer a SQLite "
		    "database (overwritten or truncated)", db);
	return CRUMB_OK;
}

/*
 * Create the database file before SQLite does, with the mode asked for
 * whatever the umask: SQLite gives the -wal and -shm files (and the gate
 * takes) the database file's mode, so this one decision covers them all.
 * A file already there is left as it is, but a warning names one that
 * other users can read or write, since it holds every session's state.
 */
static int
create_file(sstore *ss, const char *path, mode_t mode)
{
	struct stat st;
	int fd;

	/* In-memory and temporary databases have no file. */
	if (*path == '\0' || strcmp(path, ":memory:") == 0)
		return CRUMB_OK;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd >= 0) {
		int rc = fchmod(fd, mode) == 0 ? CRUMB_OK : CRUMB_E_CANTOPEN;

		if (rc != CRUMB_OK)
			crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: %s: %s",
			    path, strerror(errno));
		close(fd);
		return rc;
	}
	if (errno != EEXIST) {
		int err = errno;

		crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: %s: %s", path,
		    strerror(err));
		return err == ENOSPC || err == EDQUOT ? CRUMB_E_FULL :
		    err == EROFS ? CRUMB_E_READONLY : CRUMB_E_CANTOPEN;
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		fprintf(stderr, "crumb: warning: %s is %s by other users "
		    "(mode %04o); chmod %o it\n", path,
		    st.st_mode & S_IROTH ? "readable" : "writable",
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
	return CRUMB_OK;
}

static int
setup(sstore *ss, const char *path, int busy_ms, unsigned flags)
{
	char pragma[64];
	int rc, i;

	if ((rc = create_file(ss, path, flags & CRUMB_SQLITE_GROUP ? 0660 :
	    0600)) != CRUMB_OK)
		return rc;
	rc = sqlite3_open_v2(path, &ss->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return fail(ss, rc);
	sqlite3_extended_result_codes(ss->db, 1);
	/* SQLite quietly falls back to read-only for a write-protected
	 * file; a session store that cannot write is a failure now. */
	if (sqlite3_db_readonly(ss->db, "main") == 1) {
		crumb_fmt(ss->msg, sizeof(ss->msg), "sqlite: %s is read-only",
		    path);
		return CRUMB_E_READONLY;
	}
	ss->busy_ms = busy_ms;
	ss->ckpt_mode = -1;
	sqlite3_busy_handler(ss->db, on_busy, ss);
	sqlite3_wal_hook(ss->db, on_commit, ss);
	crumb_fmt(pragma, sizeof(pragma), "PRAGMA synchronous=%s",
	    flags & CRUMB_SQLITE_FULL_SYNC ? "FULL" : "NORMAL");
	/* journal_size_limit: under steady load the WAL only restarts now
	 * and then; cut it back to 16 MiB (WAL_AUTO pages) when it does. */
	/* cache_size: 8 MiB of pages per connection keeps the B-tree's
	 * upper levels and a hot set of sessions in memory at a million
	 * records (the default, 2 MiB, made lookups there twice as slow). */
	if ((rc = sqlite3_exec(ss->db, "PRAGMA journal_mode=WAL; "
	    "PRAGMA journal_size_limit=16777216; PRAGMA cache_size=-8192",
	    NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(ss->db, pragma, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(ss->db, crumb_sqlite_schema, NULL, NULL,
	    NULL)) != SQLITE_OK)
		return fail(ss, rc);
	if ((rc = add_label_column(ss)) != CRUMB_OK)
		return rc;
	for (i = 0; i < Q_COUNT; i++) {
		rc = sqlite3_prepare_v3(ss->db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &ss->q[i], NULL);
		if (rc != SQLITE_OK)
			return fail(ss, rc);
	}
	ss->gate = crumb_gate_open(sqlite3_db_filename(ss->db, "main"));
	watch_start(ss);
	return CRUMB_OK;
}

CRUMB_API int
crumb_store_sqlite_open_v3(const char *path, int busy_ms, unsigned flags,
    crumb_store **out, char *errbuf, size_t errlen)
{
	sstore *ss;
	int rc;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (path == NULL || busy_ms < 0 ||
	    (flags & ~(unsigned)(CRUMB_SQLITE_FULL_SYNC | CRUMB_SQLITE_GROUP)))
		return CRUMB_E_INVAL;
	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return CRUMB_E_NOMEM;
	if ((rc = setup(ss, path, busy_ms, flags)) != CRUMB_OK ||
	    (rc = crumb_store_new(&sqlite_ops, ss, out)) != CRUMB_OK) {
		if (errbuf != NULL && errlen > 0)
			crumb_fmt(errbuf, errlen, "%s", ss->msg[0] != '\0' ?
			    ss->msg : crumb_strerror(rc));
		s_close(ss);
		return rc;
	}
	return CRUMB_OK;
}

CRUMB_API int
crumb_store_sqlite_open_v2(const char *path, int busy_ms, int full_sync,
    crumb_store **out, char *errbuf, size_t errlen)
{
	return crumb_store_sqlite_open_v3(path, busy_ms,
	    full_sync ? CRUMB_SQLITE_FULL_SYNC : 0, out, errbuf, errlen);
}

CRUMB_API int
crumb_store_sqlite_open(const char *path, crumb_store **out)
{
	return crumb_store_sqlite_open_v3(path, 5000, 0, out, NULL, 0);
}
