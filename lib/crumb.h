/*
 * crumb: sessions for CGI and FastCGI programs in C.
 *
 * One public header.  Every public name starts with crumb_ / CRUMB_.
 * Families: crumb_config_* (per-process settings and keys),
 * crumb_store_* (where server-side state lives), crumb_session_* (one
 * request's session), crumb_state_* (a key -> JSON map: server-side or
 * client-side state), crumb_cookie_* (any request / response cookie),
 * crumb_form_* (urlencoded forms), crumb_user_* (sessions of a user).
 *
 * Ownership: "new" means the caller owns the result and frees it with
 * the function named; "borrowed" means the library owns it and says how
 * long it stays valid.  Every *_free(NULL) does nothing.
 *
 * Threads: objects are not locked.  Use one crumb_config, crumb_store and
 * crumb_session per thread (a FastCGI worker is usually one thread).
 */
#ifndef CRUMB_H
#define CRUMB_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_VERSION_MAJOR 0
#define CRUMB_VERSION_MINOR 1
#define CRUMB_VERSION_PATCH 0
#define CRUMB_VERSION_STRING "0.1.0"

/* Returns CRUMB_VERSION_STRING of the library actually linked. */
const char *crumb_version(void);

/* ------------------------------------------------------------------ */
/* Errors.  Values are never renumbered; new ones are only appended.  */

typedef enum crumb_err {
	CRUMB_OK = 0,
	CRUMB_E_NOMEM,        /* out of memory */
	CRUMB_E_INVAL,        /* bad argument (NULL, bad name, wrong length) */
	CRUMB_E_STATE,        /* call not allowed now (e.g. after finish) */
	CRUMB_E_NOT_FOUND,    /* no such key / cookie / form field */
	CRUMB_E_TYPE,         /* value exists but has another JSON type */
	CRUMB_E_INVALIDATED,  /* session invalidated: operation ignored */
	CRUMB_E_TOO_LARGE,    /* cookie would exceed 4096 bytes, or input too big */
	CRUMB_E_CRYPTO,       /* libgcrypt failed */
	CRUMB_E_STORE,        /* store failed (see crumb_session_errmsg) */
	CRUMB_E_BUSY,         /* store locked past its busy timeout */
	CRUMB_E_READONLY,     /* store is read-only */
	CRUMB_E_FULL,         /* store's disk or quota is full */
	CRUMB_E_CORRUPT,      /* store file is damaged or not a database */
	CRUMB_E_CANTOPEN,     /* store cannot be opened (missing directory...) */
	CRUMB_E_CONFLICT,     /* concurrent update: retries exhausted */
	CRUMB_E_PARSE,        /* malformed input (form body, request body, JSON) */
	CRUMB_E_IO,           /* reading the request body or writing the headers failed */
	CRUMB_E_NOKEY,        /* no current key configured */
	CRUMB_E_KEYFILE,      /* key file missing, unreadable, malformed or
	                       * open to others (see crumb_config_errmsg) */
	CRUMB_E_UNSUPPORTED   /* the store lacks this optional operation */
} crumb_err;

/* Static English text for a code; never NULL. */
const char *crumb_strerror(int err);

/* Frees memory the library handed out as "new, free with crumb_free". */
void crumb_free(void *p);

/* ------------------------------------------------------------------ */
/* Store: a table of functions, so that other backends (PostgreSQL,   */
/* Redis) plug in without touching the core.                          */

typedef struct crumb_store crumb_store;

#define CRUMB_HASH_LEN 32    /* SHA-256 of the session ID */
#define CRUMB_LABEL_MAX 64   /* bytes of a session's label */

/* A stored record as the core sees it.  Strings are borrowed from the
 * store and valid until the next call on that store. */
typedef struct crumb_record {
	const char *state;     /* JSON object text */
	size_t state_len;
	const char *user;      /* NULL when not tied to a user */
	int64_t version;       /* bumped by every successful update */
	int64_t created;       /* unix seconds */
	int64_t last_seen;
	int64_t expires;
	/* The label (set_label), NULL or "" when none; borrowed like
	 * state.  A backend that keeps no labels leaves it NULL. */
	const char *label;
} crumb_record;

/* One session of a user, for crumb_user_sessions(). */
typedef struct crumb_session_info {
	char id_hash[2 * CRUMB_HASH_LEN + 1]; /* hex of the stored hash */
	int64_t created;
	int64_t last_seen;
	int64_t expires;
	/* crumb_session_set_label's text: valid UTF-8 without control
	 * characters, "" when none (or the store keeps no labels).  Not
	 * HTML-escaped. */
	char label[CRUMB_LABEL_MAX + 1];
} crumb_session_info;

typedef int (*crumb_info_fn)(const crumb_session_info *info, void *ud);

/* What a store holds, for crumb_store_stats. */
typedef struct crumb_store_counts {
	uint64_t records;    /* every record held, expired or not */
	uint64_t live;       /* records with expires > now */
	uint64_t expired;    /* expires <= now, not purged yet (records - live) */
	uint64_t users;      /* distinct users of the live records (NULL
	                      * users not counted) */
	int64_t bytes;       /* the store's size on disk or in the database,
	                      * -1 when the store cannot tell */
} crumb_store_counts;

/* One record handed to a crumb_store_scan callback: hash is its
 * CRUMB_HASH_LEN bytes, rec every field (label NULL or "" when none).
 * Both are the store's for the call only: copy what you keep.  Return
 * 0 to go on, non-zero to stop.  fn must not call the store. */
typedef int (*crumb_scan_fn)(const uint8_t *hash, const crumb_record *rec,
    void *ud);

