/*
 * In-process session round trips against the floor.
 *
 * A round trip goes through the public API from the raw Cookie header to
 * the emitted Set-Cookie lines.  The floor is the work no session library
 * can avoid, done by hand in the same run on the same database: the same
 * SQL through prepared statements on the same schema, and the same
 * cryptography (base64url, AES-256-GCM, SHA-256, random ID) on the same
 * bytes.  Also: how cost grows with the number of stored sessions and
 * the size of the state, and the worst round-trip latency seen while
 * another process purges a million expired records.
 *
 *   bench-session [-q] [-P] [-G] [-S N] [-p CONNINFO] [-r URL] [-o TARGETS_FILE]
 *                 [-d DIR]
 *
 * -q runs small sizes only (a quick check that it works); -P only the
 * purge; -G only the growth from 1 thousand to 1 million sessions; -S N
 * only the read and write round trips with N sessions; -p CONNINFO only
 * the read and write round trips of the PostgreSQL store against its
 * floor (the same prepared statements sent through libpq by hand), when
 * crumb was built with PostgreSQL; -r URL only those of the Redis store
 * against its floor (the same HMGET and EVALSHA sent through hiredis by
 * hand), when crumb was built with Redis.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gcrypt.h>
#include <sqlite3.h>

#include "crumb.h"
#include "floor.h"

#if defined(CRUMB_HAVE_POSTGRES) || defined(CRUMB_HAVE_REDIS)
#include <dlfcn.h>
#endif
#ifdef CRUMB_HAVE_POSTGRES
#include <endian.h>
#include <libpq-fe.h>
#endif
#ifdef CRUMB_HAVE_REDIS
#include <sys/socket.h>
#include <sys/stat.h>
#include <hiredis/hiredis.h>

#include "store-redis-lua.h"
#endif

#define POOL 1000             /* live sessions the round trips pick from */
#define NONCE 12
#define TAG 16
#define HDR 5

static const unsigned char key[CRUMB_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static int quick;
static char dir[512] = "/tmp";
static FILE *targets;

/* ---------------------------------------------------------------- */

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void
die(const char *what, int rc)
{
	fprintf(stderr, "bench-session: %s: %s\n", what,
	    rc >= 0 ? crumb_strerror(rc) : strerror(errno));
	exit(1);
}

static void
target(const char *name, double measured, const char *unit, const char *op,
    double goal)
{
	int met = strcmp(op, "<=") == 0 ? measured <= goal : measured >= goal;
	char line[256];

	snprintf(line, sizeof(line), "target %s: %.2f%s (want %s %.2f%s) %s",
	    name, measured, unit, op, goal, unit, met ? "met" : "missed");
	printf("%s\n", line);
	if (targets != NULL)
		fprintf(targets, "%s\n", line);
}

/* ---------------------------------------------------------------- */
/* The library side.                                                 */

typedef struct lib {
	crumb_store *store;
	crumb_config *cfg;
	char **cookies;       /* "id=..." headers of the pool */
	size_t n;
} lib;

/* "Set-Cookie: id=VALUE; ..." -> "id=VALUE" (new). */
static char *
cookie_of(const char *headers)
{
	const char *p = strstr(headers, "Set-Cookie: "), *e;
	char *c;

	if (p == NULL)
		return NULL;
	p += strlen("Set-Cookie: ");
	e = strchr(p, ';');
	if ((c = malloc((size_t)(e - p) + 1)) == NULL)
		die("malloc", -1);
	memcpy(c, p, (size_t)(e - p));
	c[e - p] = '\0';
	return c;
}

/* The library on store (which l owns from now on). */
static void
lib_open_store(lib *l, crumb_store *store)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->store = store;
	if ((rc = crumb_config_new(&l->cfg)) != CRUMB_OK ||
	    (rc = crumb_config_set_store(l->cfg, l->store)) != CRUMB_OK ||
	    (rc = crumb_config_set_key(l->cfg, key, sizeof(key))) != CRUMB_OK)
		die("config", rc);
}

static void
lib_open(lib *l, const char *path)
{
	crumb_store *store;
	int rc;

	if ((rc = crumb_store_sqlite_open(path, &store)) != CRUMB_OK)
		die(path, rc);
	lib_open_store(l, store);
}

static void
lib_close(lib *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->cookies[i]);
	free(l->cookies);
	crumb_config_free(l->cfg);
	crumb_store_free(l->store);
}

static char *
pad(size_t n, char c)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		die("malloc", -1);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

/* A new session with server state of about sbytes and client state of
 * about cbytes; returns its Cookie header. */
static char *
lib_new_session(lib *l, size_t sbytes, size_t cbytes)
{
	crumb_session *s;
	char *h, *c, *p;
	int rc;

	if ((rc = crumb_session_begin(l->cfg, NULL, &s)) != CRUMB_OK)
		die("begin", rc);
	crumb_state_insert_number(crumb_session_server(s), "k", 1);
	if (sbytes > 20) {
		p = pad(sbytes - 20, 's');
		crumb_state_insert_string(crumb_session_server(s), "pad", p);
		free(p);
	}
	if (cbytes > 0) {
		p = pad(cbytes, 'c');
		if ((rc = crumb_state_insert_string(crumb_session_client(s),
		    "pad", p)) != CRUMB_OK)
			die("client state", rc);
		free(p);
	}
	if ((rc = crumb_session_finish_str(s, &h)) != CRUMB_OK)
		die("finish", rc);
	if ((c = cookie_of(h)) == NULL)
		die("no cookie for a new session", -1);
	crumb_free(h);
	crumb_session_free(s);
	return c;
}

static void
lib_pool(lib *l, size_t n, size_t sbytes, size_t cbytes)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->cookies[i]);
	free(l->cookies);
	if ((l->cookies = calloc(n, sizeof(char *))) == NULL)
		die("calloc", -1);
	for (i = 0; i < n; i++)
		l->cookies[i] = lib_new_session(l, sbytes, cbytes);
	l->n = n;
}

enum op { OP_READ, OP_WRITE, OP_NEW, OP_INVALIDATE };

static void
lib_round_trip(lib *l, enum op op, const char *cookie, double v)
{
	crumb_session *s;
	double n;
	char *h;
	int rc;

	if ((rc = crumb_session_begin(l->cfg, cookie, &s)) != CRUMB_OK)
		die("begin", rc);
	switch (op) {
	case OP_READ:
		if (crumb_state_get_number(crumb_session_server(s), "k", &n))
			die("read: session lost", -1);
		break;
	case OP_WRITE:
		if (crumb_state_get_number(crumb_session_server(s), "k", &n))
			die("write: session lost", -1);
		crumb_state_insert_number(crumb_session_server(s), "k", v);
		break;
	case OP_NEW:
		crumb_state_insert_number(crumb_session_server(s), "k", v);
		break;
	case OP_INVALIDATE:
		crumb_session_invalidate(s);
		break;
	}
	if ((rc = crumb_session_finish_str(s, &h)) != CRUMB_OK)
		die("finish", rc);
	crumb_free(h);
	crumb_session_free(s);
}

/* ---------------------------------------------------------------- */
/* The floor: the same SQL and cryptography, by hand.                */

typedef struct floor_ {
	sqlite3 *db;
	sqlite3_stmt *sel, *upd, *ins, *del;
	gcry_cipher_hd_t hd;
	unsigned char keyid[4];
	struct floor_wal wal;
#ifdef CRUMB_HAVE_POSTGRES
	PGconn *pg;           /* set: the PostgreSQL floor, no SQLite */
#endif
#ifdef CRUMB_HAVE_REDIS
	redisContext *rd;     /* set: the Redis floor, no SQLite */
	char rd_sha[41];      /* the update script, as loaded on rd */
#endif
} floor_;


