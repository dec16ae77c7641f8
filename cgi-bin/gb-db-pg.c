/*
 * The guestbook's entries in PostgreSQL (table guestbook_entries, schema
 * sql/guestbook-postgresql.sql): guestbooks on several hosts that share
 * one database show one book.  Same columns and order as the SQLite
 * file of gb-db.c.
 *
 * One connection per worker, its statements prepared once.  A request
 * whose connection was lost fails (the caller answers 503); the next
 * request connects again by itself, so a restarted server needs no
 * restarted worker.  Every wait has a deadline: the server's
 * statement_timeout is the busy timeout, and the client gives up
 * GRACE_MS later (a server that stopped answering at all), dropping the
 * connection rather than hanging the worker.
 *
 * The entries' HTML is cached per worker as with SQLite, but the cache
 * is keyed on the table itself (max(id) and count(*), one short query)
 * rather than on a file only this host sees: an entry posted on another
 * host shows here at the next request.  Ids only grow, so any insert or
 * delete changes the key; a rendering is also at most a second old, for
 * rows edited from outside the guestbook.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gb.h"
#include "gb-schema-pg.h"

#define GRACE_MS 1000
/* pg_advisory_xact_lock key serializing the table's creation. */
#define SCHEMA_LOCK "7133705246"

enum { Q_ADD, Q_LIST, Q_STAMP, Q_N };

static const char *const qname[Q_N] = { "gb_add", "gb_list", "gb_stamp" };
static const char *const qsql[Q_N] = {
	[Q_ADD] = "INSERT INTO guestbook_entries (author, message, created)"
	    " VALUES ($1, $2, $3)",
	[Q_LIST] = "SELECT author, message, created FROM guestbook_entries"
	    " ORDER BY created DESC, id DESC LIMIT $1 OFFSET $2",
	[Q_STAMP] = "SELECT coalesce(max(id), 0), count(*)"
	    " FROM guestbook_entries",
};

struct gb_pg {
	char *conninfo;
	int busy_ms;
	PGconn *conn;           /* NULL: the next request connects */
	char err[512];
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Forget a connection that failed: the next request makes a new one. */
static void
drop(struct gb_pg *p)
{
	PQfinish(p->conn);
	p->conn = NULL;
}

/* Keep libpq's message (one line: its trailing newline cut). */
static int
fail(struct gb_pg *p, const char *what, const char *msg)
{
	size_t n;

	snprintf(p->err, sizeof(p->err), "%s: %s", what,
	    msg && *msg ? msg : "PostgreSQL failed");
	n = strlen(p->err);
	while (n > 0 && (p->err[n - 1] == '\n' || p->err[n - 1] == ' '))
		p->err[--n] = '\0';
	if (p->conn != NULL && PQstatus(p->conn) != CONNECTION_OK)
		drop(p);
	return -1;
}

/* The results of the query just sent, within the deadline.  Returns the
 * last result (new: PQclear) when it has status want and none failed,
 * else NULL with err set. */
static PGresult *
collect(struct gb_pg *p, const char *what, ExecStatusType want)
{
	long long deadline = now_ms() + p->busy_ms + GRACE_MS;
	PGresult *r, *last = NULL;
	char msg[300] = "";
	int bad = 0;

	for (;;) {
		while (PQisBusy(p->conn)) {
			struct pollfd pfd = { PQsocket(p->conn), POLLIN, 0 };
			long long left = deadline - now_ms();

			if (left <= 0) {
				PQclear(last);
				fail(p, what, "no answer from the server "
				    "in time");
				drop(p);
				return NULL;
			}
			if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
				PQclear(last);
				fail(p, what, strerror(errno));
				drop(p);
				return NULL;
			}
			if (!PQconsumeInput(p->conn)) {
				PQclear(last);
				fail(p, what, PQerrorMessage(p->conn));
				drop(p);
				return NULL;
			}
		}
		if ((r = PQgetResult(p->conn)) == NULL)
			break;
		/* A string of several statements answers each: only the
		 * last has to be what the caller wants. */
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK && !bad) {
			bad = 1;
			snprintf(msg, sizeof(msg), "%s",
			    PQresultErrorMessage(r));
		}
		PQclear(last);
		last = r;
	}
	if (!bad && last != NULL && PQresultStatus(last) != want) {
		bad = 1;
		snprintf(msg, sizeof(msg), "unexpected answer %s",
		    PQresStatus(PQresultStatus(last)));
	}
	if (bad || last == NULL) {
		PQclear(last);
		fail(p, what, bad ? msg : PQerrorMessage(p->conn));
		return NULL;
	}
	return last;
}