/*
 * Backend operations: what a store must do, written for whoever
 * implements one.  tests/test-conformance.c checks it against every
 * built store (run it with your store's URL).
 *
 * Calls.  The core calls one store from one thread at a time, never
 * two ops at once on one ctx.  Each process opens its own store (a
 * FastCGI worker opens it once and serves many requests with it), so
 * several processes reach the same records at once: every op is
 * atomic on its own (a reader never sees a record half written), and
 * only lock..unlock groups ops.
 *
 * Records.  A record is found by hash, the CRUMB_HASH_LEN bytes of the
 * SHA-256 of the session ID (store it as given; the ID itself never
 * reaches the store).  It holds state (the JSON text, stored and handed
 * back byte for byte with its length; the core sends up to a few MiB),
 * user (NULL, or UTF-8 text of 1..CRUMB_USER_MAX bytes that may hold
 * quotes, backslashes and any non-control character, compared byte for
 * byte), version, created, last_seen, expires and, when set_label is
 * implemented, label.
 *
 * Time.  now and expires are unix seconds (UTC), 0..year 9999.  now is
 * the caller's clock, which a program may inject: every expiry decision
 * uses the now argument, never the backend's own clock (that of another
 * host or of the database server).  A record with expires <= now does
 * not exist for load, update, touch, change_id and user_list: they act
 * as if it were absent.  It is still there for create (see there),
 * remove, user_remove and purge until something deletes it.
 * created is set once by create (= now) and never changes: the core
 * ends a session once created is older than the absolute lifetime, so
 * load must return the stored value.  last_seen is set to now by
 * create, update, touch and change_id, by nothing else.
 *
 * Version (compare-and-swap): create stores 1; every successful update
 * adds exactly 1; touch, change_id and set_label leave it as it is.
 *
 * Errors.  Each op returns CRUMB_OK or one crumb_err; what it means to
 * the core:
 *   CRUMB_E_NOT_FOUND  no live record (absent or expired).  Only where
 *                      an op below says so.  The core takes it as "the
 *                      session ended elsewhere", not as a failure.
 *   CRUMB_E_CONFLICT   update: the stored version is not the one given;
 *                      create, update with new_hash, change_id: a live
 *                      record holds the hash (never overwrite it; an
 *                      expired one there may be replaced or refused
 *                      likewise: 256-bit IDs make this a bug, not a
 *                      race).
 *                      Nothing changed.  The core reloads and retries
 *                      (replay of a request's changes, the unlocked
 *                      crumb_session_atomic, crumb_user_revoke); it
 *                      never retries any other error.
 *   CRUMB_E_BUSY       the record or store stayed locked by others, or
 *                      the server did not answer, for the store's
 *                      timeout; wait up to that timeout, then say BUSY.
 *   CRUMB_E_CANTOPEN   cannot reach or open the store (connection
 *                      refused, missing file or directory).
 *   CRUMB_E_READONLY, CRUMB_E_FULL, CRUMB_E_CORRUPT, CRUMB_E_NOMEM
 *                      as their names say.
 *   CRUMB_E_STORE      any other failure.
 * Any error but NOT_FOUND and CONFLICT fails the request (sticky, see
 * crumb_session_begin: the program answers 503), so the op must have
 * changed nothing, or, when a connection was lost with the outcome
 * unknown, at most what the op asked for (never a half-written record).
 * Put the detail in errmsg.
 *
 * Lost connection.  An op whose connection breaks returns an error for
 * that call (CRUMB_E_STORE, CRUMB_E_CANTOPEN or CRUMB_E_BUSY), never
 * blocks longer than the store's timeout, and never crashes; a later
 * call reconnects by itself (the core never reopens a store), and a
 * transaction that was open (lock) is gone with the connection: the
 * calls up to unlock fail, unlock cleans up and returns an error.
 *
 * Strings handed out (load's state, user and label, user_list's info,
 * errmsg) are borrowed from the store: valid until the next call on it.
 */
typedef struct crumb_store_ops {
	/* Insert a new record: version 1, created = last_seen = now,
	 * the given expires (> now), user NULL or text, no label.
	 * CRUMB_E_CONFLICT, and nothing changes, when a live record holds
	 * hash. */
	int (*create)(void *ctx, const uint8_t *hash, const char *state,
	    size_t len, const char *user, int64_t now, int64_t expires);
	/* Fill every field of out (label NULL when none), or
	 * CRUMB_E_NOT_FOUND when absent or expired. */
	int (*load)(void *ctx, const uint8_t *hash, int64_t now,
	    crumb_record *out);
	/* Compare-and-swap: only when the live record's version equals
	 * version, replace state and user (NULL unties it), version + 1,
	 * last_seen = now, expires as given (0 keeps the stored expiry)
	 * and, when new_hash is not NULL, move the record to new_hash (the
	 * old hash is then absent) - all or nothing.  CRUMB_E_NOT_FOUND
	 * when absent or expired (checked first), else CRUMB_E_CONFLICT
	 * when the version differs or a live record holds new_hash.  The
	 * label stays. */
	int (*update)(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
	    int64_t version, const char *state, size_t len, const char *user,
	    int64_t now, int64_t expires);
	/* Set expires (it may also move earlier) and last_seen = now of
	 * the live record; nothing else.  CRUMB_E_NOT_FOUND when absent
	 * or expired. */
	int (*touch)(void *ctx, const uint8_t *hash, int64_t now,
	    int64_t expires);
	/* Delete the record, expired or not; absent is CRUMB_OK. */
	int (*remove)(void *ctx, const uint8_t *hash);
	/* Rename (cycle the ID): move the live record to new_hash with
	 * last_seen = now, all else kept (version too); the old hash is
	 * then absent.  CRUMB_E_NOT_FOUND when absent or expired,
	 * CRUMB_E_CONFLICT when a live record holds new_hash. */
	int (*change_id)(void *ctx, const uint8_t *old_hash,
	    const uint8_t *new_hash, int64_t now);
	/* Delete at most batch (>= 1) records with expires <= now, any of
	 * them, in one short transaction of its own, and set *deleted to
	 * the exact number deleted (0 on failure).  crumb_store_purge calls
	 * it again while *deleted == batch, so fewer than batch means "no
	 * expired record left".  Live records are never touched. */
	int (*purge)(void *ctx, int64_t now, unsigned batch,
	    uint64_t *deleted);
	/* Delete every record of user (byte-equal), expired or not; set
	 * *deleted to the number deleted (0 on failure).  No user is
	 * CRUMB_OK with 0. */
	int (*user_remove)(void *ctx, const char *user, uint64_t *deleted);
	/* Call fn once for each live record of user, most recently seen
	 * (last_seen) first; stop, returning CRUMB_OK, when fn returns
	 * non-zero.  info and its fields are the store's for the call
	 * only; id_hash is the lower-case hex of the hash, label "" when
	 * none (the label cleaned as crumb_session_set_label does).  fn
	 * does not call the store. */
	int (*user_list)(void *ctx, const char *user, int64_t now,
	    crumb_info_fn fn, void *ud);
	/* Detail of the last failure (never a password), or ""; borrowed
	 * until the next call.  May be NULL: no detail. */
	const char *(*errmsg)(void *ctx);
	/* Release ctx and its connection.  Never called inside lock..
	 * unlock.  May be NULL. */
	void (*close)(void *ctx);
	/* Optional, both or neither (NULL: crumb_session_atomic retries on
	 * CONFLICT instead).  lock starts one exclusive transaction around
	 * the record of hash (the backend may lock more: SQLite locks the
	 * database with BEGIN IMMEDIATE; PostgreSQL would use SELECT ...
	 * FOR UPDATE), waiting for other holders up to its timeout
	 * (CRUMB_E_BUSY).  Until unlock the core makes, on this ctx, only
	 * load of hash, then update, change_id or remove of it, or create
	 * of a new hash when it was absent; they are part of the
	 * transaction and see each other's effects,
	 * and no other process changes the record meanwhile, so update
	 * does not conflict.  unlock(commit != 0) makes them durable, or
	 * returns an error and none took effect; unlock(0) undoes them
	 * all.  When lock fails the core does not call unlock; after a
	 * successful lock it always does, also when ops in between failed.
	 * lock inside lock is CRUMB_E_STATE, and unlock without lock. */
	int (*lock)(void *ctx, const uint8_t *hash);
	int (*unlock)(void *ctx, int commit);
	/* Optional (NULL: labels are not kept, listings show ""): keep
	 * label (valid UTF-8, at most CRUMB_LABEL_MAX bytes, "" for none)
	 * with the record: through update, touch and change_id, handed
	 * out by load (crumb_record.label) and user_list (info->label).
	 * Changes neither version, last_seen nor expires.
	 * CRUMB_E_NOT_FOUND when the record is absent (an expired record
	 * may be labelled or be NOT_FOUND); other failures as for
	 * update. */
	int (*set_label)(void *ctx, const uint8_t *hash, const char *label);
	/*
	 * The operations below are for administration (crumbctl), not for
	 * requests; the core never calls them.  Each is optional: NULL
	 * makes its public wrapper return CRUMB_E_UNSUPPORTED.  None of
	 * them is called inside lock..unlock.
	 */
	/* Count, at now, in one consistent read (one statement or
	 * snapshot, so live + expired == records): every record, the live
	 * ones (expires > now), the expired ones not purged yet, and the
	 * distinct users (byte-equal) among the live records (a store that
	 * cannot read all at once, Redis, may count step by step, each
	 * record once, live or expired); bytes is
	 * what the store occupies (SQLite: the database file plus its log;
	 * PostgreSQL: pg_total_relation_size of the table, indexes
	 * included; Redis: MEMORY USAGE of its keys), or -1 when it
	 * cannot tell.  On failure out is undefined. */
	int (*stats)(void *ctx, int64_t now, crumb_store_counts *out);
	/* One page of a walk over the live records: call fn, in ascending
	 * order of hash (compared as bytes, memcmp), for each record with
	 * expires > now whose hash is greater than after (NULL: from the
	 * first), at most max (>= 1) of them, and set *seen to the number
	 * of calls made.  Stop at once, returning CRUMB_OK, when fn
	 * returns non-zero (that call counts in *seen).  The page is one
	 * short read of its own (no lock or snapshot held past the call),
	 * so a walk of a million records holds one page at a time;
	 * crumb_store_scan calls it again after the last hash seen while
	 * *seen == max.  The record passed to fn is borrowed for that call
	 * only; fn does not call the store.  On failure *seen is the
	 * number of calls made before it. */
	int (*scan)(void *ctx, const uint8_t *after, int64_t now, unsigned max,
	    crumb_scan_fn fn, void *ud, unsigned *seen);
	/* Store rec under hash exactly as given (state byte for byte with
	 * state_len, user, version, created, last_seen, expires and, when
	 * set_label is implemented, label: NULL or "" for none), unless a
	 * live record (expires > now) holds hash with a version >=
	 * rec->version: then nothing changes and *written is 0.  Else an
	 * absent record is inserted, and an expired one or a live one of
	 * an older version is replaced whole; *written is 1.  All or
	 * nothing, one atomic step (two importers of one hash never both
	 * insert, nor leave a half-written record).  The caller has
	 * checked rec (crumb_store_import).  *written is 0 on failure. */
	int (*import)(void *ctx, const uint8_t *hash, const crumb_record *rec,
	    int64_t now, int *written);
} crumb_store_ops;

