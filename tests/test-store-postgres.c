/*
 * The PostgreSQL store: the operations of crumb_store_ops give exactly
 * what the memory and SQLite stores give (the same checks run on all
 * three), network round trips per operation, SQLSTATEs mapped to crumb's
 * errors, the password never in a message, a connection lost during a
 * call or while idle, a server restart, the schema made at open (once,
 * by concurrent openers, in another schema) or by hand for a role that
 * may not create tables, and crumb_session_atomic from several
 * processes losing no update.
 *
 * The server: the one named by PGURL, PGURL_TCP, PG_PASSWORD and PG_DIR
 * (tests/pg-server.sh run sets them), else a private one this program
 * starts with tests/pg-server.sh and stops at exit.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "check.h"
#include "helpers.h"
#include "crumb-private.h"      /* the ops table behind a crumb_store */

#ifndef PG_SERVER_SH
#define PG_SERVER_SH "tests/pg-server.sh"
#endif

static struct tclock clk = { T_START };

/* ---- round trips: libpq's sending calls, seen from the outside ---- */

/* A statement sent outside a pipeline is one round trip; in a pipeline
 * only the sync is. */
static unsigned long trips;

static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL) {
		fprintf(stderr, "dlsym %s failed\n", name);
		abort();
	}
	return f;
}

int
PQsendQueryPrepared(PGconn *c, const char *name, int n,
    const char *const *v, const int *l, const int *f, int rf)
{
	static int (*next)(PGconn *, const char *, int, const char *const *,
	    const int *, const int *, int);

	if (next == NULL)
		next = (int (*)(PGconn *, const char *, int,
		    const char *const *, const int *, const int *, int))
		    real("PQsendQueryPrepared");
	if (PQpipelineStatus(c) == PQ_PIPELINE_OFF)
		trips++;
	return next(c, name, n, v, l, f, rf);
}

int
PQsendQuery(PGconn *c, const char *q)
{
	static int (*next)(PGconn *, const char *);

	if (next == NULL)
		next = (int (*)(PGconn *, const char *))real("PQsendQuery");
	trips++;
	return next(c, q);
}

int
PQpipelineSync(PGconn *c)
{
	static int (*next)(PGconn *);

	if (next == NULL)
		next = (int (*)(PGconn *))real("PQpipelineSync");
	trips++;
	return next(c);
}

/* ---- the server ---- */

static int
server(const char *what)
{
	return tserver(PG_SERVER_SH, what, tenv("PG_DIR"));
}

static void sql(PGconn *c, const char *q);

/* A libpq connection of the test's own (to look and to interfere). */
static PGconn *
admin(void)
{
	PGconn *c = PQconnectdb(tenv("PGURL"));

	REQUIRE(PQstatus(c) == CONNECTION_OK);
	sql(c, "SET client_min_messages = warning");
	return c;
}

static void
sql(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
	REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
}