static void
sql_ok(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "bench-session: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

static void
floor_open(floor_ *f, const char *path, const unsigned char *keyid)
{
	sqlite3 *db;

	memset(f, 0, sizeof(*f));
	sql_ok(NULL, sqlite3_open(path, &f->db), "open");
	db = f->db;
	sqlite3_busy_timeout(db, 5000);
	/* The same settings as the library's connection. */
	memset(&f->wal, 0, sizeof(f->wal));
	f->wal.busy_ms = 5000;
	sqlite3_wal_hook(db, floor_wal_hook, &f->wal);
	sql_ok(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; "
	    "PRAGMA journal_size_limit=16777216; "
	    "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192", NULL, NULL,
	    NULL), "pragma");
	sql_ok(db, sqlite3_prepare_v2(db, "SELECT state, version FROM "
	    "crumb_sessions WHERE id = ?1 AND expires > ?2", -1, &f->sel, NULL),
	    "prepare");
	/* A write within the TTL threshold leaves expires (indexed) alone,
	 * as the library's does: one page in the log. */
	sql_ok(db, sqlite3_prepare_v2(db, "UPDATE crumb_sessions SET "
	    "state = ?2, version = version + 1, last_seen = ?3 "
	    "WHERE id = ?1 AND version = ?5", -1, &f->upd, NULL), "prepare");
	sql_ok(db, sqlite3_prepare_v2(db, "INSERT INTO crumb_sessions (id, "
	    "state, version, user, created, last_seen, expires) VALUES "
	    "(?1, ?2, 1, NULL, ?3, ?3, ?4)", -1, &f->ins, NULL), "prepare");
	sql_ok(db, sqlite3_prepare_v2(db, "DELETE FROM crumb_sessions WHERE "
	    "id = ?1", -1, &f->del, NULL), "prepare");
	gcry_cipher_open(&f->hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0);
	gcry_cipher_setkey(f->hd, key, sizeof(key));
	memcpy(f->keyid, keyid, 4);
}

static void
floor_close(floor_ *f)
{
	sqlite3_finalize(f->sel);
	sqlite3_finalize(f->upd);
	sqlite3_finalize(f->ins);
	sqlite3_finalize(f->del);
	sqlite3_close(f->db);
	gcry_cipher_close(f->hd);
}