/* Wrap a backend.  ops is borrowed (keep it static); ctx is owned and
 * released by ops->close in crumb_store_free.  New; crumb_store_free. */
int crumb_store_new(const crumb_store_ops *ops, void *ctx,
    crumb_store **out);
void crumb_store_free(crumb_store *store);
/* Borrowed; valid until the next call on store. */
const char *crumb_store_errmsg(const crumb_store *store);

/* SQLite backend: opens (creating if needed) the database file once per
 * process, WAL mode, busy timeout, statements prepared once.  The schema
 * is sql/sqlite-store.sql.  A failure gives no detail (there is no store
 * to ask): open with _v2 or _v3 and an errbuf to log why.
 * New; crumb_store_free. */
int crumb_store_sqlite_open(const char *path, crumb_store **out);
/* Like crumb_store_sqlite_open with a busy timeout in milliseconds
 * (default 5000) and synchronous=FULL when full_sync is non-zero
 * (default NORMAL: durable across process crashes, not power loss).
 * On failure, when errbuf is not NULL, the reason (SQLite's message) is
 * written there, NUL-terminated, at most errlen bytes.  A file that
 * SQLite could only open read-only is CRUMB_E_READONLY, not a store that
 * fails later. */
int crumb_store_sqlite_open_v2(const char *path, int busy_ms, int full_sync,
    crumb_store **out, char *errbuf, size_t errlen);

#define CRUMB_SQLITE_FULL_SYNC 0x1  /* synchronous=FULL (v2's full_sync) */
#define CRUMB_SQLITE_GROUP     0x2  /* files the library creates: 0660 */
/* Like crumb_store_sqlite_open_v2 with flags (an unknown flag is
 * CRUMB_E_INVAL).  Files: the database file, when missing, is created
 * with mode 0600 (0660 with CRUMB_SQLITE_GROUP) whatever the umask, and
 * its -wal, -shm and -gate files get the database file's mode.  A
 * database file that already exists keeps its mode; when other users
 * may read or write it, the open still succeeds but one line goes to
 * stderr: "crumb: warning: PATH is readable by other users (mode 0644);
 * chmod 600 it".  crumb_store_sqlite_open and _v2 behave the same with
 * flags 0 (or CRUMB_SQLITE_FULL_SYNC).  Files deleted or replaced
 * under an open store: at most once a second, each call that reaches
 * the database first checks that the path still names the database and
 * -wal files the connection has open, and that the database still
 * starts with SQLite's header.  When not, that call and every later one
 * on this store fail: CRUMB_E_CANTOPEN (deleted or replaced) or
 * CRUMB_E_CORRUPT (no longer a database), and one line goes to stderr;
 * only a new crumb_store_sqlite_open* clears it.  New; crumb_store_free. */
int crumb_store_sqlite_open_v3(const char *path, int busy_ms, unsigned flags,
    crumb_store **out, char *errbuf, size_t errlen);

/* PostgreSQL backend (libpq), for sessions shared by several hosts.
 * conninfo is a libpq connection string: a URL
 * ("postgresql://user:pw@host:5432/db?sslmode=verify-full") or
 * "key=value" pairs ("host=/run/postgresql dbname=app").  One connection
 * per store handle (use one per process or thread), its statements
 * prepared once per connection.  The table is sql/postgresql-store.sql;
 * when it is missing it is created at open (a role that may not create
 * tables needs it made by hand, and then only uses it).  The table is
 * looked up and created unqualified, in the first schema of search_path:
 * add "options=-csearch_path=myschema" (URL: "?options=-csearch_path%3D
 * myschema") to use another.  The database should be UTF-8 (the state
 * is sent as UTF-8 text).  PgBouncer only in session pooling mode
 * (prepared statements live on the server connection).
 * timeout_ms (0: 5000) bounds every call: the server's statement_timeout
 * and lock_timeout, libpq's connect_timeout (seconds, at least 2) and
 * tcp_user_timeout, unless conninfo sets them; the client gives up one
 * second after it and closes the connection.  Errors: CRUMB_E_CANTOPEN
 * when the server cannot be reached or the login fails (also for a
 * connection lost during a call), CRUMB_E_BUSY for a timeout or a row
 * locked past it, CRUMB_E_READONLY (read-only transaction or standby),
 * CRUMB_E_FULL (disk full), CRUMB_E_CONFLICT (serialization failure,
 * deadlock, duplicate ID), CRUMB_E_INVAL for a malformed conninfo or a
 * negative timeout, CRUMB_E_STORE otherwise; the detail goes to errbuf
 * (at open) or crumb_store_errmsg, and never holds the password.  A
 * connection that broke is replaced at the start of the next call: a
 * restarted server is used again without restarting the program.  A
 * library built without PostgreSQL returns CRUMB_E_CANTOPEN and says so
 * in errbuf.  New; crumb_store_free. */
int crumb_store_postgres_open(const char *conninfo, int timeout_ms,
    crumb_store **out, char *errbuf, size_t errlen);

