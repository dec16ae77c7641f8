/*
 * PostgreSQL store (libpq).  One connection per store handle, opened at
 * crumb_store_postgres_open and kept for the life of the process; its
 * statements are prepared once per connection, in one round trip.
 * Every call is one autocommit statement and one network round trip,
 * except the locked path: lock sends BEGIN and SELECT ... FOR UPDATE in
 * one pipeline, hands the row it read to the load that follows, and
 * unlock commits.
 *
 * No call waits past the timeout: the server enforces it as
 * statement_timeout and lock_timeout, and the client gives up a little
 * later (a server that does not answer at all) and drops the connection.
 * A connection that broke is replaced at the start of the next call, so
 * a restarted server is used again without restarting the process.
 *
 * Built without libpq, crumb_store_postgres_open says so and fails.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#ifndef CRUMB_HAVE_POSTGRES

CRUMB_API int
crumb_store_postgres_open(const char *conninfo, int timeout_ms,
    crumb_store **out, char *errbuf, size_t errlen)
{
	(void)conninfo;
	(void)timeout_ms;
	if (out != NULL)
		*out = NULL;
	if (errbuf != NULL && errlen > 0)
		crumb_fmt(errbuf, errlen, "postgresql: crumb was built without "
		    "PostgreSQL support (configure --with-postgresql)");
	return out == NULL ? CRUMB_E_INVAL : CRUMB_E_CANTOPEN;
}

#else /* CRUMB_HAVE_POSTGRES */

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <libpq-fe.h>

#include "postgres-schema.h"

#define DEFAULT_TIMEOUT_MS 5000
/* The client waits this much longer than the server's own timeout, so
 * that a busy server answers with its clean timeout error first. */
#define GRACE_MS 1000
/* pg_advisory_xact_lock key serializing schema creation ("crumb"). */
#define SCHEMA_LOCK "426883933538"
#define MAX_PARAMS 9

enum {
	Q_LOAD, Q_LOCK, Q_CREATE, Q_UPDATE, Q_TOUCH, Q_REMOVE, Q_CHANGE_ID,
	Q_PURGE, Q_USER_REMOVE, Q_USER_LIST, Q_SET_LABEL, Q_COUNT
};

static const char *const qname[Q_COUNT] = {
	"crumb_load", "crumb_lock", "crumb_create", "crumb_update",
	"crumb_touch", "crumb_remove", "crumb_change_id", "crumb_purge",
	"crumb_user_remove", "crumb_user_list", "crumb_set_label",
};

/* Parameters are sent and results read in binary: text as its bytes,
 * so that the state round-trips exactly; bigint as 8 bytes. */
static const char *const qsql[Q_COUNT] = {
	[Q_LOAD] = "SELECT state, \"user\", version, created, last_seen, "
	    "expires, label FROM crumb_sessions WHERE id = $1::bytea AND "
	    "expires > $2::bigint",
	/* The row as it is once locked (READ COMMITTED reads the newest
	 * committed version after the wait); load checks expires. */
	[Q_LOCK] = "SELECT state, \"user\", version, created, last_seen, "
	    "expires, label FROM crumb_sessions WHERE id = $1::bytea "
	    "FOR UPDATE",
	[Q_CREATE] = "INSERT INTO crumb_sessions (id, state, version, "
	    "\"user\", created, last_seen, expires) VALUES ($1::bytea, "
	    "$2::text, 1, $3::text, $4::bigint, $4::bigint, $5::bigint)",
	/* One round trip tells success, conflict and absence apart: the
	 * EXISTS reads the statement's snapshot, before the UPDATE. */
	[Q_UPDATE] = "WITH u AS (UPDATE crumb_sessions SET "
	    "id = coalesce($2::bytea, id), state = $3::text, "
	    "version = version + 1, \"user\" = $4::text, "
	    "last_seen = $5::bigint, expires = CASE WHEN $6::bigint = 0 "
	    "THEN expires ELSE $6::bigint END WHERE id = $1::bytea AND "
	    "version = $7::bigint AND expires > $5::bigint RETURNING 1) "
	    "SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM "
	    "crumb_sessions WHERE id = $1::bytea AND expires > $5::bigint)",
	[Q_TOUCH] = "UPDATE crumb_sessions SET last_seen = $2::bigint, "
	    "expires = $3::bigint WHERE id = $1::bytea AND "
	    "expires > $2::bigint",
	[Q_REMOVE] = "DELETE FROM crumb_sessions WHERE id = $1::bytea",
	[Q_CHANGE_ID] = "UPDATE crumb_sessions SET id = $2::bytea, "
	    "last_seen = $3::bigint WHERE id = $1::bytea AND "
	    "expires > $3::bigint",
	/* SKIP LOCKED: a purge neither waits for a request holding a row
	 * nor for another purge deleting the same batch. */
	[Q_PURGE] = "DELETE FROM crumb_sessions WHERE id IN (SELECT id FROM "
	    "crumb_sessions WHERE expires <= $1::bigint LIMIT $2::bigint "
	    "FOR UPDATE SKIP LOCKED)",
	[Q_USER_REMOVE] = "DELETE FROM crumb_sessions WHERE \"user\" = "
	    "$1::text",
	[Q_USER_LIST] = "SELECT id, created, last_seen, expires, label FROM "
	    "crumb_sessions WHERE \"user\" = $1::text AND "
	    "expires > $2::bigint ORDER BY last_seen DESC",
	[Q_SET_LABEL] = "UPDATE crumb_sessions SET label = $2::text "
	    "WHERE id = $1::bytea",
};