static void
b64enc(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*out++ = floor_b64[v >> 18 & 63]; *out++ = floor_b64[v >> 12 & 63];
		*out++ = floor_b64[v >> 6 & 63]; *out++ = floor_b64[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		*out++ = floor_b64[v >> 18 & 63]; *out++ = floor_b64[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		*out++ = floor_b64[v >> 18 & 63]; *out++ = floor_b64[v >> 12 & 63];
		*out++ = floor_b64[v >> 6 & 63];
	}
	*out = '\0';
}

/* The cookie's name, as the library's configuration makes it (the
 * "__Host-" prefix comes and goes with Secure, Domain and Path): it is
 * the associated data of the encryption.  Set by keyid_of(). */
static char cookie_name[64];

/* Open the cookie (base64url, AES-GCM) and hash the ID in it. */
static void
floor_open_cookie(floor_ *f, const char *cookie, unsigned char *hash,
    size_t *plain_len)
{
	unsigned char raw[8192], plain[8192], id[40], aad[HDR + 64];
	size_t namelen = strlen(cookie_name);
	const char *v = cookie + namelen + 1;         /* "NAME=" */
	size_t rawlen = floor_b64dec(v, strlen(v), raw), clen;

	if (rawlen < HDR + NONCE + 1 + TAG)
		die("floor: cookie too short", -1);
	clen = rawlen - HDR - NONCE - TAG;
	memcpy(aad, raw, HDR);
	memcpy(aad + HDR, cookie_name, namelen);
	gcry_cipher_reset(f->hd);
	gcry_cipher_setiv(f->hd, raw + HDR, NONCE);
	gcry_cipher_authenticate(f->hd, aad, HDR + namelen);
	gcry_cipher_final(f->hd);
	gcry_cipher_decrypt(f->hd, plain, clen, raw + HDR + NONCE, clen);
	if (gcry_cipher_checktag(f->hd, raw + HDR + NONCE + clen, TAG))
		die("floor: cookie does not authenticate", -1);
	/* The plaintext is flags (1), then the 32-byte ID. */
	memcpy(id, plain + 1, 32);
	gcry_md_hash_buffer(GCRY_MD_SHA256, hash, id, 32);
	*plain_len = clen;
}

/* Seal plain_len bytes into a new cookie value (discarded). */
static void
floor_seal(floor_ *f, size_t plain_len)
{
	unsigned char raw[8192], plain[8192] = { 0 }, aad[HDR + 64];
	char out[12000];
	size_t rawlen = HDR + NONCE + plain_len + TAG;
	size_t namelen = strlen(cookie_name);

	raw[0] = 1;
	memcpy(raw + 1, f->keyid, 4);
	gcry_create_nonce(raw + HDR, NONCE);
	memcpy(aad, raw, HDR);
	memcpy(aad + HDR, cookie_name, namelen);
	gcry_cipher_reset(f->hd);
	gcry_cipher_setiv(f->hd, raw + HDR, NONCE);
	gcry_cipher_authenticate(f->hd, aad, HDR + namelen);
	gcry_cipher_final(f->hd);
	gcry_cipher_encrypt(f->hd, raw + HDR + NONCE, plain_len, plain, plain_len);
	gcry_cipher_gettag(f->hd, raw + HDR + NONCE + plain_len, TAG);
	b64enc(raw, rawlen, out);
}

static volatile double floor_value;   /* what a floor read found */

static int64_t
wall(void)
{
	return (int64_t)time(NULL);
}

#if defined(CRUMB_HAVE_POSTGRES) || defined(CRUMB_HAVE_REDIS)
/* dlsym's object pointer to a function pointer, without a cast that
 * ISO C leaves undefined. */
#define REAL(fn, ret, args) \
	static ret (*real_) args; \
	if (real_ == NULL) { \
		void *sym_ = dlsym(RTLD_NEXT, fn); \
		if (sym_ == NULL) \
			die("dlsym " fn, -1); \
		memcpy(&real_, &sym_, sizeof(real_)); \
	}

#endif

#ifdef CRUMB_HAVE_POSTGRES
/* ---------------------------------------------------------------- */
/* The PostgreSQL floor: the statements lib/store-postgres.c prepares
 * for a read and a write, prepared the same way (PREPARE, once per
 * connection) and sent with the same binary parameters and results,
 * one PQexecPrepared (one round trip) each. */

static const char pg_load_sql[] =
    "SELECT state, \"user\", version, created, last_seen, "
    "expires, label FROM crumb_sessions WHERE id = $1::bytea AND "
    "expires > $2::bigint";
static const char pg_update_sql[] =
    "WITH u AS (UPDATE crumb_sessions SET "
    "id = coalesce($2::bytea, id), state = $3::text, "
    "version = version + 1, \"user\" = $4::text, "
    "last_seen = $5::bigint, expires = CASE WHEN $6::bigint = 0 "
    "THEN expires ELSE $6::bigint END WHERE id = $1::bytea AND "
    "version = $7::bigint AND expires > $5::bigint RETURNING 1) "
    "SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM "
    "crumb_sessions WHERE id = $1::bytea AND expires > $5::bigint)";

/* Round trips: the floor's, counted where it sends; the library's,
 * counted by the wrappers below, which stand in front of libpq's own
 * functions for every call libcrumb makes (the program's definitions
 * come first in the dynamic linker's search).  A statement sent in
 * pipeline mode is not a round trip of its own: the sync that ends the
 * pipeline is. */
static unsigned long floor_pg_trips, lib_pg_trips;

int
PQsendQuery(PGconn *c, const char *q)
{
	REAL("PQsendQuery", int, (PGconn *, const char *));
	if (PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		lib_pg_trips++;
	return real_(c, q);
}

int
PQsendQueryParams(PGconn *c, const char *q, int n, const Oid *types,
    const char *const *v, const int *len, const int *fmt, int rfmt)
{
	REAL("PQsendQueryParams", int, (PGconn *, const char *, int,
	    const Oid *, const char *const *, const int *, const int *, int));
	if (PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		lib_pg_trips++;
	return real_(c, q, n, types, v, len, fmt, rfmt);
}

int
PQsendQueryPrepared(PGconn *c, const char *name, int n,
    const char *const *v, const int *len, const int *fmt, int rfmt)
{
	REAL("PQsendQueryPrepared", int, (PGconn *, const char *, int,
	    const char *const *, const int *, const int *, int));
	if (PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		lib_pg_trips++;
	return real_(c, name, n, v, len, fmt, rfmt);
}

int
PQpipelineSync(PGconn *c)
{
	REAL("PQpipelineSync", int, (PGconn *));
	lib_pg_trips++;
	return real_(c);
}

static void
pg_ok(PGconn *c, PGresult *r, const char *what)
{
	if (r == NULL || (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK)) {
		fprintf(stderr, "bench-session: %s: %s\n", what,
		    PQerrorMessage(c));
		exit(1);
	}
}

static void
floor_pg_open(floor_ *f, const char *conninfo, const unsigned char *keyid)
{
	char sql[2048];
	PGresult *r;

	/* The settings the library's connection gets with its default
	 * timeout of 5 s: the server arms statement_timeout and
	 * lock_timeout for every statement. */
	static const char *const keys[] = { "dbname", "connect_timeout",
	    "tcp_user_timeout", "keepalives_idle", "application_name",
	    "client_encoding", "options", NULL };
	const char *vals[] = { conninfo, "5", "5000", "30", "crumb-floor",
	    "UTF8", "-c statement_timeout=5000 -c lock_timeout=5000", NULL };

	memset(f, 0, sizeof(*f));
	f->pg = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(f->pg) != CONNECTION_OK) {
		fprintf(stderr, "bench-session: floor: cannot connect: %s\n",
		    PQerrorMessage(f->pg));
		exit(1);
	}
	snprintf(sql, sizeof(sql), "PREPARE crumb_load AS %s;\n"
	    "PREPARE crumb_update AS %s;\n", pg_load_sql, pg_update_sql);
	r = PQexec(f->pg, sql);
	pg_ok(f->pg, r, "floor: prepare");
	PQclear(r);
	gcry_cipher_open(&f->hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0);
	gcry_cipher_setkey(f->hd, key, sizeof(key));
	memcpy(f->keyid, keyid, 4);
}

static void
floor_pg_close(floor_ *f)
{
	PQfinish(f->pg);
	gcry_cipher_close(f->hd);
}

/* One prepared statement, binary in and out: one round trip. */
static PGresult *
floor_pg_exec(floor_ *f, const char *name, int n, const char *const *v,
    const int *len)
{
	static const int fmt[7] = { 1, 1, 1, 1, 1, 1, 1 };
	PGresult *r = PQexecPrepared(f->pg, name, n, v, len, fmt, 1);

	floor_pg_trips++;
	pg_ok(f->pg, r, name);
	return r;
}

static int64_t
pg_int(const PGresult *r, int col)
{
	uint64_t v = 0;

	if (PQgetlength(r, 0, col) == 8)
		memcpy(&v, PQgetvalue(r, 0, col), 8);
	return (int64_t)be64toh(v);
}

static void
floor_pg_round_trip(floor_ *f, enum op op, const char *cookie,
    const char *state, size_t state_len)
{
	unsigned char hash[32];
	size_t plain_len = 120;
	uint64_t now = htobe64((uint64_t)wall()), zero = 0, version;
	const char *v[7], *text, *p;
	int len[7];
	PGresult *r;

	floor_open_cookie(f, cookie, hash, &plain_len);
	v[0] = (const char *)hash;
	len[0] = 32;
	v[1] = (const char *)&now;
	len[1] = 8;
	r = floor_pg_exec(f, "crumb_load", 2, v, len);
	if (PQntuples(r) != 1)
		die("floor: session lost", -1);
	version = htobe64((uint64_t)pg_int(r, 2));
	/* The state is text sent as its bytes; libpq ends it with a NUL. */
	text = PQgetvalue(r, 0, 0);
	if ((p = strstr(text, "\"k\":")) == NULL)
		die("floor: no key k", -1);
	floor_value = strtod(p + 4, NULL);
	PQclear(r);
	if (op == OP_READ)
		return;
	/* hash, no new hash, state, no user, now, expires kept, version. */
	v[1] = NULL;
	len[1] = 0;
	v[2] = state;
	len[2] = (int)state_len;
	v[3] = NULL;
	len[3] = 0;
	v[4] = (const char *)&now;
	len[4] = 8;
	v[5] = (const char *)&zero;
	len[5] = 8;
	v[6] = (const char *)&version;
	len[6] = 8;
	r = floor_pg_exec(f, "crumb_update", 7, v, len);
	if (PQntuples(r) != 1 || pg_int(r, 0) != 1)
		die("floor: update did not apply", -1);
	PQclear(r);
	floor_seal(f, plain_len);
}
#endif /* CRUMB_HAVE_POSTGRES */

#ifdef CRUMB_HAVE_REDIS
/* ---------------------------------------------------------------- */
/* The Redis floor: the commands lib/store-redis.c sends for a read and
 * a write, through hiredis by hand on a connection of its own: a read
 * is one HMGET of the session's hash (the same seven fields), a write
 * that HMGET and then the store's compare-and-swap script by EVALSHA
 * (the same script text, loaded once), with the same keys and
 * arguments.  One command (one round trip) each. */

#define RD_PREFIX "crumb:"    /* the store's default key prefix */

/* The store's update script itself (lib/store-redis-lua.h).  KEYS:
 * skey, new skey (or skey).  ARGV: prefix hex newhex version version+1
 * state user now expires ttl. */
static const char rd_update_lua[] = CRUMB_LUA_INDEX CRUMB_LUA_UPDATE;

/* Round trips, library and floor alike: the writes (sends) on a socket
 * while rd_counting is set.  hiredis sends each command (or pipeline)
 * in one write and then waits for the answer, so a send is a round
 * trip.  The wrappers stand in front of libc's for libhiredis, which
 * both sides go through (the program's definitions come first in the
 * dynamic linker's search). */
static int rd_counting;
static unsigned long rd_sends;

static void
rd_count(int fd)
{
	struct stat st;

	if (rd_counting && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
		rd_sends++;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL("write", ssize_t, (int, const void *, size_t));
	rd_count(fd);
	return real_(fd, buf, n);
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	REAL("send", ssize_t, (int, const void *, size_t, int));
	rd_count(fd);
	return real_(fd, buf, n, flags);
}

static redisReply *
rd_cmd(redisContext *c, int n, const char **v, const size_t *len,
    const char *what)
{
	redisReply *r = redisCommandArgv(c, n, v, len);

	if (r == NULL) {
		fprintf(stderr, "bench-session: floor: %s: %s\n", what, c->errstr);
		exit(1);
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "bench-session: floor: %s: %s\n", what, r->str);
		exit(1);
	}
	return r;
}

/* The floor's connection to the store's server: url is the unix-socket
 * form the library gets, redis+unix:///PATH[?db=N&password=PW] (the
 * values without %-escapes).  FLUSHDB when flush is set. */
static void
floor_rd_open(floor_ *f, const char *url, const unsigned char *keyid,
    int flush)
{
	char path[512], pw[256] = "", db[16] = "0";
	const char *q, *v[3];
	size_t len[3], n;
	redisReply *r;

	memset(f, 0, sizeof(*f));
	if (strncmp(url, "redis+unix://", 13) != 0)
		die("floor: the Redis URL must be redis+unix:///PATH?...", -1);
	url += 13;
	n = strcspn(url, "?");
	if (n == 0 || n >= sizeof(path))
		die("floor: no socket path in the Redis URL", -1);
	memcpy(path, url, n);
	path[n] = '\0';
	for (q = url + n; *q == '?' || *q == '&'; q += n) {
		q++;
		n = strcspn(q, "&");
		if (strncmp(q, "db=", 3) == 0 && n - 3 < sizeof(db))
			snprintf(db, sizeof(db), "%.*s", (int)(n - 3), q + 3);
		else if (strncmp(q, "password=", 9) == 0 && n - 9 < sizeof(pw))
			snprintf(pw, sizeof(pw), "%.*s", (int)(n - 9), q + 9);
	}
	if ((f->rd = redisConnectUnix(path)) == NULL || f->rd->err != 0) {
		fprintf(stderr, "bench-session: floor: cannot connect to %s: "
		    "%s\n", path, f->rd != NULL ? f->rd->errstr : "no memory");
		exit(1);
	}
	if (*pw != '\0') {
		v[0] = "AUTH";
		v[1] = pw;
		len[0] = 4;
		len[1] = strlen(pw);
		freeReplyObject(rd_cmd(f->rd, 2, v, len, "AUTH"));
	}
	v[0] = "SELECT";
	v[1] = db;
	len[0] = 6;
	len[1] = strlen(db);
	freeReplyObject(rd_cmd(f->rd, 2, v, len, "SELECT"));
	if (flush) {
		v[0] = "FLUSHDB";
		len[0] = 7;
		freeReplyObject(rd_cmd(f->rd, 1, v, len, "FLUSHDB"));
	}
	v[0] = "SCRIPT";
	v[1] = "LOAD";
	v[2] = rd_update_lua;
	len[0] = 6;
	len[1] = 4;
	len[2] = strlen(rd_update_lua);
	r = rd_cmd(f->rd, 3, v, len, "SCRIPT LOAD");
	if (r->type != REDIS_REPLY_STRING || r->len != 40)
		die("floor: unexpected answer to SCRIPT LOAD", -1);
	memcpy(f->rd_sha, r->str, 41);
	freeReplyObject(r);
	gcry_cipher_open(&f->hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0);
	gcry_cipher_setkey(f->hd, key, sizeof(key));
	memcpy(f->keyid, keyid, 4);
}

static void
floor_rd_close(floor_ *f)
{
	redisFree(f->rd);
	gcry_cipher_close(f->hd);
}

static void
hex32(const unsigned char *h, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = d[h[i] >> 4];
		out[2 * i + 1] = d[h[i] & 15];
	}
	out[64] = '\0';
}

static void
floor_rd_round_trip(floor_ *f, enum op op, const char *cookie,
    const char *state, size_t state_len)
{
	static const char *const field[7] = { "state", "user", "version",
	    "created", "last_seen", "expires", "label" };
	unsigned char hash[32];
	size_t plain_len = 120, len[15], i;
	char k[sizeof(RD_PREFIX) + 2 + 64], hex[65], ver[24], ver1[24], now[24];
	const char *v[15], *p;
	int64_t version, t = wall();
	redisReply *r, **e;

	floor_open_cookie(f, cookie, hash, &plain_len);
	hex32(hash, hex);
	snprintf(k, sizeof(k), RD_PREFIX "s:%s", hex);
	v[0] = "HMGET";
	len[0] = 5;
	v[1] = k;
	len[1] = strlen(k);
	for (i = 0; i < 7; i++) {
		v[2 + i] = field[i];
		len[2 + i] = strlen(field[i]);
	}
	r = rd_cmd(f->rd, 9, v, len, "HMGET");
	e = r->element;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7 ||
	    e[0]->type != REDIS_REPLY_STRING || e[5]->type !=
	    REDIS_REPLY_STRING || strtoll(e[5]->str, NULL, 10) <= t)
		die("floor: session lost", -1);
	version = strtoll(e[2]->str, NULL, 10);
	if ((p = strstr(e[0]->str, "\"k\":")) == NULL)
		die("floor: no key k", -1);
	floor_value = strtod(p + 4, NULL);
	freeReplyObject(r);
	if (op == OP_READ)
		return;
	/* skey skey; prefix hex, no new hex, version, version + 1, state,
	 * no user, now, expires kept (0) and so no ttl (0). */
	snprintf(ver, sizeof(ver), "%lld", (long long)version);
	snprintf(ver1, sizeof(ver1), "%lld", (long long)version + 1);
	snprintf(now, sizeof(now), "%lld", (long long)t);
	v[0] = "EVALSHA";   v[1] = f->rd_sha;   v[2] = "2";
	v[3] = k;           v[4] = k;           v[5] = RD_PREFIX;
	v[6] = hex;         v[7] = "";          v[8] = ver;
	v[9] = ver1;        v[10] = state;      v[11] = "";
	v[12] = now;        v[13] = "0";        v[14] = "0";
	for (i = 0; i < 15; i++)
		len[i] = strlen(v[i]);
	len[10] = state_len;
	r = rd_cmd(f->rd, 15, v, len, "EVALSHA");
	if (r->type != REDIS_REPLY_INTEGER || r->integer != 0)
		die("floor: update did not apply", -1);
	freeReplyObject(r);
	floor_seal(f, plain_len);
}
#endif /* CRUMB_HAVE_REDIS */

static void
floor_round_trip(floor_ *f, enum op op, const char *cookie, double v,
    const char *state, size_t state_len)
{
	unsigned char hash[32], id[32];
	size_t plain_len = 120;
	int64_t version = 0, t = wall();
	const char *text, *p;
	int rc;

#ifdef CRUMB_HAVE_POSTGRES
	if (f->pg != NULL) {
		floor_pg_round_trip(f, op, cookie, state, state_len);
		return;
	}
#endif
#ifdef CRUMB_HAVE_REDIS
	if (f->rd != NULL) {
		floor_rd_round_trip(f, op, cookie, state, state_len);
		return;
	}
#endif
	if (op != OP_NEW)
		floor_open_cookie(f, cookie, hash, &plain_len);
	if (op == OP_READ || op == OP_WRITE) {
		sqlite3_bind_blob(f->sel, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_int64(f->sel, 2, t);
		if ((rc = sqlite3_step(f->sel)) != SQLITE_ROW)
			die("floor: session lost", -1);
		version = sqlite3_column_int64(f->sel, 1);
		/* Read the key by hand, as bench/floor-fcgi.c does: the
		 * least a program can do to get one value out of the text. */
		text = (const char *)sqlite3_column_text(f->sel, 0);
		if (text == NULL || (p = strstr(text, "\"k\":")) == NULL)
			die("floor: no key k", -1);
		floor_value = strtod(p + 4, NULL);
		sqlite3_reset(f->sel);
	}
	(void)v;
	switch (op) {
	case OP_READ:
		return;
	case OP_WRITE:
		sqlite3_bind_blob(f->upd, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(f->upd, 2, state, (int)state_len, SQLITE_STATIC);
		sqlite3_bind_int64(f->upd, 3, t);
		sqlite3_bind_int64(f->upd, 5, version);
		sql_ok(f->db, sqlite3_step(f->upd), "floor update");
		sqlite3_reset(f->upd);
		floor_seal(f, plain_len);
		return;
	case OP_NEW:
		gcry_randomize(id, sizeof(id), GCRY_STRONG_RANDOM);
		gcry_md_hash_buffer(GCRY_MD_SHA256, hash, id, 32);
		sqlite3_bind_blob(f->ins, 1, hash, 32, SQLITE_STATIC);
		sqlite3_bind_text(f->ins, 2, state, (int)state_len, SQLITE_STATIC);
		sqlite3_bind_int64(f->ins, 3, t);
		sqlite3_bind_int64(f->ins, 4, t + 86400);
		sql_ok(f->db, sqlite3_step(f->ins), "floor insert");
		sqlite3_reset(f->ins);
		floor_seal(f, plain_len);
		return;
	case OP_INVALIDATE:
		sqlite3_bind_blob(f->del, 1, hash, 32, SQLITE_STATIC);
		sql_ok(f->db, sqlite3_step(f->del), "floor delete");
		sqlite3_reset(f->del);
		return;
	}
}

/* ---------------------------------------------------------------- */

/* Fill the table with n expired-or-live filler records of state size
 * sbytes, in one transaction. */
static void
fill(const char *path, size_t n, size_t sbytes, int64_t expires)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	unsigned char h[32];
	char *state = pad(sbytes > 10 ? sbytes - 10 : 1, 'f');
	char *json = malloc(sbytes + 32);
	size_t i;

	snprintf(json, sbytes + 32, "{\"f\":\"%s\"}", state);
	sql_ok(NULL, sqlite3_open(path, &db), "open");
	sqlite3_busy_timeout(db, 5000);
	sql_ok(db, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), "begin");
	sql_ok(db, sqlite3_prepare_v2(db, "INSERT INTO crumb_sessions (id, "
	    "state, version, user, created, last_seen, expires) VALUES "
	    "(?1, ?2, 1, NULL, ?3, ?3, ?4)", -1, &q, NULL), "prepare");
	for (i = 0; i < n; i++) {
		gcry_create_nonce(h, sizeof(h));
		sqlite3_bind_blob(q, 1, h, 32, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, wall());
		sqlite3_bind_int64(q, 4, expires);
		sql_ok(db, sqlite3_step(q), "fill");
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	sql_ok(db, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
	/* Setup, not the scenario: a real store accumulated these rows
	 * over days, checkpointed as it went.  Left in the log, the first
	 * measured commit would pay for copying them all. */
	sql_ok(db, sqlite3_wal_checkpoint_v2(db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), "checkpoint");
	sqlite3_close(db);
	free(state);
	free(json);
}

static void
keyid_of(lib *l, unsigned char *keyid)
{
	unsigned char raw[64];
	const char *c = lib_new_session(l, 0, 0), *eq = strchr(c, '=');

	if (eq == NULL || (size_t)(eq - c) >= sizeof(cookie_name))
		die("a cookie without a short name", -1);
	memcpy(cookie_name, c, (size_t)(eq - c));
	cookie_name[eq - c] = '\0';
	floor_b64dec(eq + 1, 8, raw);
	memcpy(keyid, raw + 1, 4);
	free((void *)c);
}

typedef struct result {
	double lib_ns, floor_ns;
} result;

/* MICRO round trips from the i-th on (cookie pool or fresh sessions);
 * ns for all of them. */
static double
time_lib(lib *l, enum op op, char **fresh, size_t i0, size_t n)
{
	double t0 = now_ns();
	size_t i;

	/* A new visitor brings no cookie. */
	for (i = i0; i < i0 + n; i++)
		lib_round_trip(l, op, op == OP_NEW ? NULL : fresh ? fresh[i] :
		    l->cookies[i % l->n], (double)i);
	return now_ns() - t0;
}

static double
time_floor(floor_ *f, enum op op, char **fresh, lib *l, size_t i0, size_t n,
    size_t iters, const char *json, size_t jl)
{
	double t0 = now_ns();
	size_t i;

	for (i = i0; i < i0 + n; i++)
		floor_round_trip(f, op, fresh ? fresh[iters + i] :
		    l->cookies[i % l->n], (double)i, json, jl);
	return now_ns() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Paired micro-batches: MICRO round trips of the library, then MICRO of
 * the floor (which goes first alternates), over and over until iters
 * of each.  The slow phases of a shared VM, which last from
 * milliseconds to seconds, so fall on both sides alike; each side's
 * figure is its median micro-batch, which a stray spike (a preemption,
 * the commit that checkpoints) does not move. */
#define MICRO 20

/* The state the floor writes for op, as the library does: a new visitor
 * stores one key, an existing session keeps its padding.  New. */
static char *
state_json(enum op op, size_t sbytes)
{
	char *state = pad(sbytes > 12 ? sbytes - 12 : 1, 's'), *json;

	if ((json = malloc(sbytes + 40)) == NULL)
		die("malloc", -1);
	if (op == OP_NEW)
		snprintf(json, sbytes + 40, "{\"k\":%d}", 12345);
	else
		snprintf(json, sbytes + 40, "{\"k\":%d,\"pad\":\"%s\"}",
		    12345, state);
	free(state);
	return json;
}

static result
measure(lib *l, floor_ *f, enum op op, size_t iters, size_t sbytes)
{
	char *json = state_json(op, sbytes);
	char **fresh = NULL;
	size_t i, k, n, jl = strlen(json);
	double *tl, *tf;
	result r;

	if ((n = iters / MICRO) == 0)
		n = 1;
	iters = n * MICRO;
	tl = calloc(n, sizeof(double));
	tf = calloc(n, sizeof(double));
	if (tl == NULL || tf == NULL)
		die("calloc", -1);
	if (op == OP_INVALIDATE) {
		/* Each invalidation needs a session of its own. */
		if ((fresh = calloc(2 * iters, sizeof(char *))) == NULL)
			die("calloc", -1);
		for (i = 0; i < 2 * iters; i++)
			fresh[i] = lib_new_session(l, sbytes, 0);
	}
	for (k = 0; k < n; k++) {
		if (k % 2 == 0) {
			tl[k] = time_lib(l, op, fresh, k * MICRO, MICRO);
			tf[k] = time_floor(f, op, fresh, l, k * MICRO, MICRO,
			    iters, json, jl);
		} else {
			tf[k] = time_floor(f, op, fresh, l, k * MICRO, MICRO,
			    iters, json, jl);
			tl[k] = time_lib(l, op, fresh, k * MICRO, MICRO);
		}
	}
	r.lib_ns = median(tl, n) / MICRO;
	r.floor_ns = median(tf, n) / MICRO;
	if (fresh != NULL) {
		for (i = 0; i < 2 * iters; i++)
			free(fresh[i]);
		free(fresh);
	}
	free(tl);
	free(tf);
	free(json);
	return r;
}

static const char *const op_names[] = {
	"(a) existing session, read one key",
	"(b) existing session, read + write one key",
	"(c) new visitor stores one key",
	"(d) invalidate",
};

static void
print_row(const char *what, result r)
{
	printf("  %-46s %10.0f %10.0f %7.2fx\n", what, r.lib_ns, r.floor_ns,
	    r.lib_ns / r.floor_ns);
}

static void
db_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void
remove_db(const char *path)
{
	char p[700];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-gate", path);
	unlink(p);
}

/* A scenario: a fresh database with filler sessions, a pool of live
 * ones, and the round trips measured. */
typedef struct scenario {
	const char *label;
	size_t sessions, sbytes, cbytes;
} scenario;

static result
run_scenario(const scenario *sc, enum op first, enum op last, result *out)
{
	char path[600];
	unsigned char keyid[4];
	size_t iters[] = { 20000, 10000, 10000, 3000 };
	size_t pool = sc->sessions < POOL ? sc->sessions : POOL;
	lib l;
	floor_ f;
	enum op op;
	int big = sc->sbytes >= 10000 || sc->cbytes >= 1000;

	db_path(path, sizeof(path), "bench-session.db");
	remove_db(path);
	lib_open(&l, path);
	if (sc->sessions > pool)
		fill(path, sc->sessions - pool, sc->sbytes, wall() + 86400);
	lib_pool(&l, pool, sc->sbytes, sc->cbytes);
	keyid_of(&l, keyid);
	floor_open(&f, path, keyid);
	for (op = first; op <= last; op++) {
		size_t n = iters[op] / (quick ? 10 : 1) / (big ? 4 : 1);
		/* Warm the caches and the statements. */
		measure(&l, &f, op, n / 10 + 1, sc->sbytes);
		out[op] = measure(&l, &f, op, n, sc->sbytes);
	}
	floor_close(&f);
	lib_close(&l);
	remove_db(path);
	return out[first];
}

/* How a round trip's cost grows from a store of small->sessions to one
 * of big->sessions: both stores open at once and measured in paired
 * batches (a batch of round trips on one, then on the other; the
 * floor's two likewise, in the same rounds), as measure() pairs the
 * library with the floor, so that a slow phase of the machine does not
 * fall on one store only.  Reads in long batches (5 to 10 ms), so that
 * each store works from a warm processor cache, as a worker's one store
 * does; writes in batches of 100 (2 to 4 ms), so that the commits that
 * checkpoint fall in few of them and the median leaves them out, as
 * measure()'s does (with 1000, every other batch held one).
 * lib[op] and flo[op] get the big store's median batch over the small
 * one's, for (a) and (b). */
#define GROWTH_READS 1000
#define GROWTH_WRITES 100

static void
growth(const scenario *small, const scenario *big, double *lib_g,
    double *flo_g)
{
	char pa[600], pb[600];
	unsigned char keyid[4];
	lib a, b;
	floor_ fa, fb;
	enum op op;

	db_path(pa, sizeof(pa), "bench-small.db");
	db_path(pb, sizeof(pb), "bench-big.db");
	remove_db(pa);
	remove_db(pb);
	lib_open(&a, pa);
	lib_open(&b, pb);
	fill(pb, big->sessions - POOL, big->sbytes, wall() + 86400);
	lib_pool(&a, POOL, small->sbytes, small->cbytes);
	lib_pool(&b, POOL, big->sbytes, big->cbytes);
	keyid_of(&a, keyid);
	floor_open(&fa, pa, keyid);
	floor_open(&fb, pb, keyid);
	for (op = OP_READ; op <= OP_WRITE; op++) {
		size_t n = (op == OP_READ ? 40000 : 20000) / (quick ? 10 : 1);
		size_t m = op == OP_READ ? GROWTH_READS : GROWTH_WRITES;
		size_t batches = n / m, warm = batches / 10 + 1, k;
		char *json = state_json(op, small->sbytes);
		size_t jl = strlen(json);
		double *t[4];

		for (k = 0; k < 4; k++)
			if ((t[k] = calloc(batches + warm, sizeof(double))) == NULL)
				die("calloc", -1);
		for (k = 0; k < warm + batches; k++) {
			size_t i0 = k * m, w = k < warm ? 0 : k - warm;
			int odd = k % 2;

			t[odd][w] = time_lib(odd ? &b : &a, op, NULL, i0, m);
			t[!odd][w] = time_lib(odd ? &a : &b, op, NULL, i0, m);
			t[2 + odd][w] = time_floor(odd ? &fb : &fa, op, NULL,
			    odd ? &b : &a, i0, m, 0, json, jl);
			t[2 + !odd][w] = time_floor(odd ? &fa : &fb, op, NULL,
			    odd ? &a : &b, i0, m, 0, json, jl);
		}
		lib_g[op] = median(t[1], batches) / median(t[0], batches);
		flo_g[op] = median(t[3], batches) / median(t[2], batches);
		for (k = 0; k < 4; k++)
			free(t[k]);
		free(json);
	}
	floor_close(&fa);
	floor_close(&fb);
	lib_close(&a);
	lib_close(&b);
	remove_db(pa);
	remove_db(pb);
}

/* A visitor without a cookie who stores nothing: what the session layer
 * costs on every anonymous page (no store call, no Set-Cookie).  Best
 * of three batches. */
static double
anonymous_ns(size_t iters)
{
	char path[600];
	double best = 1e18, t0, t;
	const char *theme;
	size_t i, rep;
	lib l;

	db_path(path, sizeof(path), "bench-anon.db");
	remove_db(path);
	lib_open(&l, path);
	for (rep = 0; rep < 3; rep++) {
		t0 = now_ns();
		for (i = 0; i < iters; i++) {
			crumb_session *s;
			char *h;
			int rc;

			if ((rc = crumb_session_begin(l.cfg, NULL, &s)) != CRUMB_OK)
				die("begin", rc);
			if (crumb_state_get_string(crumb_session_client(s),
			    "theme", &theme) != CRUMB_E_NOT_FOUND)
				die("anonymous: unexpected client state", -1);
			if ((rc = crumb_session_finish_str(s, &h)) != CRUMB_OK)
				die("finish", rc);
			if (*h != '\0')
				die("anonymous: headers for a visitor who stored "
				    "nothing", -1);
			crumb_free(h);
			crumb_session_free(s);
		}
		if ((t = (now_ns() - t0) / (double)iters) < best)
			best = t;
	}
	lib_close(&l);
	remove_db(path);
	return best;
}

/* ---------------------------------------------------------------- */
/* Purge while another process does round trips.                    */

/* The other process: its own connection, round trips until stop is
 * readable; writes the worst latency (ns) and the count to res. */
static void
purge_child(const char *path, char **cookies, size_t n, int stop, int res)
{
	double worst = 0, out[2];
	size_t i = 0;
	lib c;

	lib_open(&c, path);
	for (;;) {
		double a = now_ns(), d;
		struct timeval tv = { 0, 0 };
		fd_set fds;

		lib_round_trip(&c, i % 2 ? OP_WRITE : OP_READ, cookies[i % n],
		    (double)i);
		if ((d = now_ns() - a) > worst)
			worst = d;
		i++;
		FD_ZERO(&fds);
		FD_SET(stop, &fds);
		if (select(stop + 1, &fds, NULL, NULL, &tv) > 0)
			break;
	}
	out[0] = worst;
	out[1] = (double)i;
	if (write(res, out, sizeof(out)) != sizeof(out))
		_exit(1);
	_exit(0);
}

/* Returns the worst round-trip latency in ms seen during the purge. */
static double
purge_bench(size_t n)
{
	char path[600];
	int stop[2], res[2], status;
	double t0, dur, got[2] = { 1e18, 0 };
	uint64_t deleted = 0;
	pid_t pid;
	lib l;
	int rc;

	db_path(path, sizeof(path), "bench-purge.db");
	remove_db(path);
	lib_open(&l, path);
	lib_pool(&l, 100, 100, 0);
	fill(path, n, 100, 1000);      /* long expired */
	if (pipe(stop) != 0 || pipe(res) != 0)
		die("pipe", -1);
	if ((pid = fork()) < 0)
		die("fork", -1);
	if (pid == 0) {
		close(stop[1]);
		close(res[0]);
		purge_child(path, l.cookies, l.n, stop[0], res[1]);
	}
	close(stop[0]);
	close(res[1]);
	usleep(200000);       /* let the other process warm up */
	t0 = now_ns();
	rc = crumb_store_purge(l.store, 0, 0, &deleted);
	dur = (now_ns() - t0) / 1e9;
	usleep(100000);
	close(stop[1]);
	if (read(res[0], got, sizeof(got)) != sizeof(got))
		got[0] = 1e18;
	close(res[0]);
	waitpid(pid, &status, 0);
	if (rc != CRUMB_OK)
		die("purge", rc);
	printf("  purge of %llu expired records: %.2f s (%.0f records/s)\n",
	    (unsigned long long)deleted, dur, deleted / dur);
	printf("  round trips meanwhile in another process: %.0f, worst %.2f ms\n",
	    got[1], got[0] / 1e6);
	lib_close(&l);
	remove_db(path);
	return got[0] / 1e6;
}

#ifdef CRUMB_HAVE_POSTGRES
/* Round trips per request of op, library and floor, over n requests. */
static void
pg_trips(lib *l, floor_ *f, enum op op, size_t n, double *lib_rt,
    double *floor_rt)
{
	char *json = state_json(op, 100);
	unsigned long a;

	/* Values no round trip wrote before: the library leaves a record
	 * whose state did not change alone, and that is not a write. */
	a = lib_pg_trips;
	time_lib(l, op, NULL, 1000000, n);
	*lib_rt = (double)(lib_pg_trips - a) / (double)n;
	a = floor_pg_trips;
	time_floor(f, op, NULL, l, 0, n, 0, json, strlen(json));
	*floor_rt = (double)(floor_pg_trips - a) / (double)n;
	free(json);
}

#endif /* CRUMB_HAVE_POSTGRES */

#if defined(CRUMB_HAVE_POSTGRES) || defined(CRUMB_HAVE_REDIS)
/* Round trips per request of op, library and floor, over n requests. */
typedef void trips_fn(lib *l, floor_ *f, enum op op, size_t n,
    double *lib_rt, double *floor_rt);

/* A server store's table, (a) and (b) against its floor with round
 * trips (trips; how they are counted: how), and its two targets,
 * named PREFIX_round_trip_{read,write}_vs_floor. */
static void
store_vs_floor(lib *l, floor_ *f, const char *title, trips_fn *trips,
    const char *how, const char *prefix)
{
	size_t iters[] = { 20000, 10000 };
	double rt_lib[2], rt_floor[2];
	char name[64];
	result r[2];
	enum op op;

	printf("%s store against its floor (%d sessions; ns per "
	    "operation, median of paired batches)\n", title, POOL);
	printf("  %-46s %10s %10s %8s %s\n", "operation", "crumb", "floor",
	    "ratio", "  round trips (crumb/floor)");
	for (op = OP_READ; op <= OP_WRITE; op++) {
		size_t n = iters[op] / (quick ? 10 : 1);

		measure(l, f, op, n / 10 + 1, 100);
		r[op] = measure(l, f, op, n, 100);
		trips(l, f, op, 100, &rt_lib[op], &rt_floor[op]);
		printf("  %-46s %10.0f %10.0f %7.2fx   %.2f / %.2f\n",
		    op_names[op], r[op].lib_ns, r[op].floor_ns,
		    r[op].lib_ns / r[op].floor_ns, rt_lib[op], rt_floor[op]);
	}
	printf("  (round trips: %s)\n\n", how);
	snprintf(name, sizeof(name), "%s_round_trip_read_vs_floor", prefix);
	target(name, r[OP_READ].lib_ns / r[OP_READ].floor_ns, "x", "<=", 1.2);
	snprintf(name, sizeof(name), "%s_round_trip_write_vs_floor", prefix);
	target(name, r[OP_WRITE].lib_ns / r[OP_WRITE].floor_ns, "x", "<=",
	    1.3);
}
#endif

#ifdef CRUMB_HAVE_POSTGRES
/* (a) and (b) on the PostgreSQL store at conninfo against its floor, on
 * a table emptied first and holding the pool only. */
static void
pg_bench(const char *conninfo)
{
	char err[512];
	unsigned char keyid[4];
	crumb_store *store;
	PGresult *res;
	floor_ f;
	lib l;
	int rc;

	if ((rc = crumb_store_postgres_open(conninfo, 0, &store, err,
	    sizeof(err))) != CRUMB_OK) {
		fprintf(stderr, "bench-session: %s\n", err);
		exit(1);
	}
	lib_open_store(&l, store);
	memset(keyid, 0, sizeof(keyid));
	floor_pg_open(&f, conninfo, keyid);
	res = PQexec(f.pg, "TRUNCATE crumb_sessions");
	pg_ok(f.pg, res, "truncate");
	PQclear(res);
	lib_pool(&l, POOL, 100, 0);
	keyid_of(&l, f.keyid);
	store_vs_floor(&l, &f, "4. PostgreSQL", pg_trips, "the floor's "
	    "PQexecPrepared calls; the library's libpq sends, counted in front "
	    "of libpq", "pg");
	floor_pg_close(&f);
	lib_close(&l);
}
#endif

#ifdef CRUMB_HAVE_REDIS
/* Round trips per request of op, library and floor, over n requests. */
static void
rd_trips(lib *l, floor_ *f, enum op op, size_t n, double *lib_rt,
    double *floor_rt)
{
	char *json = state_json(op, 100);

	/* Values no round trip wrote before, as pg_trips. */
	rd_sends = 0;
	rd_counting = 1;
	time_lib(l, op, NULL, 1000000, n);
	*lib_rt = (double)rd_sends / (double)n;
	rd_sends = 0;
	time_floor(f, op, NULL, l, 0, n, 0, json, strlen(json));
	*floor_rt = (double)rd_sends / (double)n;
	rd_counting = 0;
	free(json);
}

/* (a) and (b) on the Redis store at url (the unix-socket form) against
 * its floor, on a database emptied first and holding the pool only. */
static void
rd_bench(const char *url)
{
	char err[512];
	unsigned char keyid[4];
	crumb_store *store;
	floor_ f;
	lib l;
	int rc;

	memset(keyid, 0, sizeof(keyid));
	floor_rd_open(&f, url, keyid, 1);
	if ((rc = crumb_store_redis_open(url, 0, &store, err,
	    sizeof(err))) != CRUMB_OK) {
		fprintf(stderr, "bench-session: %s\n", err);
		exit(1);
	}
	lib_open_store(&l, store);
	lib_pool(&l, POOL, 100, 0);
	keyid_of(&l, f.keyid);
	store_vs_floor(&l, &f, "5. Redis", rd_trips, "sends on the server's "
	    "socket, each answered before the next; the floor: HMGET, and "
	    "EVALSHA of the store's update script, through hiredis by hand",
	    "redis");
	floor_rd_close(&f);
	lib_close(&l);
}
#endif

static const char usage[] =
    "usage: bench-session [-q] [-P] [-G] [-S N] [-p CONNINFO] [-r URL] "
    "[-o FILE] [-d DIR]\n"
    "  -q       quick run (fewer sessions and rounds)\n"
    "  -P       the purge benchmark only\n"
    "  -G       the 1k-to-1M growth only\n"
    "  -S N     read and read + write with N sessions only\n"
    "  -p CONNINFO  read and read + write on the PostgreSQL store only\n"
    "  -r URL   read and read + write on the Redis store only\n"
    "           (redis+unix:///PATH?db=N&password=PW; the database is "
    "emptied)\n"
    "  -o FILE  write the target lines to FILE\n"
    "  -d DIR   directory for the databases\n";

int
main(int argc, char **argv)
{
	static const scenario counts[] = {
		{ "1 thousand sessions", 1000, 100, 0 },
		{ "100 thousand sessions", 100000, 100, 0 },
		{ "1 million sessions", 1000000, 100, 0 },
	};
	static const scenario sizes[] = {
		{ "client state 0 KiB", 1000, 100, 0 },
		{ "client state 1 KiB", 1000, 100, 1024 },
		/* 3 KiB of client state cannot fit the 4096-byte cookie once
		 * encrypted and encoded: the largest that does, ~2.9 KiB. */
		{ "client state 2.9 KiB (cookie 4 KiB)", 1000, 100, 2900 },
		{ "server state 100 B", 1000, 100, 0 },
		{ "server state 10 KiB", 1000, 10240, 0 },
		{ "server state 100 KiB", 1000, 102400, 0 },
	};
	result base[4], r[4], scale[3][4];
	double grow[2], grow_floor[2];
	size_t i, ncounts = 3;
	double purge_ms;
	int purge_only = 0, growth_only = 0;
	long only_n = 0;
	int c;
	char *targets_path = NULL, *pg_conninfo = NULL, *rd_url = NULL;

	/* getopt() would read "--help" as the options -, h, e... */
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	while ((c = getopt(argc, argv, "hqPGS:p:r:o:d:")) != -1) {
		switch (c) {
		case 'h': fputs(usage, stdout); return 0;
		case 'q': quick = 1; break;
		case 'P': purge_only = 1; break;
		case 'G': growth_only = 1; break;
		case 'S': only_n = strtol(optarg, NULL, 10); break;
		case 'p': pg_conninfo = optarg; break;
		case 'r': rd_url = optarg; break;
		case 'o': targets_path = optarg; break;
		case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-session: unexpected %s\n%s", argv[optind],
		    usage);
		return 2;
	}
	if (targets_path != NULL && (targets = fopen(targets_path, "w")) == NULL)
		die(targets_path, -1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (quick)
		ncounts = 2;

	if (pg_conninfo != NULL) {
#ifdef CRUMB_HAVE_POSTGRES
		pg_bench(pg_conninfo);
		if (targets != NULL)
			fclose(targets);
		return 0;
#else
		fprintf(stderr, "bench-session: crumb was built without "
		    "PostgreSQL\n");
		return 2;
#endif
	}
	if (rd_url != NULL) {
#ifdef CRUMB_HAVE_REDIS
		rd_bench(rd_url);
		if (targets != NULL)
			fclose(targets);
		return 0;
#else
		fprintf(stderr, "bench-session: crumb was built without "
		    "Redis\n");
		return 2;
#endif
	}
	if (only_n > 0) {
		scenario sc = { "", (size_t)only_n, 100, 0 };

		printf("Read and read + write with %ld sessions\n", only_n);
		run_scenario(&sc, OP_READ, OP_WRITE, r);
		print_row("(a) read", r[OP_READ]);
		print_row("(b) read + write", r[OP_WRITE]);
		return 0;
	}
	if (growth_only) {
		growth(&counts[0], &counts[quick ? 1 : 2], grow, grow_floor);
		printf("growth from 1 thousand to %zu sessions: (a) read %.2fx "
		    "(floor %.2fx), (b) read + write %.2fx (floor %.2fx)\n",
		    counts[quick ? 1 : 2].sessions, grow[OP_READ],
		    grow_floor[OP_READ], grow[OP_WRITE], grow_floor[OP_WRITE]);
		return 0;
	}
	if (purge_only) {
		printf("3. Purge while another process does round trips\n");
		purge_ms = purge_bench(quick ? 20000 : 1000000);
		target("purge_worst_round_trip", purge_ms, " ms", "<=", 50);
		return 0;
	}
	printf("1. Round trips against the floor (warm SQLite store, "
	    "1000 sessions; ns per operation, median of paired batches)\n");
	printf("  %-46s %10s %10s %8s\n", "operation", "crumb", "floor", "ratio");
	{
		scenario sc = { "base", 1000, 100, 0 };
		run_scenario(&sc, OP_READ, OP_INVALIDATE, base);
		for (i = 0; i < 4; i++)
			print_row(op_names[i], base[i]);
		printf("  %-46s %10.0f %10s\n", "(e) anonymous visitor, nothing stored",
		    anonymous_ns(quick ? 2000 : 20000), "-");
	}

	printf("\n2. Scaling: (a) read and (b) read + write, ns per operation\n");
	printf("  %-46s %10s %10s %8s\n", "", "crumb", "floor", "ratio");
	for (i = 0; i < ncounts; i++) {
		scenario sc = counts[i];
		if (quick && i == 1)
			sc.sessions = 10000;
		run_scenario(&sc, OP_READ, OP_WRITE, scale[i]);
		printf("  %s\n", sc.label);
		print_row("  (a) read", scale[i][OP_READ]);
		print_row("  (b) read + write", scale[i][OP_WRITE]);
	}
	{
		scenario big = counts[ncounts - 1];

		if (quick && ncounts == 2) {
			big.sessions = 10000;
			big.label = "10 thousand sessions";
		}
		growth(&counts[0], &big, grow, grow_floor);
		printf("  growth from %s to %s, the two stores side by side:\n"
		    "    (a) read %.2fx (floor %.2fx), (b) read + write %.2fx "
		    "(floor %.2fx)\n", counts[0].label, big.label,
		    grow[OP_READ], grow_floor[OP_READ], grow[OP_WRITE],
		    grow_floor[OP_WRITE]);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		run_scenario(&sizes[i], OP_READ, OP_WRITE, r);
		printf("  %s\n", sizes[i].label);
		print_row("  (a) read", r[OP_READ]);
		print_row("  (b) read + write", r[OP_WRITE]);
	}

	printf("\n3. Purge while another process does round trips\n");
	purge_ms = purge_bench(quick ? 20000 : 1000000);

	printf("\n");
	target("round_trip_read_vs_floor", base[OP_READ].lib_ns /
	    base[OP_READ].floor_ns, "x", "<=", 1.2);
	target("round_trip_write_vs_floor", base[OP_WRITE].lib_ns /
	    base[OP_WRITE].floor_ns, "x", "<=", 1.3);
	target("scaling_read_1k_to_1m", grow[OP_READ], "x", "<=", 1.3);
	target("scaling_write_1k_to_1m", grow[OP_WRITE], "x", "<=", 1.3);
	target("purge_worst_round_trip", purge_ms, " ms", "<=", 50);
	if (targets != NULL)
		fclose(targets);
	return 0;
}