/* Redis backend (hiredis), for sessions shared by several hosts.  url
 * is "redis://[[user]:password@]host[:port][/db][?prefix=P&timeout=MS]"
 * (port 6379, db 0 by default) or "redis+unix:///path/to/socket
 * [?db=N&password=PW&prefix=P&timeout=MS]"; %-escapes are decoded.  Every key
 * starts with prefix (default "crumb:"), so that several programs share
 * one Redis: PREFIX "s:" HEX is a session's hash, PREFIX "u:" USER the
 * sorted set of a user's sessions by expiry.  One connection per store
 * handle (use one per process or thread); each write is one server-side
 * script (EVALSHA), one round trip.  Redis deletes a record when its
 * expires passes (a relative expiry from the caller's now, so an
 * injected clock still decides what is live).  Not for Redis Cluster
 * (a script touches several keys).  timeout_ms (0: 5000; the URL's
 * timeout= wins) bounds the connect and every call.  Errors:
 * CRUMB_E_CANTOPEN when the server cannot be reached, refuses the
 * login or the connection is lost during a call, CRUMB_E_BUSY for a
 * timeout (the connection is closed), CRUMB_E_READONLY (a replica),
 * CRUMB_E_FULL (maxmemory reached), CRUMB_E_INVAL for a malformed url
 * or a negative timeout, CRUMB_E_STORE otherwise; the detail goes to
 * errbuf (at open) or crumb_store_errmsg and never holds the password.
 * A connection that broke is replaced at the start of the next call.
 * crumb_store_stats and crumb_store_scan walk the keyspace by SCAN
 * steps of 1000 keys, each step's sessions read by one short script
 * (the server is never held longer): stats counts step by step, not in
 * one snapshot, keeping a copy of each distinct user; a scan keeps the
 * sorted list of every session's hash for the walk (32 bytes a
 * session, 32 MB for a million: hashes, never records).
 * A library built without hiredis returns CRUMB_E_CANTOPEN and says so
 * in errbuf.  New; crumb_store_free. */
int crumb_store_redis_open(const char *url, int timeout_ms,
    crumb_store **out, char *errbuf, size_t errlen);

/* In-memory backend: for tests and single-process programs.  NOT shared
 * between processes or FastCGI workers.  New; crumb_store_free. */
int crumb_store_memory_new(crumb_store **out);

/* Open the store a URL names, so that a program switches stores by
 * configuration (an environment variable, a config file), not by code.
 * url (copied where needed; the caller keeps it) is one of:
 *   sqlite:/var/lib/app/sessions.db   the SQLite store of that file
 *   sqlite:///var/lib/app/sessions.db the same
 *   sqlite:data/sessions.db           relative to the working directory
 *   /var/lib/app/sessions.db, ./sessions.db, sessions.db
 *                                     a bare path: the SQLite store of
 *                                     that file, the text taken as it
 *                                     is (no query, no %-escapes)
 *   memory:                           a new, empty in-memory store (per
 *                                     process: see crumb_store_memory_new)
 *   postgresql://user@host:5432/db?sslmode=verify-full, postgres://...
 *   host=/run/postgresql dbname=app   a libpq URL or "key=value"
 *                                     connection string: the PostgreSQL
 *                                     store, with a 5000 ms timeout,
 *                                     when this library was built with
 *                                     it (libpq reads the whole text)
 *   redis://:password@host:6379/0?prefix=app:&timeout=2000
 *   redis+unix:///run/redis/redis.sock?db=0&prefix=app:
 *                                     the Redis store, when this library
 *                                     was built with it (see
 *                                     crumb_store_redis_open)
 * A sqlite: URL's path is %-decoded (write '?' as %3F, '%' as %25) and
 * may end in a query of '&'-separated parameters (given twice, the
 * last one counts):
 *   busy_ms=N     0..3600000: how long a write waits for the lock
 *                 (default 5000; crumb_store_sqlite_open_v3's busy_ms)
 *   sync=full     synchronous=FULL (CRUMB_SQLITE_FULL_SYNC); sync=normal
 *                 is the default
 *   group=1       files created with mode 0660 (CRUMB_SQLITE_GROUP);
 *                 group=0 (0600) is the default
 * e.g. "sqlite:/var/lib/app/sessions.db?busy_ms=2000&sync=full".  An
 * authority other than the empty one (sqlite://host/...) is refused: a
 * SQLite store is a local file.  Schemes are matched without regard to
 * case.  A relative path whose first '/' comes after a ':' reads as a
 * scheme: write it "./a:b.db" or "sqlite:a:b.db".  A path that begins
 * with a libpq keyword and '=' ("dbname=x") reads as a connection
 * string: write it "./dbname=x".
 *
 * On success *out is new (crumb_store_free) and errbuf, when given,
 * holds "".  On failure *out is NULL and, when errbuf is not NULL and
 * errlen > 0, errbuf holds the reason, NUL-terminated, cut to errlen
 * bytes; a password given in url (user:PASSWORD@, password=) never
 * appears in it.  Errors: CRUMB_E_INVAL for a NULL url or out, an
 * empty url, an unknown scheme or a store this library was not built
 * with (errbuf names the stores it has: "unknown store URL scheme
 * \"mysql\": this crumb has sqlite, memory"), a bad query parameter or
 * a malformed sqlite: or redis URL; otherwise what the backend's open returns
 * (crumb_store_sqlite_open_v3: CRUMB_E_CANTOPEN, _READONLY, _FULL,
 * _CORRUPT, _BUSY, ...; crumb_store_memory_new: CRUMB_E_NOMEM). */
int crumb_store_open(const char *url, crumb_store **out, char *errbuf,
    size_t errlen);

/* Delete expired records in batches of batch (0: 250), each batch its
 * own transaction so that other requests interleave.  now 0 = time(). */
int crumb_store_purge(crumb_store *store, int64_t now, unsigned batch,
    uint64_t *deleted);
/* The same, calling fn (when not NULL) after each batch with the
 * number deleted so far (after the last batch too, then with the
 * total).  fn returning non-zero stops the purge after that batch,
 * and that value is returned (*deleted holds what was deleted).  For a
 * progress line; fn must not call the store. */
typedef int (*crumb_purge_fn)(uint64_t deleted, void *ud);
int crumb_store_purge_v2(crumb_store *store, int64_t now, unsigned batch,
    crumb_purge_fn fn, void *ud, uint64_t *deleted);

/* Administration: what crumbctl uses.  now 0 = time(); otherwise now
 * is unix seconds, 1..year 9999 (else CRUMB_E_INVAL).  A store whose
 * ops lack the operation returns CRUMB_E_UNSUPPORTED; store failures
 * as the store reports them (detail in crumb_store_errmsg). */

/* Fill *out with the store's counts at now (see crumb_store_counts).
 * CRUMB_E_INVAL for a NULL store or out.  On failure *out is zeroed
 * with bytes -1. */
int crumb_store_stats(crumb_store *store, int64_t now,
    crumb_store_counts *out);

/* Call fn once for each record live at now (expires > now), in
 * ascending order of hash, reading batch records at a time (0: 500),
 * each batch a short read of its own, so that a walk over a million
 * records neither holds them all in memory nor keeps the store locked.
 * Stops when fn returns non-zero and returns that value; otherwise
 * CRUMB_OK, or the store's error (fn has then seen part of the
 * records).  A record that stays unchanged during the walk is seen
 * exactly once; one created, removed or renamed (its ID cycled)
 * meanwhile may be seen or not, a renamed one under either hash or
 * both.  fn must not call the store.  CRUMB_E_INVAL for a NULL store
 * or fn. */
int crumb_store_scan(crumb_store *store, int64_t now, unsigned batch,
    crumb_scan_fn fn, void *ud);