typedef struct pstore {
	PGconn *conn;            /* NULL between a failure and a reconnect */
	const char **keys;       /* libpq connection parameters, NULL-ended */
	const char **vals;
	char **owned;            /* the strings keys and vals point to */
	size_t n_owned;
	char *secret[2];         /* the password as given and as decoded */
	int timeout_ms;
	int in_txn;              /* between p_lock and p_unlock */
	int txn_broken;          /* the connection broke inside it */
	int dropped;             /* this call's connection broke under it */
	int doomed;              /* the server said it closes the connection */
	PGresult *row;           /* the last record handed out (borrowed) */
	PGresult *locked;        /* the row p_lock read, for the next load */
	uint8_t locked_hash[CRUMB_HASH_LEN];
	char msg[CRUMB_ERRMSG_LEN];
} pstore;

/* Parameters of one statement, all binary. */
typedef struct params {
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	int fmt[MAX_PARAMS];
	uint64_t be[MAX_PARAMS];     /* storage of the bigints */
	int n;
} params;

static void
p_bytes(params *p, const void *v, size_t len)
{
	p->v[p->n] = v;
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

static void
p_hash(params *p, const uint8_t *hash)
{
	p_bytes(p, hash, hash != NULL ? CRUMB_HASH_LEN : 0);
	if (hash == NULL)
		p->v[p->n - 1] = NULL;      /* SQL NULL */
}

static void
p_text(params *p, const char *s, size_t len)
{
	p_bytes(p, s, s != NULL ? len : 0);
}

static void
p_int(params *p, int64_t v)
{
	p->be[p->n] = htobe64((uint64_t)v);
	p_bytes(p, &p->be[p->n], 8);
}

static int64_t
col_int(const PGresult *r, int row, int col)
{
	uint64_t v = 0;

	if (!PQgetisnull(r, row, col) && PQgetlength(r, row, col) == 8)
		memcpy(&v, PQgetvalue(r, row, col), 8);
	return (int64_t)be64toh(v);
}

/* NULL for SQL NULL; libpq ends every value with a NUL byte. */
static const char *
col_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- messages: keep the detail, never the password ---- */

/* Overwrite every copy of a secret in msg with stars. */
static void
scrub(pstore *ps, char *msg)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *s = ps->secret[i];
		size_t n = s != NULL ? strlen(s) : 0;
		char *p;

		while (n > 0 && (p = strstr(msg, s)) != NULL)
			memset(p, '*', n);
	}
}

/* Sets ps->msg from libpq's text (one line, without the newline). */
static void
set_msg(pstore *ps, const char *what, const char *detail,
    const char *sqlstate)
{
	size_t n;

	if (detail == NULL || *detail == '\0')
		detail = "unknown error";
	if (sqlstate != NULL)
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: %s%s%s "
		    "(SQLSTATE %s)", what, *what != '\0' ? ": " : "", detail,
		    sqlstate);
	else
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: %s%s%s", what,
		    *what != '\0' ? ": " : "", detail);
	for (n = 0; ps->msg[n] != '\0'; n++)
		if (ps->msg[n] == '\n' || ps->msg[n] == '\r')
			ps->msg[n] = ' ';
	while (n > 0 && ps->msg[n - 1] == ' ')
		ps->msg[--n] = '\0';
	scrub(ps, ps->msg);
}

static int
map_sqlstate(const char *st)
{
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "23505") == 0)
		return CRUMB_E_CONFLICT;
	if (strcmp(st, "53100") == 0)
		return CRUMB_E_FULL;
	if (strcmp(st, "53200") == 0)
		return CRUMB_E_NOMEM;
	if (strcmp(st, "25006") == 0)
		return CRUMB_E_READONLY;
	if (strcmp(st, "57014") == 0 || strcmp(st, "55P03") == 0)
		return CRUMB_E_BUSY;
	/* Connection exceptions, and the server going away or not ready. */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0 ||
	    strcmp(st, "53300") == 0)
		return CRUMB_E_CANTOPEN;
	return CRUMB_E_STORE;
}

/* A connection that broke: the next call reconnects. */
static int
lost(pstore *ps, const char *detail)
{
	set_msg(ps, "connection lost", detail, NULL);
	ps->dropped = 1;
	if (ps->in_txn)
		ps->txn_broken = 1;
	PQfinish(ps->conn);
	ps->conn = NULL;
	return CRUMB_E_CANTOPEN;
}