/* The first value of a query's first row, as a number. */
static long long
sql_num(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	long long v = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
	    !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* conninfo: PGURL plus "&key=value" */
static char *
url_with(const char *extra)
{
	const char *base = tenv("PGURL");
	char *u = malloc(strlen(base) + strlen(extra) + 2);

	REQUIRE(u != NULL);
	sprintf(u, "%s&%s", base, extra);
	return u;
}

static crumb_store *
open_pg(const char *conninfo, int timeout_ms)
{
	crumb_store *st = NULL;
	char err[256] = "";
	int rc = crumb_store_postgres_open(conninfo, timeout_ms, &st, err,
	    sizeof(err));

	if (rc != CRUMB_OK)
		fprintf(stderr, "open: %s: %s\n", crumb_strerror(rc), err);
	REQUIRE(rc == CRUMB_OK);
	return st;
}

/* The children are this program run again (exec, not just fork), so
 * that they share no connection with the parent and under valgrind
 * leave no reports of the parent's memory:
 *   test-store-postgres incr PAIR         25 atomic increments of "n"
 *   test-store-postgres open CONNINFO     open the store, close it
 *   test-store-postgres terminate APP lock|idle
 *       wait until the backend of application_name APP waits for a
 *       lock (or is idle), then pg_terminate_backend it
 * Each exits 0 when all went well. */
static const char *self;   /* argv[0] */

static void
spawn(const char *mode, const char *a, const char *b)
{
	pid_t pid;

	fflush(NULL);
	REQUIRE((pid = fork()) >= 0);
	if (pid == 0) {
		execl(self, self, mode, a, b, (char *)NULL);
		_exit(127);
	}
}

static int bump(crumb_session *s, void *ud);

static int
child(int argc, char **argv)
{
	const char *mode = argv[1];

	if (strcmp(mode, "incr") == 0 && argc == 3) {
		crumb_store *cs = open_pg(tenv("PGURL"), 5000);
		crumb_config *cc = tcfg_new(cs, &clk, 0x93);
		int j, bad = 0;

		for (j = 0; j < 25; j++) {
			crumb_session *x = tbegin(cc, argv[2]);

			if (crumb_session_atomic(x, bump, NULL) != CRUMB_OK)
				bad++;
			if (tend(x, "id", NULL, NULL) != CRUMB_OK)
				bad++;
		}
		crumb_config_free(cc);
		crumb_store_free(cs);
		return bad != 0;
	}
	if (strcmp(mode, "open") == 0 && argc == 3) {
		crumb_store *cs = NULL;
		char err[256];
		int rc = crumb_store_postgres_open(argv[2], 5000, &cs, err,
		    sizeof(err));

		if (rc != CRUMB_OK)
			fprintf(stderr, "concurrent open: %s\n", err);
		crumb_store_free(cs);
		return rc != CRUMB_OK;
	}
	if (strcmp(mode, "terminate") == 0 && argc == 4) {
		PGconn *c = PQconnectdb(tenv("PGURL"));
		char q[256];
		int i;

		snprintf(q, sizeof(q), "SELECT count(pg_terminate_backend(pid)) "
		    "FROM pg_stat_activity WHERE application_name = '%s' AND %s",
		    argv[2], strcmp(argv[3], "lock") == 0 ?
		    "wait_event_type = 'Lock'" : "state = 'idle'");
		for (i = 0; i < 500; i++) {
			if (sql_num(c, q) == 1)
				break;
			usleep(10000);
		}
		PQfinish(c);
		return i < 500 ? 0 : 1;
	}
	fprintf(stderr, "test-store-postgres: bad child arguments\n");
	return 2;
}

/* ---- the operations' semantics, the same checks for every store ---- */

#define OPS(st) ((st)->ops)
#define CTX(st) ((st)->ctx)

static void
h(uint8_t *out, int n)
{
	int i;

	for (i = 0; i < CRUMB_HASH_LEN; i++)
		out[i] = (uint8_t)(n * 31 + i * 7);
}

static void
hex_of(const uint8_t *k, char *hex)
{
	int i;

	for (i = 0; i < CRUMB_HASH_LEN; i++)
		sprintf(hex + 2 * i, "%02x", k[i]);
}

struct listing {
	int n, stop_after;
	char label[8][CRUMB_LABEL_MAX + 1];
	int64_t last_seen[8];
};

static int
collect_info(const crumb_session_info *info, void *ud)
{
	struct listing *l = ud;

	if (l->n < 8) {
		strcpy(l->label[l->n], info->label);
		l->last_seen[l->n] = info->last_seen;
	}
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after;
}

static int
create(crumb_store *st, int n, const char *state, const char *user,
    int64_t now, int64_t expires)
{
	uint8_t k[CRUMB_HASH_LEN];

	h(k, n);
	return OPS(st)->create(CTX(st), k, state, strlen(state), user, now,
	    expires);
}

static int
load(crumb_store *st, int n, int64_t now, crumb_record *rec)
{
	uint8_t k[CRUMB_HASH_LEN];

	h(k, n);
	memset(rec, 0, sizeof(*rec));
	return OPS(st)->load(CTX(st), k, now, rec);
}

static int
update(crumb_store *st, int n, int rename_to, int64_t version,
    const char *state, const char *user, int64_t now, int64_t expires)
{
	uint8_t k[CRUMB_HASH_LEN], nk[CRUMB_HASH_LEN];

	h(k, n);
	h(nk, rename_to);
	return OPS(st)->update(CTX(st), k, rename_to != 0 ? nk : NULL,
	    version, state, strlen(state), user, now, expires);
}

static int
touch(crumb_store *st, int n, int64_t now, int64_t expires)
{
	uint8_t k[CRUMB_HASH_LEN];

	h(k, n);
	return OPS(st)->touch(CTX(st), k, now, expires);
}

static int
change_id(crumb_store *st, int n, int to, int64_t now)
{
	uint8_t k[CRUMB_HASH_LEN], nk[CRUMB_HASH_LEN];

	h(k, n);
	h(nk, to);
	return OPS(st)->change_id(CTX(st), k, nk, now);
}

static int
set_label(crumb_store *st, int n, const char *label)
{
	uint8_t k[CRUMB_HASH_LEN];

	h(k, n);
	return OPS(st)->set_label(CTX(st), k, label);
}

static int
remove_(crumb_store *st, int n)
{
	uint8_t k[CRUMB_HASH_LEN];

	h(k, n);
	return OPS(st)->remove(CTX(st), k);
}

static int
rec_is(const crumb_record *r, const char *state, const char *user,
    int64_t version, int64_t created, int64_t last_seen, int64_t expires)
{
	return r->state != NULL && r->state_len == strlen(state) &&
	    memcmp(r->state, state, r->state_len) == 0 &&
	    ((user == NULL && r->user == NULL) || (user != NULL &&
	    r->user != NULL && strcmp(user, r->user) == 0)) &&
	    r->version == version && r->created == created &&
	    r->last_seen == last_seen && r->expires == expires;
}

static void
semantics(crumb_store *st, const char *name)
{
	const crumb_store_ops *o = OPS(st);
	crumb_record r;
	struct listing l;
	uint64_t del;
	char *big;
	int i;

	printf("-- [%s]\n", name);
	TEST("create: version 1; load sees it until expires");
	CHECK_OK(create(st, 1, "{\"a\":1}", "alice", 100, 200));
	CHECK_OK(load(st, 1, 150, &r));
	CHECK(rec_is(&r, "{\"a\":1}", "alice", 1, 100, 100, 200));
	CHECK(r.label == NULL || *r.label == '\0');
	CHECK_OK(load(st, 1, 199, &r));
	CHECK_RC(load(st, 1, 200, &r), CRUMB_E_NOT_FOUND);
	CHECK_RC(load(st, 99, 150, &r), CRUMB_E_NOT_FOUND);
	TEST("create on an existing ID fails");
	CHECK(create(st, 1, "{}", NULL, 100, 200) != CRUMB_OK);
	CHECK_OK(load(st, 1, 150, &r));
	CHECK(rec_is(&r, "{\"a\":1}", "alice", 1, 100, 100, 200));

	TEST("update: compare-and-swap on the version; expires 0 keeps");
	CHECK_OK(update(st, 1, 0, 1, "{\"a\":2}", NULL, 160, 0));
	CHECK_OK(load(st, 1, 160, &r));
	CHECK(rec_is(&r, "{\"a\":2}", NULL, 2, 100, 160, 200));
	CHECK_RC(update(st, 1, 0, 1, "{\"x\":0}", NULL, 161, 0),
	    CRUMB_E_CONFLICT);
	CHECK_RC(update(st, 98, 0, 1, "{}", NULL, 161, 0), CRUMB_E_NOT_FOUND);
	CHECK_RC(update(st, 1, 0, 2, "{}", NULL, 200, 0), CRUMB_E_NOT_FOUND);
	CHECK_OK(load(st, 1, 161, &r));
	CHECK(rec_is(&r, "{\"a\":2}", NULL, 2, 100, 160, 200));
	TEST("update with a rename and a new expiry");
	CHECK_OK(update(st, 1, 2, 2, "{\"a\":3}", "alice", 165, 300));
	CHECK_RC(load(st, 1, 165, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(load(st, 2, 165, &r));
	CHECK(rec_is(&r, "{\"a\":3}", "alice", 3, 100, 165, 300));

	TEST("touch: expiry and last_seen only");
	CHECK_OK(touch(st, 2, 170, 400));
	CHECK_OK(load(st, 2, 170, &r));
	CHECK(rec_is(&r, "{\"a\":3}", "alice", 3, 100, 170, 400));
	CHECK_RC(touch(st, 97, 170, 400), CRUMB_E_NOT_FOUND);
	CHECK_RC(touch(st, 2, 400, 500), CRUMB_E_NOT_FOUND);

	TEST("change_id: renames a live record");
	CHECK_OK(change_id(st, 2, 3, 180));
	CHECK_RC(load(st, 2, 180, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(load(st, 3, 180, &r));
	CHECK(rec_is(&r, "{\"a\":3}", "alice", 3, 100, 180, 400));
	CHECK_RC(change_id(st, 2, 4, 181), CRUMB_E_NOT_FOUND);
	CHECK_RC(change_id(st, 3, 4, 400), CRUMB_E_NOT_FOUND);

	if (o->set_label != NULL) {
		TEST("set_label: kept through update, touch and change_id");
		CHECK_OK(set_label(st, 3, "phone \xc3\xa9"));
		CHECK_OK(load(st, 3, 181, &r));
		CHECK_STR(r.label, "phone \xc3\xa9");
		CHECK(r.version == 3 && r.last_seen == 180);
		CHECK_OK(update(st, 3, 0, 3, "{\"a\":4}", "alice", 182, 0));
		CHECK_OK(touch(st, 3, 183, 400));
		CHECK_OK(change_id(st, 3, 5, 184));
		CHECK_OK(load(st, 5, 184, &r));
		CHECK_STR(r.label, "phone \xc3\xa9");
		CHECK_OK(change_id(st, 5, 3, 185));
		CHECK_RC(set_label(st, 96, "x"), CRUMB_E_NOT_FOUND);
	}

	TEST("user_list: live records of the user, newest first, stops");
	CHECK_OK(create(st, 10, "{}", "bob", 100, 1000));
	CHECK_OK(create(st, 11, "{}", "bob", 120, 1000));
	CHECK_OK(create(st, 12, "{}", "bob", 100, 150));    /* expired */
	CHECK_OK(create(st, 13, "{}", "b\xc3\xb6" "b \xe2\x9c\x93", 100,
	    1000));
	memset(&l, 0, sizeof(l));
	CHECK_OK(o->user_list(CTX(st), "bob", 190, collect_info, &l));
	CHECK(l.n == 2);
	CHECK(l.last_seen[0] == 120 && l.last_seen[1] == 100);
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	CHECK_OK(o->user_list(CTX(st), "bob", 190, collect_info, &l));
	CHECK(l.n == 1);
	memset(&l, 0, sizeof(l));
	CHECK_OK(o->user_list(CTX(st), "b\xc3\xb6" "b \xe2\x9c\x93", 190,
	    collect_info, &l));
	CHECK(l.n == 1);
	memset(&l, 0, sizeof(l));
	CHECK_OK(o->user_list(CTX(st), "alice", 190, collect_info, &l));
	CHECK(l.n == 1);
	if (o->set_label != NULL && l.n == 1)
		CHECK_STR(l.label[0], "phone \xc3\xa9");
	memset(&l, 0, sizeof(l));
	CHECK_OK(o->user_list(CTX(st), "nobody", 190, collect_info, &l));
	CHECK(l.n == 0);

	TEST("user_remove: every record of the user, expired or not");
	del = 99;
	CHECK_OK(o->user_remove(CTX(st), "bob", &del));
	CHECK(del == 3);
	del = 99;
	CHECK_OK(o->user_remove(CTX(st), "bob", &del));
	CHECK(del == 0);
	CHECK_OK(load(st, 13, 190, &r));

	TEST("purge: expired records (expires <= now), in batches");
	for (i = 0; i < 5; i++)
		CHECK_OK(create(st, 20 + i, "{}", NULL, 100, 300 + i));
	del = 99;
	CHECK_OK(o->purge(CTX(st), 300, 10, &del));
	CHECK(del == 1);
	CHECK_OK(o->purge(CTX(st), 310, 2, &del));
	CHECK(del == 2);
	CHECK_OK(o->purge(CTX(st), 310, 2, &del));
	CHECK(del == 2);
	CHECK_OK(o->purge(CTX(st), 310, 2, &del));
	CHECK(del == 0);
	CHECK_OK(load(st, 13, 310, &r));

	TEST("remove: absent is not an error");
	CHECK_OK(remove_(st, 13));
	CHECK_OK(remove_(st, 13));
	CHECK_RC(load(st, 13, 190, &r), CRUMB_E_NOT_FOUND);

	TEST("large unicode state round-trips byte for byte");
	big = malloc(200001);
	REQUIRE(big != NULL);
	for (i = 0; i < 200000; i++)
		big[i] = "h\xc3\xa9llo \"'\\\n\t"[i % 12];
	big[200000] = '\0';
	CHECK_OK(create(st, 30, big, "\xe2\x9c\x93", 100, 1000));
	CHECK_OK(load(st, 30, 100, &r));
	CHECK(rec_is(&r, big, "\xe2\x9c\x93", 1, 100, 100, 1000));
	free(big);

	if (o->lock != NULL) {
		TEST("lock: load and update in one transaction; rollback");
		CHECK_OK(create(st, 40, "{\"n\":0}", NULL, 100, 1000));
		{
			uint8_t k[CRUMB_HASH_LEN];

			h(k, 40);
			CHECK_OK(o->lock(CTX(st), k));
			CHECK_RC(o->lock(CTX(st), k), CRUMB_E_STATE);
			CHECK_OK(load(st, 40, 110, &r));
			CHECK(rec_is(&r, "{\"n\":0}", NULL, 1, 100, 100, 1000));
			CHECK_OK(update(st, 40, 0, 1, "{\"n\":1}", NULL, 110, 0));
			CHECK_OK(o->unlock(CTX(st), 1));
			CHECK_RC(o->unlock(CTX(st), 1), CRUMB_E_STATE);
			CHECK_OK(o->lock(CTX(st), k));
			CHECK_OK(load(st, 40, 120, &r));
			CHECK_OK(update(st, 40, 0, 2, "{\"n\":2}", NULL, 120, 0));
			CHECK_OK(o->unlock(CTX(st), 0));
			CHECK_OK(load(st, 40, 130, &r));
			CHECK(rec_is(&r, "{\"n\":1}", NULL, 2, 100, 110, 1000));
			TEST("lock on an absent record: load says not found");
			h(k, 41);
			CHECK_OK(o->lock(CTX(st), k));
			CHECK_RC(load(st, 41, 130, &r), CRUMB_E_NOT_FOUND);
			CHECK_OK(o->unlock(CTX(st), 0));
		}
	}
	/* Clean up for the next run on the same database. */
	for (i = 0; i < 50; i++)
		CHECK_OK(remove_(st, i));
	CHECK_OK(o->purge(CTX(st), INT64_C(253402300799), 1000, &del));
}

/* ---- PostgreSQL only ---- */

static void
round_trips(crumb_store *st)
{
	const crumb_store_ops *o = OPS(st);
	crumb_record r;
	uint8_t k[CRUMB_HASH_LEN];
	uint64_t del;
	struct listing l;
	unsigned long t;

	TEST("PostgreSQL: one round trip per operation, three for atomic");
	h(k, 50);
#define TRIPS(expr, n) do { t = trips; CHECK_OK(expr); \
	CHECK(trips - t == (n)); } while (0)
	TRIPS(create(st, 50, "{}", "carol", 100, 1000), 1);
	TRIPS(load(st, 50, 100, &r), 1);
	TRIPS(update(st, 50, 0, 1, "{\"a\":1}", "carol", 101, 0), 1);
	TRIPS(touch(st, 50, 102, 1000), 1);
	TRIPS(set_label(st, 50, "x"), 1);
	TRIPS(change_id(st, 50, 51, 103), 1);
	TRIPS(change_id(st, 51, 50, 103), 1);
	memset(&l, 0, sizeof(l));
	TRIPS(o->user_list(CTX(st), "carol", 103, collect_info, &l), 1);
	TRIPS(o->purge(CTX(st), 1, 10, &del), 1);
	TRIPS(o->lock(CTX(st), k), 1);
	TRIPS(load(st, 50, 104, &r), 0);
	TRIPS(update(st, 50, 0, 2, "{\"a\":2}", "carol", 104, 0), 1);
	TRIPS(o->unlock(CTX(st), 1), 1);
	TRIPS(o->user_remove(CTX(st), "carol", &del), 1);
	TRIPS(remove_(st, 50), 1);
#undef TRIPS
	printf("round trips: load 1, create 1, update 1, touch 1, "
	    "set_label 1, change_id 1, user_list 1, purge 1 a batch, "
	    "user_remove 1, remove 1, lock 1 + load 0 + update 1 + unlock 1\n");
}

static int
bump(crumb_session *s, void *ud)
{
	double n = 0;

	(void)ud;
	(void)crumb_state_get_number(crumb_session_server(s), "n", &n);
	return crumb_state_insert_number(crumb_session_server(s), "n", n + 1);
}

static void
sessions(crumb_store *st)
{
	crumb_config *cfg = tcfg_new(st, &clk, 0x93);
	crumb_session *s;
	char *pair = NULL;
	const char *v;
	unsigned long t;
	int i, status, ok;

	TEST("PostgreSQL sessions: a read is 1 round trip, read + write 2, "
	    "atomic 3");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "v", "1"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	t = trips;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "v", &v));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(trips - t == 1);
	t = trips;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "v", "2"));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(trips - t == 2);
	t = trips;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_atomic(s, bump, NULL));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(trips - t == 3);
	printf("session round trips: read 1, read + write 2, atomic 3\n");

	TEST("PostgreSQL: 4 processes x 25 atomic increments lose none");
	for (i = 0; i < 4; i++)
		spawn("incr", pair, NULL);
	for (i = 0, ok = 0; i < 4; i++)
		if (wait(&status) > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			ok++;
	CHECK(ok == 4);
	CHECK(tread_number(cfg, pair, "n") == 101);
	free(pair);
	crumb_config_free(cfg);
}