/* Copy a record into the store under hash, as it is (version, created,
 * last_seen and expires included: the session goes on where it was),
 * for moving sessions from one store to another
 * (crumb_store_scan on one, crumb_store_import on the other).  A live
 * record already there at the same or a newer version is left alone
 * and *written (may be NULL) is 0: importing twice changes nothing.
 * Otherwise the record is written whole (replacing an expired one, or
 * a live one of an older version) and *written is 1.  CRUMB_E_INVAL,
 * checked before the store is asked, for NULL store, hash or rec, a
 * NULL state or one over 64 MiB, a user that crumb_session_set_user
 * refuses, a version below 1, times outside 0..year 9999, created
 * after last_seen, an expires not after now (the record would be gone
 * at once), or a label that is not valid UTF-8 or longer than
 * CRUMB_LABEL_MAX bytes.  A store that keeps no labels drops the
 * label. */
int crumb_store_import(crumb_store *store, const uint8_t *hash,
    const crumb_record *rec, int64_t now, int *written);

/* Sign out one session, whoever it belongs to: delete the record whose
 * hash is id_hash (64 hex digits, either case, as crumb_user_sessions
 * and crumb_store_scan give it), checked live at now (0: time()) first.
 * CRUMB_E_INVAL for a NULL store or a malformed id_hash (checked before
 * the store is asked); CRUMB_E_NOT_FOUND when no live record has that
 * hash (an expired one is left to crumb_store_purge).  A request that
 * holds the session meanwhile finds it gone at its next write and ends
 * it (see crumb_user_logout_all). */
int crumb_store_revoke(crumb_store *store, const char *id_hash, int64_t now);

/* ------------------------------------------------------------------ */
/* Configuration: one per process, shared by all requests.            */

typedef struct crumb_config crumb_config;

typedef enum crumb_same_site {
	CRUMB_SAMESITE_LAX = 0,
	CRUMB_SAMESITE_STRICT,
	CRUMB_SAMESITE_NONE,
	CRUMB_SAMESITE_UNSET    /* attribute not sent */
} crumb_same_site;

typedef enum crumb_ttl_policy {
	CRUMB_TTL_ON_REQUEST = 0, /* extend on every request (throttled) */
	CRUMB_TTL_ON_CHANGE       /* extend only when state changed */
} crumb_ttl_policy;

typedef int64_t (*crumb_clock_fn)(void *ud);

#define CRUMB_KEY_LEN 32        /* AES-256 */
#define CRUMB_COOKIE_MAX 4096   /* name=value plus attributes */
/* Longest TTL, threshold or lifetime any setter takes (10 years); a
 * cookie that claims a longer TTL is not a session cookie. */
#define CRUMB_TTL_MAX 315360000

/* Defaults: cookie "id" (sent as "__Host-id", see
 * crumb_config_set_host_prefix), Path=/, no Domain, Secure, HttpOnly,
 * SameSite=Lax, persistent (Max-Age = TTL), TTL 86400 s, extension on
 * request at most every 3600 s, absolute lifetime 30 days.
 * New; crumb_config_free. */
int crumb_config_new(crumb_config **out);
void crumb_config_free(crumb_config *cfg);

/* The store is borrowed: it must outlive cfg. */
int crumb_config_set_store(crumb_config *cfg, crumb_store *store);
/* The key that seals new cookies (32 bytes).  Setting a new one keeps
 * the previous current key readable only if added with add_old_key.
 * CRUMB_E_STATE once cfg watches a key directory (it owns the current
 * key then). */
int crumb_config_set_key(crumb_config *cfg, const unsigned char *key,
    size_t len);
/* A retired key: cookies sealed with it are read, then re-sealed with
 * the current key. */
int crumb_config_add_old_key(crumb_config *cfg, const unsigned char *key,
    size_t len);
/* Read a key file: 64 hex digits (whitespace around is fine).  The first
 * key read becomes current; with old != 0 it is added as a retired key.
 * The file must be a regular file (a symbolic link to one is followed)
 * that neither group nor others may read or write (mode 0600 or 0400;
 * the owner does not matter).  Any failure of the file itself (missing,
 * unreadable, open to others, not 64 hex digits) is CRUMB_E_KEYFILE,
 * with "PATH: reason" in crumb_config_errmsg; cfg keeps its keys. */
int crumb_config_load_key_file(crumb_config *cfg, const char *path, int old);
/*
 * Key rotation without restarting the workers: take the keys from the
 * key directory dir, and follow its changes from then on.  dir holds
 *   key       the current key: it seals, and it must be there;
 *   key.old   when there, the retired key: its cookies are opened and
 *             re-sealed with the current key;
 *   key.next  when there, the key of the next rotation: its cookies are
 *             opened (and not re-sealed), it never seals.  Hosts that
 *             share sessions all get it before any of them seals with it
 *             (README, "Running on several hosts").
 * each a key file as crumb_config_load_key_file reads it (64 hex digits,
 * a regular file neither group nor others may read or write); dir must
 * be a directory others may not write in.  `crumbctl key rotate DIR`
 * rotates such a directory (key.next, or a new random key, becomes key;
 * the key before becomes key.old).  Keys added with
 * crumb_config_add_old_key stay accepted; crumb_config_set_key is
 * CRUMB_E_STATE from then on.  Calling it again watches the new dir
 * instead.
 *
 * dir is copied (a relative dir is taken from the working directory at
 * each look).  The files are read at once: CRUMB_OK, or
 * CRUMB_E_KEYFILE ("PATH: reason" in crumb_config_errmsg) when key is
 * missing or any of the three that is there cannot be used, and then cfg
 * keeps the keys it had and watches what it watched before;
 * CRUMB_E_INVAL for a NULL cfg or a NULL or empty dir; CRUMB_E_NOMEM.
 *
 * Afterwards crumb_session_begin looks at the three files (a stat()
 * each: inode, size, mode, owner, modification and change times) at
 * most once a second, and also at once, whatever the time, when the
 * request's session cookie names a key cfg does not hold (another
 * worker may seal with a key this one has not loaded yet); a file that
 * changed has all three read again.  The new keys take effect only when
 * key is there and every file there is usable: otherwise cfg keeps
 * every key it holds (it never drops to no key), crumb_config_errmsg
 * says which file and why, and one line per state of the files goes to
 * stderr ("crumb: key files not reloaded, the keys loaded before stay
 * in use: PATH: reason"); the files are then tried again every second.
 * A look costs three stat() calls; files are read only when they
 * changed, so a stream of cookies with unknown keys reads nothing.
 * Replace files by rename() (crumbctl does), never by rewriting them
 * in place: a half-written file is refused and tried again, but until
 * then the keys do not change.
 */
int crumb_config_watch_keys(crumb_config *cfg, const char *dir);
/* Look at the watched key files now, whatever the time, and reload them
 * when they changed (for a program that rotates its own keys, or on
 * SIGHUP).  CRUMB_OK when they did not change or were reloaded;
 * CRUMB_E_KEYFILE when a file cannot be used (cfg keeps its keys,
 * crumb_config_errmsg says why, nothing goes to stderr); CRUMB_E_STATE
 * when cfg watches no directory; CRUMB_E_INVAL when cfg is NULL. */
int crumb_config_check_keys(crumb_config *cfg);
/* Detail of the last failed crumb_config_load_key_file,
 * crumb_config_watch_keys or key reload on cfg, e.g.
 * "/etc/app/key: mode 0644: group or others may read or write it";
 * "" when none (or cfg is NULL).  Borrowed; valid until the next call
 * on cfg. */
const char *crumb_config_errmsg(const crumb_config *cfg);
/* Write a new random key (hex) to path with mode 0600, flushed to disk
 * (fsync) before it returns; CRUMB_E_STATE if it exists, CRUMB_E_KEYFILE
 * when it cannot be created or written (errno then tells why). */
int crumb_key_generate_file(const char *path);