/* Map a failed result (or libpq's own failure when r is NULL). */
static int
fail(pstore *ps, const PGresult *r)
{
	const char *st = r != NULL ?
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *text = r != NULL ? PQresultErrorField(r,
	    PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int rc;

	if (ps->conn == NULL || PQstatus(ps->conn) == CONNECTION_BAD)
		return lost(ps, text != NULL ? text :
		    ps->conn != NULL ? PQerrorMessage(ps->conn) : NULL);
	if (st == NULL) {
		set_msg(ps, "", PQerrorMessage(ps->conn), NULL);
		return CRUMB_E_STORE;
	}
	rc = map_sqlstate(st);
	set_msg(ps, "", text, st);
	return rc;
}

/* ---- talking to the server, never longer than the deadline ---- */

/* Flush what libpq queued and wait until a result can be read without
 * blocking.  Past the deadline the connection is dropped: its state is
 * unknown, and a fresh one serves the next call. */
static int
await(pstore *ps, int64_t deadline)
{
	PGconn *c = ps->conn;

	for (;;) {
		struct pollfd pfd;
		int fl = PQflush(c), n;
		int64_t left;

		if (fl < 0)
			return lost(ps, PQerrorMessage(c));
		if (fl == 0 && !PQisBusy(c))
			return CRUMB_OK;
		if ((left = deadline - mono_ms()) <= 0) {
			int in_txn = ps->in_txn;

			PQfinish(ps->conn);
			ps->conn = NULL;
			ps->txn_broken = in_txn;
			crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: no "
			    "answer from the server within %d ms; connection "
			    "closed", ps->timeout_ms + GRACE_MS);
			return CRUMB_E_BUSY;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN | (fl == 1 ? POLLOUT : 0);
		pfd.revents = 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			return lost(ps, strerror(errno));
		if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) &&
		    !PQconsumeInput(c))
			return lost(ps, PQerrorMessage(c));
	}
}

/* The results of one query: the last one, or the first failure. */
static int
collect(pstore *ps, int64_t deadline, PGresult **out)
{
	PGresult *keep = NULL, *r;
	int rc;

	*out = NULL;
	for (;;) {
		ExecStatusType st;

		if ((rc = await(ps, deadline)) != CRUMB_OK) {
			PQclear(keep);
			return rc;
		}
		if ((r = PQgetResult(ps->conn)) == NULL)
			break;
		st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC && keep == NULL) {
			keep = r;       /* a pipeline's end: nothing follows */
			break;
		}
		if (keep != NULL && (PQresultStatus(keep) == PGRES_FATAL_ERROR ||
		    PQresultStatus(keep) == PGRES_PIPELINE_ABORTED)) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	if (keep == NULL)
		return fail(ps, NULL);
	if (PQresultStatus(keep) != PGRES_TUPLES_OK &&
	    PQresultStatus(keep) != PGRES_COMMAND_OK &&
	    PQresultStatus(keep) != PGRES_PIPELINE_SYNC) {
		rc = fail(ps, keep);
		PQclear(keep);
		return rc;
	}
	*out = keep;
	return CRUMB_OK;
}

/* Notices ("relation already exists, skipping") are not errors, and a
 * CGI program's stderr is the web server's error log: none is printed.
 * A FATAL one is the server's last word on an idle connection (shutdown,
 * pg_terminate_backend), which it closes next: do not use it again. */
static void
on_notice(void *arg, const PGresult *r)
{
	pstore *ps = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (sev != NULL && (strcmp(sev, "FATAL") == 0 ||
	    strcmp(sev, "PANIC") == 0))
		ps->doomed = 1;
}

/* One simple-protocol command (several statements run as one implicit
 * transaction); *out, when not NULL, gets its last result. */
static int
command(pstore *ps, const char *sql, PGresult **out)
{
	PGresult *r = NULL;
	int rc;

	if (!PQsendQuery(ps->conn, sql))
		return fail(ps, NULL);
	rc = collect(ps, mono_ms() + ps->timeout_ms + GRACE_MS, &r);
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return rc;
}

/* Create the table and its indexes when the table is missing.  A user
 * that may not create tables can use a table made by hand: it is only
 * looked up then. */
static int
ensure_schema(pstore *ps)
{
	PGresult *r = NULL;
	char *sql;
	size_t n;
	int rc, exists;

	rc = command(ps, "SELECT to_regclass('crumb_sessions') IS NOT NULL",
	    &r);
	if (rc != CRUMB_OK)
		return rc;
	exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (exists)
		return CRUMB_OK;
	n = sizeof("SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");\n") +
	    sizeof(crumb_postgres_schema);
	if ((sql = malloc(n)) == NULL)
		return CRUMB_E_NOMEM;
	crumb_fmt(sql, n, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");\n%s",
	    crumb_postgres_schema);
	rc = command(ps, sql, NULL);
	free(sql);
	if (rc != CRUMB_OK) {
		char m[sizeof(ps->msg)];

		crumb_fmt(m, sizeof(m), "%s", ps->msg);
		crumb_fmt(ps->msg, sizeof(ps->msg), "%s; creating the table "
		    "crumb_sessions failed (or run sql/postgresql-store.sql "
		    "by hand)", m);
	}
	return rc;
}

static int
prepare_all(pstore *ps)
{
	crumb_buf b = { 0 };
	int i, rc;

	for (i = 0; i < Q_COUNT; i++) {
		crumb_buf_puts(&b, "PREPARE ");
		crumb_buf_puts(&b, qname[i]);
		crumb_buf_puts(&b, " AS ");
		crumb_buf_puts(&b, qsql[i]);
		crumb_buf_puts(&b, ";\n");
	}
	if (b.failed) {
		crumb_buf_release(&b);
		return CRUMB_E_NOMEM;
	}
	rc = command(ps, b.data, NULL);
	crumb_buf_release(&b);
	return rc;
}