static void
errors(crumb_store *st)
{
	PGconn *c = admin();
	crumb_store *ro, *busy, *bad = NULL;
	char err[256], *u, *pw_url;
	crumb_record r;
	uint8_t k[CRUMB_HASH_LEN];
	struct timespec t0, t1;
	long ms;
	const char *pw = tenv("PG_PASSWORD");

	TEST("PostgreSQL: a duplicate ID is CRUMB_E_CONFLICT");
	CHECK_OK(create(st, 60, "{}", NULL, 100, 1000));
	CHECK_RC(create(st, 60, "{}", NULL, 100, 1000), CRUMB_E_CONFLICT);
	CHECK(strstr(crumb_store_errmsg(st), "23505") != NULL);

	TEST("PostgreSQL: a read-only transaction is CRUMB_E_READONLY");
	u = url_with("options=-cdefault_transaction_read_only%3Don");
	ro = open_pg(u, 2000);
	CHECK_OK(load(ro, 60, 100, &r));
	CHECK_RC(create(ro, 61, "{}", NULL, 100, 1000), CRUMB_E_READONLY);
	CHECK(strstr(crumb_store_errmsg(ro), "25006") != NULL);
	crumb_store_free(ro);
	free(u);

	TEST("PostgreSQL: a row locked past the timeout is CRUMB_E_BUSY");
	busy = open_pg(tenv("PGURL"), 300);
	sql(c, "BEGIN");
	h(k, 60);
	{
		char q[200], hex[2 * CRUMB_HASH_LEN + 1];

		hex_of(k, hex);
		snprintf(q, sizeof(q), "SELECT 1 FROM crumb_sessions WHERE "
		    "id = '\\x%s' FOR UPDATE", hex);
		sql(c, q);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RC(update(busy, 60, 0, 1, "{}", NULL, 101, 0), CRUMB_E_BUSY);
	CHECK_RC(OPS(busy)->lock(CTX(busy), k), CRUMB_E_BUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 500 && ms < 2000);
	CHECK(strstr(crumb_store_errmsg(busy), "55P03") != NULL ||
	    strstr(crumb_store_errmsg(busy), "57014") != NULL);
	TEST("PostgreSQL: reads do not wait for a locked row");
	CHECK_OK(load(busy, 60, 100, &r));
	sql(c, "ROLLBACK");
	CHECK_OK(update(busy, 60, 0, 1, "{}", NULL, 101, 0));
	crumb_store_free(busy);

	TEST("PostgreSQL: no server is CRUMB_E_CANTOPEN, at once");
	CHECK_RC(crumb_store_postgres_open("postgresql://crumb@127.0.0.1:1/x",
	    1000, &bad, err, sizeof(err)), CRUMB_E_CANTOPEN);
	CHECK(bad == NULL);
	CHECK(strstr(err, "postgresql:") == err);
	TEST("PostgreSQL: bad arguments and conninfo are CRUMB_E_INVAL");
	CHECK_RC(crumb_store_postgres_open("nokey", 0, &bad, err, sizeof(err)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_postgres_open(NULL, 0, &bad, err, sizeof(err)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_postgres_open(tenv("PGURL"), -1, &bad, NULL, 0),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_postgres_open(tenv("PGURL"), 0, NULL, NULL, 0),
	    CRUMB_E_INVAL);

	TEST("PostgreSQL: the password never appears in a message");
	{
		const char *bads[] = {
			"postgresql://crumb:SeCrEt-pw1@127.0.0.1:%s/crumb",
			"host=127.0.0.1 port=%s user=crumb password=SeCrEt-pw1 "
			    "dbname=crumb",
			"host=127.0.0.1 port=%s user=crumb password='SeCrEt-pw1' "
			    "dbname=crumb bogus=1",
			"postgresql://crumb:SeCrEt-pw1@127.0.0.1:%sx/crumb",
			"postgresql://crumb:SeCrEt%%2Dpw1@127.0.0.1:%s/crumb"
			    "?sslmode=bogus",
		};
		size_t i;

		for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
			char ci[256];

			snprintf(ci, sizeof(ci), bads[i], tenv("PG_PORT"));
			err[0] = '\0';
			CHECK(crumb_store_postgres_open(ci, 1000, &bad, err,
			    sizeof(err)) != CRUMB_OK);
			CHECK(err[0] != '\0');
			CHECK(strstr(err, "SeCrEt") == NULL);
			if (strstr(err, "SeCrEt") != NULL)
				fprintf(stderr, "leaked: %s\n", err);
		}
	}
	TEST("PostgreSQL: over TCP with the right password, then a restart");
	pw_url = strdup(tenv("PGURL_TCP"));
	REQUIRE(pw_url != NULL);
	bad = open_pg(pw_url, 1000);
	CHECK_OK(load(bad, 60, 100, &r));
	REQUIRE(server("pause") == 0);
	CHECK(load(bad, 60, 100, &r) == CRUMB_E_CANTOPEN);
	CHECK(strstr(crumb_store_errmsg(bad), pw) == NULL);
	REQUIRE(server("resume") == 0);
	CHECK_OK(load(bad, 60, 100, &r));
	crumb_store_free(bad);
	free(pw_url);
	PQfinish(c);
	CHECK_OK(remove_(st, 60));
}

/* Wait until a backend of application_name app waits for a lock (or
 * is idle, when lock is 0), then terminate it.  In a child process. */
static void
terminate_later(const char *app, int lock)
{
	spawn("terminate", app, lock ? "lock" : "idle");
}

/* Wait (10 s at most) until no backend of application_name app is left. */
static int
gone(PGconn *c, const char *app)
{
	char q[200];
	int i;

	snprintf(q, sizeof(q), "SELECT count(*) FROM pg_stat_activity WHERE "
	    "application_name = '%s'", app);
	for (i = 0; i < 1000; i++) {
		if (sql_num(c, q) == 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static int
child_ok(void)
{
	int status;

	return wait(&status) > 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0;
}

static void
connection_loss(void)
{
	PGconn *c = admin();
	char *u = url_with("application_name=crumb-loss");
	crumb_store *st = open_pg(u, 5000);
	crumb_record r;
	uint8_t k[CRUMB_HASH_LEN];
	char q[200], hex[2 * CRUMB_HASH_LEN + 1];

	TEST("PostgreSQL: a connection lost during a call: that call fails, "
	    "the next works");
	CHECK_OK(create(st, 70, "{}", NULL, 100, 1000));
	h(k, 70);
	hex_of(k, hex);
	snprintf(q, sizeof(q), "SELECT 1 FROM crumb_sessions WHERE id = "
	    "'\\x%s' FOR UPDATE", hex);
	sql(c, "BEGIN");
	sql(c, q);
	terminate_later("crumb-loss", 1);
	CHECK_RC(touch(st, 70, 101, 1000), CRUMB_E_CANTOPEN);
	CHECK(child_ok());
	sql(c, "ROLLBACK");
	CHECK_OK(touch(st, 70, 102, 1000));
	CHECK_OK(load(st, 70, 102, &r));
	CHECK(r.last_seen == 102);

	TEST("PostgreSQL: a connection lost while idle is replaced unseen");
	terminate_later("crumb-loss", 0);
	CHECK(child_ok());
	/* the backend is gone once it no longer shows */
	REQUIRE(gone(c, "crumb-loss"));
	CHECK_OK(touch(st, 70, 103, 1000));

	TEST("PostgreSQL: a connection lost inside lock..unlock");
	CHECK_OK(OPS(st)->lock(CTX(st), k));
	sql(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'crumb-loss'");
	REQUIRE(gone(c, "crumb-loss"));
	CHECK_RC(load(st, 70, 104, &r), CRUMB_OK);     /* the row lock read */
	CHECK(update(st, 70, 0, 1, "{\"lost\":1}", NULL, 104, 0) ==
	    CRUMB_E_CANTOPEN);
	CHECK(OPS(st)->unlock(CTX(st), 1) == CRUMB_E_CANTOPEN);
	CHECK_OK(load(st, 70, 105, &r));
	CHECK(r.version == 1);
	CHECK_OK(remove_(st, 70));

	TEST("PostgreSQL: server stopped: calls fail within the timeout; "
	    "back when it is");
	{
		crumb_store *fast = open_pg(tenv("PGURL"), 1000);
		struct timespec t0, t1;
		long ms;

		CHECK_OK(create(fast, 71, "{}", NULL, 100, 1000));
		REQUIRE(server("pause") == 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_RC(load(fast, 71, 100, &r), CRUMB_E_CANTOPEN);
		CHECK_RC(touch(fast, 71, 100, 1000), CRUMB_E_CANTOPEN);
		CHECK(OPS(fast)->lock(CTX(fast), k) == CRUMB_E_CANTOPEN);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		CHECK(ms < 2000);
		REQUIRE(server("resume") == 0);
		CHECK_OK(load(fast, 71, 100, &r));
		CHECK_OK(remove_(fast, 71));
		crumb_store_free(fast);
	}
	PQfinish(c);
	/* the admin connection died with the restart: a new one */
	crumb_store_free(st);
	free(u);
}

static void
schema(void)
{
	PGconn *c = admin();
	crumb_store *st = NULL;
	crumb_record r;
	char err[256], *u;
	int i, ok;

	TEST("PostgreSQL: the table in another schema (search_path)");
	sql(c, "DROP SCHEMA IF EXISTS other CASCADE");
	sql(c, "CREATE SCHEMA other");
	u = url_with("options=-csearch_path%3Dother");
	/* several openers at once create it once */
	for (i = 0; i < 4; i++)
		spawn("open", u, NULL);
	for (i = 0, ok = 0; i < 4; i++)
		ok += child_ok();
	CHECK(ok == 4);
	CHECK(sql_num(c, "SELECT count(*) FROM pg_indexes WHERE schemaname "
	    "= 'other' AND tablename = 'crumb_sessions'") == 3);
	st = open_pg(u, 2000);
	CHECK_OK(create(st, 80, "{}", NULL, 100, 1000));
	CHECK(sql_num(c, "SELECT count(*) FROM other.crumb_sessions") == 1);
	crumb_store_free(st);
	free(u);

	TEST("PostgreSQL: a role that may not create tables uses one made "
	    "by hand, and is told when there is none");
	sql(c, "DROP ROLE IF EXISTS crumbweb");
	sql(c, "CREATE ROLE crumbweb LOGIN");
	sql(c, "GRANT USAGE ON SCHEMA other TO crumbweb");
	sql(c, "GRANT SELECT, INSERT, UPDATE, DELETE ON other.crumb_sessions "
	    "TO crumbweb");
	sql(c, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
	u = url_with("options=-csearch_path%3Dother&user=crumbweb");
	/* url_with appends: the later user= wins in libpq */
	st = open_pg(u, 2000);
	CHECK_OK(load(st, 80, 100, &r));
	CHECK_OK(create(st, 81, "{}", NULL, 100, 1000));
	crumb_store_free(st);
	free(u);
	u = url_with("user=crumbweb");
	sql(c, "CREATE SCHEMA empty");
	sql(c, "GRANT USAGE ON SCHEMA empty TO crumbweb");
	free(u);
	u = url_with("options=-csearch_path%3Dempty&user=crumbweb");
	st = NULL;
	CHECK_RC(crumb_store_postgres_open(u, 2000, &st, err, sizeof(err)),
	    CRUMB_E_STORE);
	CHECK(st == NULL);
	CHECK(strstr(err, "42501") != NULL);
	CHECK(strstr(err, "postgresql-store.sql") != NULL);
	free(u);
	sql(c, "DROP SCHEMA other CASCADE");
	sql(c, "DROP SCHEMA empty CASCADE");
	sql(c, "DROP OWNED BY crumbweb");
	sql(c, "DROP ROLE crumbweb");
	PQfinish(c);
}

int
main(int argc, char **argv)
{
	crumb_store *st = NULL;
	char *dir, *path;

	self = argv[0];
	if (argc > 1)
		return child(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("PGURL") == NULL)
		tserver_own(PG_SERVER_SH, "pg");

	REQUIRE(crumb_store_memory_new(&st) == CRUMB_OK);
	semantics(st, "memory store");
	crumb_store_free(st);
	dir = tdir_new();
	path = tpath(dir, "store.db");
	REQUIRE(crumb_store_sqlite_open(path, &st) == CRUMB_OK);
	semantics(st, "SQLite store");
	crumb_store_free(st);
	free(path);
	tdir_remove(dir);

	st = open_pg(tenv("PGURL"), 5000);
	semantics(st, "PostgreSQL store (unix socket)");
	round_trips(st);
	sessions(st);
	errors(st);
	crumb_store_free(st);
	st = open_pg(tenv("PGURL_TCP"), 5000);
	semantics(st, "PostgreSQL store (TCP, password)");
	crumb_store_free(st);
	connection_loss();
	schema();
	return CHECK_DONE();
}