/* The name without the "__Host-" prefix (see crumb_config_set_host_prefix).
 * The name is part of the sealed value: changing it, or whether the
 * prefix applies, makes every cookie already out unreadable, so everybody
 * is signed out once. */
int crumb_config_set_cookie_name(crumb_config *cfg, const char *name);
int crumb_config_set_cookie_path(crumb_config *cfg, const char *path);
/* NULL: no Domain attribute (host-only cookie). */
int crumb_config_set_cookie_domain(crumb_config *cfg, const char *domain);
/* Secure off while SameSite=None is CRUMB_E_INVAL (browsers drop such
 * a cookie). */
int crumb_config_set_secure(crumb_config *cfg, int on);
int crumb_config_set_http_only(crumb_config *cfg, int on);
/* CRUMB_SAMESITE_NONE while Secure is off is CRUMB_E_INVAL. */
int crumb_config_set_same_site(crumb_config *cfg, crumb_same_site ss);
/* The "__Host-" prefix on the session cookie's name.  A browser keeps a
 * cookie of that name only when it is Secure, has Path=/ and no Domain,
 * so a sibling subdomain cannot plant one (cookie tossing): the session
 * read is the one this host set.
 * on < 0 (the default): automatic, the prefix whenever the cookie is
 * Secure, has no Domain and its Path is "/" (the default config sends
 * "__Host-id"; with Secure off, a Domain or another Path it is "id").
 * on > 0: always; forces Secure, Path=/ and no Domain.
 * on == 0: never.
 * The name on the wire changes with the rule: see
 * crumb_config_set_cookie_name about signing everybody out once. */
int crumb_config_set_host_prefix(crumb_config *cfg, int on);
/* Non-zero: Max-Age = TTL.  Zero: browser-session cookie. */
int crumb_config_set_persistent(crumb_config *cfg, int on);
/* 1..CRUMB_TTL_MAX seconds, else CRUMB_E_INVAL. */
int crumb_config_set_ttl(crumb_config *cfg, int64_t seconds);
/* Under ON_REQUEST the expiry is pushed back when at least threshold
 * seconds passed since the last extension (0: every request).
 * threshold 0..CRUMB_TTL_MAX, else CRUMB_E_INVAL. */
int crumb_config_set_ttl_extension(crumb_config *cfg, crumb_ttl_policy p,
    int64_t threshold);
/* 0..CRUMB_TTL_MAX seconds (else CRUMB_E_INVAL); 0 disables it.  A
 * session ends this long after it started, counted from the earlier of
 * the start its cookie carries and the store's creation time of its
 * record: a record older than that is not loaded (the session starts
 * over empty and finish deletes it), and no write or extension sets an
 * expiry past it. */
int crumb_config_set_absolute_lifetime(crumb_config *cfg, int64_t seconds);
/* Injectable clock (unix seconds; values outside 0..year 9999 are
 * clamped to that range); NULL restores time(). */
int crumb_config_set_clock(crumb_config *cfg, crumb_clock_fn fn, void *ud);

/* ------------------------------------------------------------------ */
/* A request's session.                                               */

typedef struct crumb_session crumb_session;
typedef struct crumb_state crumb_state;

typedef enum crumb_status {
	CRUMB_STATUS_UNCHANGED = 0,
	CRUMB_STATUS_CHANGED,
	CRUMB_STATUS_RENEWED,      /* ID cycled */
	CRUMB_STATUS_INVALIDATED
} crumb_status;

/* Start a request.  cookie_header is the raw Cookie header (may be NULL).
 * A missing, malformed, forged, expired or unknown-key session cookie
 * (or one claiming a TTL over CRUMB_TTL_MAX) gives a fresh session,
 * never an error; so does a Cookie header over 64 KiB, which is ignored
 * whole (crumb_cookie_get then finds no cookie either).  cfg is borrowed
 * and must outlive the session, and must have a key (else CRUMB_E_NOKEY) and a store (else CRUMB_E_STATE:
 * crumb_store_memory_new serves a program that keeps nothing on the
 * server).  New; crumb_session_free.
 *
 * Store failures are sticky: once a store call made for this session
 * fails (CRUMB_E_BUSY, _STORE, _FULL, _READONLY, _CORRUPT, _CANTOPEN or
 * any other error the store reports), every later call that needs the
 * server state (crumb_session_load, _save, _atomic, _clear, _delete,
 * _set_user, _get_user, crumb_state_* on the server map) returns that
 * error, and crumb_session_finish returns it and writes nothing: no
 * record and no Set-Cookie line (not even queued ones), so the program
 * answers 503.  CRUMB_E_CONFLICT after crumb_session_atomic's retries
 * and the abort code of an atomic fn are not store failures: the state
 * was restored and the session goes on.
 *
 * Borrowed values (crumb_session_get_user, crumb_session_csrf_token,
 * crumb_state_get*, the values crumb_state_foreach passes) stay valid
 * until the session is freed, except that a change of that very value
 * ends them: crumb_state_insert, _remove or _edit of the same key,
 * crumb_state_clear (or crumb_session_clear) of that map, and
 * crumb_session_set_user for the user.  Reloads (crumb_session_atomic,
 * a save or finish that replays over another request's write,
 * crumb_session_delete) do not end them: a borrowed value then still
 * reads what it was when borrowed, not the reloaded state. */
int crumb_session_begin(crumb_config *cfg, const char *cookie_header,
    crumb_session **out);
/* Same with getenv("HTTP_COOKIE"). */
int crumb_session_begin_env(crumb_config *cfg, crumb_session **out);
void crumb_session_free(crumb_session *s);

/* Server-side state (stored, loaded lazily on first use) and client-side
 * state (travels in the encrypted cookie).  Borrowed; valid for the
 * session's life. */
crumb_state *crumb_session_server(crumb_session *s);
crumb_state *crumb_session_client(crumb_session *s);

/* Empty the server-side state; the record stays, and so does the user
 * the session is tied to (crumb_session_set_user(s, NULL) unties it). */
int crumb_session_clear(crumb_session *s);
/* Delete the server record; the cookie stays. */
int crumb_session_delete(crumb_session *s);
/* Delete the record and expire the cookie; later calls are ignored and
 * return CRUMB_E_INVALIDATED.  The record is deleted by finish: should
 * that fail, finish returns the store's error and sends no expiring
 * cookie, so the visitor is still signed in (answer 503). */
int crumb_session_invalidate(crumb_session *s);
/* New ID, same state; the old ID stops working at finish. */
int crumb_session_cycle_id(crumb_session *s);

#define CRUMB_USER_MAX 255

/* Tie the session to a user (NULL unties).  Stored in an indexed column.
 * A user is 1 to CRUMB_USER_MAX bytes of UTF-8 without control
 * characters (below 0x20, 0x7f); anything else is CRUMB_E_INVAL. */
int crumb_session_set_user(crumb_session *s, const char *user);
/* Borrowed; NULL when none.  Loads the server state.  Valid until
 * crumb_session_set_user or crumb_session_free (reloads keep it). */
int crumb_session_get_user(crumb_session *s, const char **user);

/* Per-session expiry: ttl seconds (0: the configured TTL; at most
 * CRUMB_TTL_MAX, else CRUMB_E_INVAL) and a persistent (Max-Age) or
 * browser-session cookie; kept for later requests. */
int crumb_session_set_expiry(crumb_session *s, int64_t ttl, int persistent);

/* Load the server state now (otherwise done on first access). */
int crumb_session_load(crumb_session *s);
/* Persist server-state changes now; finish writes only what is left. */
int crumb_session_save(crumb_session *s);