/* A fresh connection, statements prepared. */
static int
reconnect(pstore *ps, int first)
{
	int rc;

	PQfinish(ps->conn);
	ps->conn = PQconnectdbParams(ps->keys, ps->vals, 0);
	if (ps->conn == NULL) {
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: out of memory");
		return CRUMB_E_NOMEM;
	}
	if (PQstatus(ps->conn) != CONNECTION_OK) {
		set_msg(ps, "cannot connect", PQerrorMessage(ps->conn), NULL);
		PQfinish(ps->conn);
		ps->conn = NULL;
		return CRUMB_E_CANTOPEN;
	}
	ps->doomed = 0;
	PQsetNoticeReceiver(ps->conn, on_notice, ps);
	/* The socket never blocks: every wait is poll() with a deadline. */
	if (PQsetnonblocking(ps->conn, 1) != 0)
		return lost(ps, PQerrorMessage(ps->conn));
	if ((first && (rc = ensure_schema(ps)) != CRUMB_OK) ||
	    (rc = prepare_all(ps)) != CRUMB_OK) {
		if (ps->conn != NULL)
			PQfinish(ps->conn);
		ps->conn = NULL;
		return rc;
	}
	return CRUMB_OK;
}

static void
forget_locked(pstore *ps)
{
	PQclear(ps->locked);
	ps->locked = NULL;
}

/* Zero when the server closed an idle connection.  A server that goes
 * away sends a last FATAL message and closes the socket: read all that
 * is there (libpq hands the message to the notice processor) until the
 * socket has nothing more or shows its end.  Never waits. */
static int
idle_alive(PGconn *c)
{
	int i;

	for (i = 0; i < 8; i++) {
		struct pollfd pfd = { PQsocket(c), POLLIN, 0 };
		PGnotify *nf;

		if (poll(&pfd, 1, 0) <= 0)
			return 1;
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
			return 0;
		while ((nf = PQnotifies(c)) != NULL)
			PQfreemem(nf);
	}
	return 1;
}

/*
 * Before every call: a connection the server closed while we were idle
 * (a restart, pg_terminate_backend) shows as end of file on the socket
 * without a round trip; it is replaced here.  Inside a transaction a
 * broken connection is an error: its work is gone.
 */
static int
ready(pstore *ps)
{
	PQclear(ps->row);
	ps->row = NULL;
	forget_locked(ps);      /* only the load right after lock uses it */
	if (ps->conn != NULL && PQstatus(ps->conn) == CONNECTION_OK &&
	    !PQisBusy(ps->conn) && (!idle_alive(ps->conn) || ps->doomed)) {
		PQfinish(ps->conn);
		ps->conn = NULL;
		if (ps->in_txn)
			ps->txn_broken = 1;
	}
	if (ps->in_txn && (ps->txn_broken || ps->conn == NULL)) {
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: connection "
		    "lost inside a transaction");
		return CRUMB_E_CANTOPEN;
	}
	if (ps->conn != NULL && PQstatus(ps->conn) == CONNECTION_OK)
		return CRUMB_OK;
	return reconnect(ps, 0);
}

/* Run prepared statement qi: one round trip. */
static int
run(pstore *ps, int qi, const params *p, PGresult **out)
{
	int rc;

	*out = NULL;
	ps->dropped = 0;
	if ((rc = ready(ps)) != CRUMB_OK)
		return rc;
	if (!PQsendQueryPrepared(ps->conn, qname[qi], p->n, p->v, p->len,
	    p->fmt, 1))
		return fail(ps, NULL);
	return collect(ps, mono_ms() + ps->timeout_ms + GRACE_MS, out);
}

/* Run a statement whose result is only a row count. */
static int
run_count(pstore *ps, int qi, const params *p, uint64_t *count)
{
	PGresult *r;
	int rc = run(ps, qi, p, &r);

	if (count != NULL)
		*count = rc == CRUMB_OK ?
		    strtoull(PQcmdTuples(r), NULL, 10) : 0;
	PQclear(r);
	return rc;
}

/* A one-row UPDATE; no row changed means the record is gone. */
static int
run_one(pstore *ps, int qi, const params *p)
{
	uint64_t n = 0;
	int rc = run_count(ps, qi, p, &n);

	return rc == CRUMB_OK && n == 0 ? CRUMB_E_NOT_FOUND : rc;
}

/* ---- the operations ---- */

static int
pg_create(void *ctx, const uint8_t *hash, const char *state, size_t len,
    const char *user, int64_t now, int64_t expires)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_hash(&p, hash);
	p_text(&p, state, len);
	p_text(&p, user, user != NULL ? strlen(user) : 0);
	p_int(&p, now);
	p_int(&p, expires);
	return run_count(ps, Q_CREATE, &p, NULL);
}

/* Hand out row 0 of r (kept as ps->row until the next call). */
static int
hand_out(pstore *ps, PGresult *r, int64_t now, crumb_record *out)
{
	if (PQntuples(r) != 1 || PQnfields(r) != 7 ||
	    col_int(r, 0, 5) <= now) {
		PQclear(r);
		return CRUMB_E_NOT_FOUND;
	}
	ps->row = r;
	out->state = PQgetvalue(r, 0, 0);
	out->state_len = (size_t)PQgetlength(r, 0, 0);
	out->user = col_text(r, 0, 1);
	out->version = col_int(r, 0, 2);
	out->created = col_int(r, 0, 3);
	out->last_seen = col_int(r, 0, 4);
	out->expires = col_int(r, 0, 5);
	out->label = col_text(r, 0, 6);
	return CRUMB_OK;
}