static int
simple(struct gb_pg *p, const char *what, const char *sql,
    ExecStatusType want, PGresult **out)
{
	PGresult *r;

	if (!PQsendQuery(p->conn, sql)) {
		fail(p, what, PQerrorMessage(p->conn));
		drop(p);
		return -1;
	}
	if ((r = collect(p, what, want)) == NULL)
		return -1;
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* The table when missing: checked first, so that a web user that may
 * not create tables works with one made by hand. */
static int
schema(struct gb_pg *p)
{
	PGresult *r;
	char *sql;
	size_t n;
	int exists, rc;

	if (simple(p, "schema", "SELECT to_regclass('guestbook_entries')"
	    " IS NOT NULL", PGRES_TUPLES_OK, &r) != 0)
		return -1;
	exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (exists)
		return 0;
	/* One string is one transaction: the lock is held to its end. */
	n = sizeof("SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");\n") +
	    sizeof(gb_schema_pg);
	if ((sql = malloc(n)) == NULL)
		return fail(p, "schema", "out of memory");
	snprintf(sql, n, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");\n%s",
	    gb_schema_pg);
	rc = simple(p, "creating the table guestbook_entries (or run "
	    "sql/guestbook-postgresql.sql by hand)", sql, PGRES_COMMAND_OK,
	    NULL);
	free(sql);
	return rc;
}

static int
connect_db(struct gb_pg *p)
{
	/* Ours come before dbname: what the URL sets wins. */
	static const char *const keys[] = {
		"connect_timeout", "tcp_user_timeout", "keepalives_idle",
		"keepalives_interval", "keepalives_count",
		"application_name", "dbname", NULL,
	};
	char ct[24], tut[24], sql[64];
	const char *vals[8];
	int i;

	snprintf(ct, sizeof(ct), "%d", (p->busy_ms + 999) / 1000 < 2 ? 2 :
	    (p->busy_ms + 999) / 1000);
	snprintf(tut, sizeof(tut), "%d", p->busy_ms + GRACE_MS);
	vals[0] = ct;
	vals[1] = tut;
	vals[2] = "30";
	vals[3] = "10";
	vals[4] = "3";
	vals[5] = "crumb-guestbook";
	vals[6] = p->conninfo;
	vals[7] = NULL;
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (p->conn == NULL)
		return fail(p, "connect", "out of memory");
	if (PQstatus(p->conn) != CONNECTION_OK)
		return fail(p, "connect", PQerrorMessage(p->conn));
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", p->busy_ms);
	if (simple(p, "connect", sql, PGRES_COMMAND_OK, NULL) != 0 ||
	    schema(p) != 0)
		goto bad;
	for (i = 0; i < Q_N; i++) {
		PGresult *r;

		if (!PQsendPrepare(p->conn, qname[i], qsql[i], 0, NULL)) {
			fail(p, "prepare", PQerrorMessage(p->conn));
			goto bad;
		}
		if ((r = collect(p, "prepare", PGRES_COMMAND_OK)) == NULL)
			goto bad;
		PQclear(r);
	}
	return 0;
bad:
	if (p->conn != NULL)
		drop(p);
	return -1;
}

/* Runs a prepared statement, connecting first when needed. */
static PGresult *
run(struct gb_pg *p, int q, const char *what, int n,
    const char *const *v, ExecStatusType want)
{
	if (p->conn == NULL && connect_db(p) != 0)
		return NULL;
	/* A connection that cannot even send is not used again. */
	if (!PQsendQueryPrepared(p->conn, qname[q], n, v, NULL, NULL, 0)) {
		fail(p, what, PQerrorMessage(p->conn));
		drop(p);
		return NULL;
	}
	return collect(p, what, want);
}

int
gb_pg_open(const char *conninfo, int busy_ms, struct gb_pg **out)
{
	struct gb_pg *p;

	if ((*out = p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->busy_ms = busy_ms > 0 ? busy_ms : 5000;
	if ((p->conninfo = strdup(conninfo)) == NULL)
		return fail(p, "open", "out of memory");
	return connect_db(p);
}

void
gb_pg_close(struct gb_pg *p)
{
	if (p == NULL)
		return;
	PQfinish(p->conn);
	free(p->conninfo);
	free(p);
}

int
gb_pg_add(struct gb_pg *p, const char *author, const char *message,
    int64_t now)
{
	char created[24];
	const char *v[3] = { author, message, created };
	PGresult *r;

	snprintf(created, sizeof(created), "%" PRId64, now);
	if ((r = run(p, Q_ADD, "insert", 3, v, PGRES_COMMAND_OK)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
gb_pg_foreach(struct gb_pg *p, int offset, int limit, gb_entry_fn fn,
    void *ud)
{
	char lim[16], off[16];
	const char *v[2] = { lim, off };
	PGresult *r;
	int i, n, stop = 0;

	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(off, sizeof(off), "%d", offset);
	if ((r = run(p, Q_LIST, "select", 2, v, PGRES_TUPLES_OK)) == NULL)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n && stop == 0; i++)
		stop = fn(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		    strtoll(PQgetvalue(r, i, 2), NULL, 10), ud);
	PQclear(r);
	return stop;
}

int
gb_pg_stamp(struct gb_pg *p, char *stamp, size_t size)
{
	PGresult *r;

	if ((r = run(p, Q_STAMP, "select", 0, NULL, PGRES_TUPLES_OK)) ==
	    NULL)
		return -1;
	snprintf(stamp, size, "%s/%s",
	    PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "",
	    PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : "");
	PQclear(r);
	return 0;
}

const char *
gb_pg_errmsg(const struct gb_pg *p)
{
	return p ? p->err : "out of memory";
}