/* Atomic read-modify-write of the server state: fn runs on the freshest
 * stored state and its changes are written with a version check; on a
 * concurrent change they are undone, the state reloaded and fn run
 * again, at most 200 times with a short random pause between, then
 * CRUMB_E_CONFLICT with the stored state reloaded.  With a store that
 * can lock a record (SQLite), load, fn and write run in one exclusive
 * transaction instead, and fn runs once.
 * fn must only touch the session (it may run several times) and return
 * 0, or non-zero to abort (returned as is; its changes are undone).
 * Without it, a get then insert of one key loses updates: a save that
 * meets another request's write replays the insert, whose value was
 * computed from the state read before (changes of different keys both
 * persist). */
typedef int (*crumb_atomic_fn)(crumb_session *s, void *ud);
int crumb_session_atomic(crumb_session *s, crumb_atomic_fn fn, void *ud);

int crumb_session_is_modified(const crumb_session *s);
crumb_status crumb_session_status(const crumb_session *s);
/* Non-zero when the request carried no valid session cookie. */
int crumb_session_is_new(const crumb_session *s);

/* CSRF token of this session, for a hidden form field.  The session's
 * secret (32 random bytes) travels in the sealed session cookie, never in
 * the server state: the first call makes it and makes finish send the
 * cookie, even for a visitor with nothing stored (an anonymous page with
 * a form writes nothing to the store).  The text is masked anew in each
 * request (86 base64url characters, different every time, all valid) and
 * the same within one request.  crumb_session_cycle_id and
 * crumb_session_invalidate retire the secret: tokens handed out before
 * stop matching, and the next call makes a new secret.  Borrowed; valid
 * until the session is freed, also after the secret is retired.
 * CRUMB_E_INVAL when s or token is NULL; after finish CRUMB_E_STATE,
 * after invalidate CRUMB_E_INVALIDATED. */
int crumb_session_csrf_token(crumb_session *s, const char **token);
/* CRUMB_OK when given is a token of this session's current secret
 * (compared in constant time); CRUMB_E_NOT_FOUND for any other text,
 * NULL, a malformed token or a session without a secret; CRUMB_E_INVAL
 * when s is NULL. */
int crumb_session_csrf_check(crumb_session *s, const char *given);

/* Persist and emit the Set-Cookie header lines ("Set-Cookie: ...\r\n"
 * each, no blank line).  Call while writing the CGI headers.  write
 * returns 0 on success.  The store is written first, then all lines go
 * to write in one call (none when there is nothing to send); a write
 * that fails is CRUMB_E_IO, and what was stored stays stored.  On a
 * store failure nothing is written (see crumb_session_begin).  After
 * finish only crumb_session_free is useful (crumb_state_* and
 * crumb_session_finish itself return CRUMB_E_STATE), so read what the
 * page shows before finish; values borrowed before it stay valid until
 * crumb_session_free. */
typedef int (*crumb_write_fn)(const char *buf, size_t len, void *ud);
int crumb_session_finish(crumb_session *s, crumb_write_fn write, void *ud);
/* Same, into a new string (possibly ""); free with crumb_free. */
int crumb_session_finish_str(crumb_session *s, char **headers);

/* Detail of the last error on this session (store or crypto message);
 * borrowed, "" when none. */
const char *crumb_session_errmsg(const crumb_session *s);

/* ------------------------------------------------------------------ */
/* State maps: string keys -> JSON values.                            */

/* Borrowed; valid until this key is inserted, removed or edited, the
 * map is cleared, or the session is freed (reloads keep it: see
 * crumb_session_begin). */
int crumb_state_get(crumb_state *st, const char *key, const cJSON **value);
int crumb_state_get_string(crumb_state *st, const char *key,
    const char **value);
int crumb_state_get_number(crumb_state *st, const char *key, double *value);
int crumb_state_get_bool(crumb_state *st, const char *key, int *value);

/* Creates or overwrites.  value is taken over even on error.  Inserting
 * a value equal to the stored one is not a change. */
int crumb_state_insert(crumb_state *st, const char *key, cJSON *value);
int crumb_state_insert_json(crumb_state *st, const char *key,
    const char *json);
int crumb_state_insert_string(crumb_state *st, const char *key,
    const char *value);
int crumb_state_insert_number(crumb_state *st, const char *key, double v);
int crumb_state_insert_bool(crumb_state *st, const char *key, int v);

/* Removes key; *value (may be NULL to discard) is new: cJSON_Delete. */
int crumb_state_remove(crumb_state *st, const char *key, cJSON **value);
int crumb_state_remove_raw(crumb_state *st, const char *key);
int crumb_state_clear(crumb_state *st);

/* Edit the value of key in place (cart[item]++ and the like).  fn gets
 * in *value a new copy of the stored value, or NULL when key is absent,
 * and may change it, replace it (freeing what it replaces) or set it to
 * NULL to remove key.  Whatever *value holds when fn returns is the
 * library's: on 0 it becomes the value of key (inserted as by
 * crumb_state_insert: a value equal to the stored one is not a change,
 * the client map's cookie must still fit, else CRUMB_E_TOO_LARGE and no
 * change); on non-zero it is freed, nothing changes and that value is
 * returned as is.  fn must not call the library on st.  Values borrowed
 * for key end when it changes; others stay valid. */
typedef int (*crumb_edit_fn)(cJSON **value, void *ud);
int crumb_state_edit(crumb_state *st, const char *key, crumb_edit_fn fn,
    void *ud);

int crumb_state_len(crumb_state *st, size_t *n);
/* Calls fn for each entry in insertion order; stops when fn != 0 and
 * returns that value. */
typedef int (*crumb_entry_fn)(const char *key, const cJSON *value, void *ud);
int crumb_state_foreach(crumb_state *st, crumb_entry_fn fn, void *ud);

/* ------------------------------------------------------------------ */
/* Other cookies: read any request cookie, queue any response cookie. */

/* First cookie of that name; borrowed, valid for the session's life. */
int crumb_cookie_get(const crumb_session *s, const char *name,
    const char **value);

#define CRUMB_COOKIE_SECURE         0x01
#define CRUMB_COOKIE_HTTP_ONLY      0x02
#define CRUMB_COOKIE_SAMESITE_LAX   0x04
#define CRUMB_COOKIE_SAMESITE_STRICT 0x08
#define CRUMB_COOKIE_SAMESITE_NONE  0x10

/* Queue a Set-Cookie emitted at finish.  max_age < 0: browser-session
 * cookie; path/domain may be NULL.  Name must be an RFC 6265 token and
 * value cookie-octets.  CRUMB_COOKIE_SAMESITE_NONE without
 * CRUMB_COOKIE_SECURE is CRUMB_E_INVAL (browsers drop such a cookie). */
int crumb_cookie_set(crumb_session *s, const char *name, const char *value,
    int64_t max_age, const char *path, const char *domain, unsigned flags);
/* Queue an expiring Set-Cookie (Max-Age=0) for name. */
int crumb_cookie_remove(crumb_session *s, const char *name,
    const char *path, const char *domain);

/* ------------------------------------------------------------------ */
/* Sessions of a user.                                                */

/* Delete every session of user; *deleted (may be NULL) gets the count.
 * A session of the current request that belongs to user loses its
 * record too, but the session object is not told: what it loaded stays
 * readable; a state not loaded yet loads empty and without a user;
 * a change to the server state makes finish find the record gone and
 * end the session (expiring cookie, CRUMB_STATUS_INVALIDATED), while a
 * request that changes nothing keeps sending the cookie of a record
 * that no longer exists (the next request starts empty).  To sign the
 * current request out as well, call crumb_session_invalidate(s). */