static int
pg_load(void *ctx, const uint8_t *hash, int64_t now, crumb_record *out)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *r;
	int rc;

	/* Right after lock: the row it read and holds, no round trip. */
	if (ps->locked != NULL && ps->in_txn &&
	    memcmp(ps->locked_hash, hash, CRUMB_HASH_LEN) == 0) {
		PQclear(ps->row);
		r = ps->locked;
		ps->locked = NULL;
		ps->row = NULL;
		return hand_out(ps, r, now, out);
	}
	p_hash(&p, hash);
	p_int(&p, now);
	rc = run(ps, Q_LOAD, &p, &r);
	/* A read is safe to repeat: a connection that broke under it
	 * (after ready() saw it alive) gets one more try on a new one. */
	if (rc == CRUMB_E_CANTOPEN && !ps->in_txn && ps->dropped)
		rc = run(ps, Q_LOAD, &p, &r);
	if (rc != CRUMB_OK)
		return rc;
	return hand_out(ps, r, now, out);
}

static int
pg_update(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_hash(&p, hash);
	p_hash(&p, new_hash);
	p_text(&p, state, len);
	p_text(&p, user, user != NULL ? strlen(user) : 0);
	p_int(&p, now);
	p_int(&p, expires);
	p_int(&p, version);
	if ((rc = run(ps, Q_UPDATE, &p, &r)) != CRUMB_OK)
		return rc;
	if (PQntuples(r) != 1 || PQgetlength(r, 0, 1) != 1) {
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: unexpected "
		    "answer to the update");
		rc = CRUMB_E_STORE;
	} else if (col_int(r, 0, 0) == 1) {
		rc = CRUMB_OK;
	} else {
		rc = PQgetvalue(r, 0, 1)[0] ? CRUMB_E_CONFLICT :
		    CRUMB_E_NOT_FOUND;
	}
	PQclear(r);
	return rc;
}

static int
pg_touch(void *ctx, const uint8_t *hash, int64_t now, int64_t expires)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_hash(&p, hash);
	p_int(&p, now);
	p_int(&p, expires);
	return run_one(ps, Q_TOUCH, &p);
}

static int
pg_remove(void *ctx, const uint8_t *hash)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_hash(&p, hash);
	return run_count(ps, Q_REMOVE, &p, NULL);
}

static int
pg_change_id(void *ctx, const uint8_t *old_hash, const uint8_t *new_hash,
    int64_t now)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_hash(&p, old_hash);
	p_hash(&p, new_hash);
	p_int(&p, now);
	return run_one(ps, Q_CHANGE_ID, &p);
}

static int
pg_set_label(void *ctx, const uint8_t *hash, const char *label)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_hash(&p, hash);
	p_text(&p, label, strlen(label));
	return run_one(ps, Q_SET_LABEL, &p);
}

static int
pg_purge(void *ctx, int64_t now, unsigned batch, uint64_t *deleted)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_int(&p, now);
	p_int(&p, batch);
	return run_count(ps, Q_PURGE, &p, deleted);
}

static int
pg_user_remove(void *ctx, const char *user, uint64_t *deleted)
{
	pstore *ps = ctx;
	params p = { .n = 0 };

	p_text(&p, user, strlen(user));
	return run_count(ps, Q_USER_REMOVE, &p, deleted);
}

static int
pg_user_list(void *ctx, const char *user, int64_t now, crumb_info_fn fn,
    void *ud)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *r;
	int rc, i;

	p_text(&p, user, strlen(user));
	p_int(&p, now);
	rc = run(ps, Q_USER_LIST, &p, &r);
	if (rc == CRUMB_E_CANTOPEN && !ps->in_txn && ps->dropped)
		rc = run(ps, Q_USER_LIST, &p, &r);
	if (rc != CRUMB_OK)
		return rc;
	for (i = 0; i < PQntuples(r); i++) {
		crumb_session_info info;

		memset(&info, 0, sizeof(info));
		if (PQgetlength(r, i, 0) == CRUMB_HASH_LEN)
			crumb_hex_encode((const uint8_t *)PQgetvalue(r, i, 0),
			    CRUMB_HASH_LEN, info.id_hash);
		info.created = col_int(r, i, 1);
		info.last_seen = col_int(r, i, 2);
		info.expires = col_int(r, i, 3);
		(void)crumb_label_clean(col_text(r, i, 4), info.label);
		if (fn(&info, ud) != 0)
			break;
	}
	PQclear(r);
	return CRUMB_OK;
}

/* ---- administration (crumbctl): unprepared, one round trip each ---- */

/* The counts in one statement, one snapshot: live + expired ==
 * records. */
static const char stats_sql[] = "SELECT count(*), "
    "count(*) FILTER (WHERE expires > $1::bigint), "
    "count(DISTINCT \"user\") FILTER (WHERE expires > $1::bigint), "
    "pg_total_relation_size('crumb_sessions'::regclass) "
    "FROM crumb_sessions";
/* A range of the primary key: each page starts where the last ended. */
static const char scan_sql[] = "SELECT id, state, \"user\", version, "
    "created, last_seen, expires, label FROM crumb_sessions WHERE "
    "id > $1::bytea AND expires > $2::bigint AND length(id) = 32 "
    "ORDER BY id LIMIT $3::bigint";
/* Inserted, or an expired or older record replaced; a live one at the
 * same or a newer version kept (no row: "INSERT 0 0"). */
static const char import_sql[] = "INSERT INTO crumb_sessions (id, state, "
    "version, \"user\", created, last_seen, expires, label) VALUES "
    "($1::bytea, $2::text, $3::bigint, $4::text, $5::bigint, $6::bigint, "
    "$7::bigint, $8::text) ON CONFLICT (id) DO UPDATE SET "
    "state = EXCLUDED.state, version = EXCLUDED.version, "
    "\"user\" = EXCLUDED.\"user\", created = EXCLUDED.created, "
    "last_seen = EXCLUDED.last_seen, expires = EXCLUDED.expires, "
    "label = EXCLUDED.label WHERE crumb_sessions.expires <= $9::bigint "
    "OR crumb_sessions.version < EXCLUDED.version";

/* Run sql (not prepared); a read (retry != 0) gets one more try on a
 * new connection when the one it used broke under it. */
static int
run_sql(pstore *ps, const char *sql, const params *p, int retry,
    PGresult **out)
{
	int rc, tries = retry ? 2 : 1;

	do {
		*out = NULL;
		ps->dropped = 0;
		if ((rc = ready(ps)) != CRUMB_OK)
			return rc;
		if (!PQsendQueryParams(ps->conn, sql, p->n, NULL, p->v, p->len,
		    p->fmt, 1))
			return fail(ps, NULL);
		rc = collect(ps, mono_ms() + ps->timeout_ms + GRACE_MS, out);
	} while (rc == CRUMB_E_CANTOPEN && ps->dropped && --tries > 0);
	return rc;
}

static int
pg_stats(void *ctx, int64_t now, crumb_store_counts *out)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *r;
	int rc;

	p_int(&p, now);
	if ((rc = run_sql(ps, stats_sql, &p, 1, &r)) != CRUMB_OK)
		return rc;
	if (PQntuples(r) != 1 || PQnfields(r) != 4) {
		PQclear(r);
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: unexpected "
		    "answer to the counts");
		return CRUMB_E_STORE;
	}
	out->records = (uint64_t)col_int(r, 0, 0);
	out->live = (uint64_t)col_int(r, 0, 1);
	out->expired = out->records - out->live;
	out->users = (uint64_t)col_int(r, 0, 2);
	out->bytes = PQgetisnull(r, 0, 3) ? -1 : col_int(r, 0, 3);
	PQclear(r);
	return CRUMB_OK;
}

static int
pg_scan(void *ctx, const uint8_t *after, int64_t now, unsigned max,
    crumb_scan_fn fn, void *ud, unsigned *seen)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *r;
	int rc, i;

	*seen = 0;
	/* The empty bytea sorts before every hash. */
	p_bytes(&p, after != NULL ? (const void *)after : "",
	    after != NULL ? CRUMB_HASH_LEN : 0);
	p_int(&p, now);
	p_int(&p, max);
	if ((rc = run_sql(ps, scan_sql, &p, 1, &r)) != CRUMB_OK)
		return rc;
	if (PQnfields(r) != 8) {
		PQclear(r);
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: unexpected "
		    "answer to the scan");
		return CRUMB_E_STORE;
	}
	for (i = 0; i < PQntuples(r); i++) {
		crumb_record rec;

		rec.state = PQgetvalue(r, i, 1);
		rec.state_len = (size_t)PQgetlength(r, i, 1);
		rec.user = col_text(r, i, 2);
		rec.version = col_int(r, i, 3);
		rec.created = col_int(r, i, 4);
		rec.last_seen = col_int(r, i, 5);
		rec.expires = col_int(r, i, 6);
		rec.label = col_text(r, i, 7);
		(*seen)++;
		if (fn((const uint8_t *)PQgetvalue(r, i, 0), &rec, ud) != 0)
			break;
	}
	PQclear(r);
	return CRUMB_OK;
}

static int
pg_import(void *ctx, const uint8_t *hash, const crumb_record *rec,
    int64_t now, int *written)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	const char *label = rec->label;
	PGresult *r;
	int rc;

	*written = 0;
	if (label != NULL && *label == '\0')
		label = NULL;
	p_hash(&p, hash);
	p_text(&p, rec->state, rec->state_len);
	p_int(&p, rec->version);
	p_text(&p, rec->user, rec->user != NULL ? strlen(rec->user) : 0);
	p_int(&p, rec->created);
	p_int(&p, rec->last_seen);
	p_int(&p, rec->expires);
	p_text(&p, label, label != NULL ? strlen(label) : 0);
	p_int(&p, now);
	if ((rc = run_sql(ps, import_sql, &p, 0, &r)) != CRUMB_OK)
		return rc;
	*written = strtoull(PQcmdTuples(r), NULL, 10) == 1;
	PQclear(r);
	return CRUMB_OK;
}