int crumb_user_logout_all(crumb_config *cfg, const char *user,
    uint64_t *deleted);
/* Call fn for each active session of user (stops when fn != 0).  info
 * is borrowed for the call only: copy what you keep. */
int crumb_user_sessions(crumb_config *cfg, const char *user,
    crumb_info_fn fn, void *ud);

/* Non-zero when info (from crumb_user_sessions) is the record of this
 * request's own session, 0 otherwise (also for NULL arguments or a
 * session that has no record yet).  It compares with the ID the store
 * knows the record by at the time of the call: after
 * crumb_session_cycle_id the store keeps the old ID until the record is
 * renamed (by finish, or by crumb_session_save of a loaded session), so
 * a listing made in between shows this session under its old hash, and
 * that entry is the current one.  No store call. */
int crumb_session_is_current(crumb_session *s,
    const crumb_session_info *info);

/* Sign out one session of user: the one listed with id_hash (64 hex
 * digits, either case).  CRUMB_E_INVAL for NULL arguments, no store or
 * a malformed id_hash (checked before the store is asked).
 * CRUMB_E_NOT_FOUND when no live session has that hash, or it belongs
 * to another user: a user can never end another's session.  The record
 * is first ended under a version check (its expiry set to now and its
 * user cleared, so that a record that changes hands meanwhile is left
 * alone; CRUMB_E_CONFLICT when it keeps changing), then deleted; should
 * the delete fail, the ended record is gone for every request already
 * and crumb_store_purge removes it.  A session renamed since the
 * listing (its ID cycled) is not found under the old hash.  Revoking
 * the current request's own session works, but
 * crumb_session_invalidate also expires its cookie: prefer it (see
 * crumb_session_is_current). */
int crumb_user_revoke(crumb_config *cfg, const char *user,
    const char *id_hash);

/* "Sign out my other sessions": sign out, as crumb_user_revoke does,
 * every session of this session's user (crumb_session_get_user: the
 * user set in this request counts) except this one, which is kept (its
 * record, if it has one, under the ID the store knows it by).  *deleted
 * (may be NULL) gets the count.  A session signed in while this runs
 * may survive; one renamed meanwhile is found by a second listing.
 * CRUMB_E_NOT_FOUND when the session has no user; CRUMB_E_STATE after
 * finish; CRUMB_E_INVALIDATED after invalidate; store failures as the
 * store reports them (detail in crumb_session_errmsg). */
int crumb_session_logout_others(crumb_session *s, uint64_t *deleted);

/* A short label for this session, shown in listings (info->label), for
 * example from HTTP_USER_AGENT.  label is copied; NULL or "" removes
 * it.  It must be valid UTF-8 (else CRUMB_E_INVAL, nothing changes);
 * control characters (C0, DEL, C1, U+2028, U+2029) and the
 * bidirectional formatting characters (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069), which could disguise the listing, are
 * each replaced by a space; the result is cut to at most
 * CRUMB_LABEL_MAX bytes at a character boundary.  Loads the server
 * state (its errors are returned; CRUMB_E_STATE after finish).  The
 * label is stored by finish, after the record is written, and only when
 * it differs from the stored one (a store failure there is finish's); a
 * session that ends the request with no record stores no label, and a
 * store whose ops have no set_label keeps none.  Not a change of the
 * session (crumb_session_status). */
int crumb_session_set_label(crumb_session *s, const char *label);

/* ------------------------------------------------------------------ */
/* Forms: application/x-www-form-urlencoded bodies and query strings. */

typedef struct crumb_form crumb_form;

#define CRUMB_FORM_MAX_FIELDS 256

/* Parse len bytes.  '+' is a space, %XX decoded.  Empty fields ("a&&b",
 * a trailing '&') are skipped and not counted.  A bad escape, a NUL or
 * invalid UTF-8 is CRUMB_E_PARSE; more than CRUMB_FORM_MAX_FIELDS
 * fields is CRUMB_E_TOO_LARGE.  New; crumb_form_free. */
int crumb_form_parse(const char *body, size_t len, crumb_form **out);
void crumb_form_free(crumb_form *form);
/* First value of name; borrowed, valid until crumb_form_free. */
const char *crumb_form_get(const crumb_form *form, const char *name);
size_t crumb_form_count(const crumb_form *form);
/* i-th field (borrowed) or CRUMB_E_NOT_FOUND. */
int crumb_form_field(const crumb_form *form, size_t i, const char **name,
    const char **value);

/* Reads up to len bytes of the request body into buf: returns the count,
 * 0 at the end of the body, < 0 on an error.  With plain stdio or
 * fcgi_stdio: fread(buf, 1, len, stdin), or -1 when it returns 0 and
 * ferror(stdin). */
typedef long (*crumb_read_fn)(void *buf, size_t len, void *ud);

/* Read and parse an application/x-www-form-urlencoded request body.
 * content_length is CGI's CONTENT_LENGTH (digits only) and
 * content_type CGI's CONTENT_TYPE (parameters allowed; a charset, when
 * given, must be UTF-8).  A length over limit bytes is refused before
 * anything is read (limit 0 accepts only an empty body); otherwise
 * exactly that many bytes are read through rd, in as many calls as rd
 * needs, and parsed with crumb_form_parse.  *out is new (crumb_form_free)
 * on success and NULL on failure.  *http_status is 0 on success, else
 * the status to answer with, checked in this order:
 *   411  CRUMB_E_NOT_FOUND   no or empty content_length
 *   400  CRUMB_E_PARSE       content_length not 1*DIGIT, or past SIZE_MAX
 *   413  CRUMB_E_TOO_LARGE   length over limit
 *   415  CRUMB_E_TYPE        another content type, or another charset
 *   503  CRUMB_E_NOMEM
 *   400  CRUMB_E_IO          rd returned < 0
 *   400  CRUMB_E_PARSE       body shorter than its length, or malformed
 *                            (see crumb_form_parse)
 *   400  CRUMB_E_TOO_LARGE   more than CRUMB_FORM_MAX_FIELDS fields
 *   500  CRUMB_E_INVAL       rd, out or http_status NULL, or rd returned
 *                            more than it was asked for
 * Nothing is read before the 503, so a CGI program that must consume its
 * input (mod_cgid resets the connection of one that exits with input
 * unread) discards it itself before answering; rd is never asked for
 * more than the length, and a malformed form was read whole. */
int crumb_form_read_body(const char *content_type, const char *content_length,
    crumb_read_fn rd, void *ud, size_t limit, crumb_form **out,
    int *http_status);
/* Same with getenv("CONTENT_TYPE") and getenv("CONTENT_LENGTH"), which
 * under FastCGI are the current request's once FCGI_Accept returned. */
int crumb_form_read(crumb_read_fn rd, void *ud, size_t limit,
    crumb_form **out, int *http_status);

/* ------------------------------------------------------------------ */
/* Small helpers every CGI program needs.                              */

/* HTML-escape & < > " ' ; new, free with crumb_free. */
int crumb_html_escape(const char *in, char **out);
/* Non-zero when the len bytes are valid UTF-8 without NUL. */
int crumb_utf8_valid(const char *s, size_t len);
/* Constant-time comparison of two byte strings (time depends only on the
 * lengths); non-zero when equal. */
int crumb_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#ifdef __cplusplus
}
#endif
#endif /* CRUMB_H */