/* BEGIN and the row's lock in one pipeline: one round trip. */
static int
pg_lock(void *ctx, const uint8_t *hash)
{
	pstore *ps = ctx;
	params p = { .n = 0 };
	PGresult *res[3] = { NULL, NULL, NULL };  /* BEGIN, row, sync */
	char first[CRUMB_ERRMSG_LEN] = "";
	int64_t deadline;
	int rc = CRUMB_OK, i;

	if (ps->in_txn)
		return CRUMB_E_STATE;
	if ((rc = ready(ps)) != CRUMB_OK)
		return rc;
	p_hash(&p, hash);
	if (!PQenterPipelineMode(ps->conn))
		return fail(ps, NULL);
	ps->in_txn = 1;
	ps->txn_broken = 0;
	if (!PQsendQueryParams(ps->conn, "BEGIN", 0, NULL, NULL, NULL, NULL,
	    0) || !PQsendQueryPrepared(ps->conn, qname[Q_LOCK], p.n, p.v,
	    p.len, p.fmt, 1) || !PQpipelineSync(ps->conn))
		rc = fail(ps, NULL);
	deadline = mono_ms() + ps->timeout_ms + GRACE_MS;
	/* Read all three, so that the pipeline ends clean; the first
	 * failure is the one reported. */
	for (i = 0; rc == CRUMB_OK && i < 3 && ps->conn != NULL; i++) {
		int rc2 = collect(ps, deadline, &res[i]);

		if (rc == CRUMB_OK && rc2 != CRUMB_OK) {
			rc = rc2;
			crumb_fmt(first, sizeof(first), "%s", ps->msg);
		}
	}
	for (; rc != CRUMB_OK && i < 3 && ps->conn != NULL; i++) {
		(void)collect(ps, deadline, &res[i]);
		crumb_fmt(ps->msg, sizeof(ps->msg), "%s", first);
	}
	PQclear(res[0]);
	PQclear(res[2]);
	if (ps->conn != NULL && !PQexitPipelineMode(ps->conn) &&
	    rc == CRUMB_OK)
		rc = fail(ps, NULL);
	if (rc != CRUMB_OK) {
		PQclear(res[1]);
		if (ps->conn != NULL &&
		    PQtransactionStatus(ps->conn) != PQTRANS_IDLE)
			(void)command(ps, "ROLLBACK", NULL);
		if (first[0] != '\0')
			crumb_fmt(ps->msg, sizeof(ps->msg), "%s", first);
		ps->in_txn = 0;
		ps->txn_broken = 0;
		return rc;
	}
	ps->locked = res[1];
	memcpy(ps->locked_hash, hash, CRUMB_HASH_LEN);
	return CRUMB_OK;
}

static int
pg_unlock(void *ctx, int commit)
{
	pstore *ps = ctx;
	int rc, failed;

	if (!ps->in_txn)
		return CRUMB_E_STATE;
	forget_locked(ps);
	PQclear(ps->row);
	ps->row = NULL;
	failed = ps->txn_broken || ps->conn == NULL;
	ps->in_txn = 0;
	ps->txn_broken = 0;
	if (failed) {
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: connection "
		    "lost inside a transaction; nothing was committed");
		return commit ? CRUMB_E_CANTOPEN : CRUMB_OK;
	}
	/* A statement that failed inside aborted the transaction, and
	 * COMMIT would quietly roll it back. */
	if (commit && PQtransactionStatus(ps->conn) == PQTRANS_INERROR) {
		(void)command(ps, "ROLLBACK", NULL);
		crumb_fmt(ps->msg, sizeof(ps->msg), "postgresql: the "
		    "transaction failed and was rolled back");
		return CRUMB_E_STORE;
	}
	rc = command(ps, commit ? "COMMIT" : "ROLLBACK", NULL);
	if (rc != CRUMB_OK && ps->conn != NULL &&
	    PQtransactionStatus(ps->conn) != PQTRANS_IDLE)
		(void)command(ps, "ROLLBACK", NULL);
	return rc;
}

static const char *
pg_errmsg(void *ctx)
{
	return ((pstore *)ctx)->msg;
}

static void
pg_close(void *ctx)
{
	pstore *ps = ctx;
	size_t i;

	if (ps == NULL)
		return;
	PQclear(ps->row);
	PQclear(ps->locked);
	PQfinish(ps->conn);
	for (i = 0; i < ps->n_owned; i++)
		free(ps->owned[i]);
	free(ps->owned);
	free(ps->keys);
	free(ps->vals);
	for (i = 0; i < 2; i++) {
		if (ps->secret[i] != NULL)
			explicit_bzero(ps->secret[i], strlen(ps->secret[i]));
		free(ps->secret[i]);
	}
	free(ps);
}

static const crumb_store_ops postgres_ops = {
	pg_create, pg_load, pg_update, pg_touch, pg_remove, pg_change_id,
	pg_purge, pg_user_remove, pg_user_list, pg_errmsg, pg_close, pg_lock,
	pg_unlock, pg_set_label, pg_stats, pg_scan, pg_import,
};

/* ---- connection parameters ---- */

static char *
own(pstore *ps, char *s)
{
	if (s != NULL)
		ps->owned[ps->n_owned++] = s;
	return s;
}

/* The password as written in conninfo, found without libpq (whose
 * parser may have refused the string): "password=..." or the
 * "user:password@" of a URL.  New or NULL. */
static char *
raw_password(const char *ci)
{
	const char *p = strstr(ci, "password"), *s, *e;

	if (p != NULL) {
		s = p + 8;
		while (*s == ' ' || *s == '\t' || *s == '=')
			s++;
		if (*s == '\'')
			s++;
		for (e = s; *e != '\0' && *e != '\'' && *e != ' ' &&
		    *e != '&'; e++)
			;
		if (e > s)
			return strndup(s, (size_t)(e - s));
	}
	if ((p = strstr(ci, "://")) != NULL) {
		p += 3;
		e = strchr(p, '@');
		s = strchr(p, ':');
		if (e != NULL && s != NULL && s < e && memchr(p, '/',
		    (size_t)(e - p)) == NULL)
			return strndup(s + 1, (size_t)(e - s - 1));
	}
	return NULL;
}

static int
add(pstore *ps, size_t *n, const char *key, const char *val)
{
	char *k = own(ps, strdup(key)), *v = own(ps, strdup(val));

	if (k == NULL || v == NULL)
		return CRUMB_E_NOMEM;
	ps->keys[*n] = k;
	ps->vals[*n] = v;
	(*n)++;
	return CRUMB_OK;
}

static const char *
opt(const PQconninfoOption *o, const char *key)
{
	for (; o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val != NULL && *o->val != '\0' ? o->val : NULL;
	return NULL;
}

/*
 * The caller's parameters, plus defaults it did not set: timeouts from
 * timeout_ms (connect_timeout, tcp_user_timeout, keepalives, and the
 * server's statement_timeout and lock_timeout ahead of its own options
 * so that its -c settings win), application_name "crumb", and UTF-8
 * always (the state is sent as its bytes).
 */
static int
set_params(pstore *ps, const char *conninfo)
{
	PQconninfoOption *o, *all;
	char *err = NULL, buf[64];
	const char *user_opts;
	size_t n = 0, count = 0;
	int rc = CRUMB_OK, t = ps->timeout_ms;

	ps->secret[0] = raw_password(conninfo);
	if ((all = PQconninfoParse(conninfo, &err)) == NULL) {
		set_msg(ps, "bad connection string",
		    err != NULL ? err : "out of memory", NULL);
		PQfreemem(err);
		return err != NULL ? CRUMB_E_INVAL : CRUMB_E_NOMEM;
	}
	for (o = all; o->keyword != NULL; o++)
		count++;
	count += 8;
	ps->keys = calloc(count + 1, sizeof(*ps->keys));
	ps->vals = calloc(count + 1, sizeof(*ps->vals));
	ps->owned = calloc(2 * count, sizeof(*ps->owned));
	if (ps->keys == NULL || ps->vals == NULL || ps->owned == NULL) {
		PQconninfoFree(all);
		return CRUMB_E_NOMEM;
	}
	if (opt(all, "password") != NULL &&
	    (ps->secret[1] = strdup(opt(all, "password"))) == NULL)
		rc = CRUMB_E_NOMEM;
	for (o = all; rc == CRUMB_OK && o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0' ||
		    strcmp(o->keyword, "options") == 0 ||
		    strcmp(o->keyword, "client_encoding") == 0)
			continue;
		rc = add(ps, &n, o->keyword, o->val);
	}
	if (rc == CRUMB_OK && opt(all, "connect_timeout") == NULL) {
		crumb_fmt(buf, sizeof(buf), "%d", t < 2000 ? 2 : (t + 999) / 1000);
		rc = add(ps, &n, "connect_timeout", buf);
	}
	if (rc == CRUMB_OK && opt(all, "tcp_user_timeout") == NULL) {
		crumb_fmt(buf, sizeof(buf), "%d", t);
		rc = add(ps, &n, "tcp_user_timeout", buf);
	}
	if (rc == CRUMB_OK && opt(all, "keepalives_idle") == NULL)
		rc = add(ps, &n, "keepalives_idle", "30");
	if (rc == CRUMB_OK && opt(all, "application_name") == NULL)
		rc = add(ps, &n, "application_name", "crumb");
	if (rc == CRUMB_OK)
		rc = add(ps, &n, "client_encoding", "UTF8");
	if (rc == CRUMB_OK) {
		crumb_buf b = { 0 };

		user_opts = opt(all, "options");
		crumb_buf_printf(&b, "-c statement_timeout=%d -c lock_timeout=%d",
		    t, t);
		if (user_opts != NULL) {
			crumb_buf_puts(&b, " ");
			crumb_buf_puts(&b, user_opts);
		}
		rc = b.failed ? CRUMB_E_NOMEM : add(ps, &n, "options", b.data);
		crumb_buf_release(&b);
	}
	PQconninfoFree(all);
	return rc;
}

CRUMB_API int
crumb_store_postgres_open(const char *conninfo, int timeout_ms,
    crumb_store **out, char *errbuf, size_t errlen)
{
	pstore *ps;
	int rc;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (conninfo == NULL || timeout_ms < 0)
		return CRUMB_E_INVAL;
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return CRUMB_E_NOMEM;
	ps->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
	if ((rc = set_params(ps, conninfo)) != CRUMB_OK ||
	    (rc = reconnect(ps, 1)) != CRUMB_OK ||
	    (rc = crumb_store_new(&postgres_ops, ps, out)) != CRUMB_OK) {
		if (errbuf != NULL && errlen > 0)
			crumb_fmt(errbuf, errlen, "%s", ps->msg[0] != '\0' ?
			    ps->msg : crumb_strerror(rc));
		pg_close(ps);
		return rc;
	}
	ps->msg[0] = '\0';
	return CRUMB_OK;
}

#endif /* CRUMB_HAVE_POSTGRES */
