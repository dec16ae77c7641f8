/*
 * The Redis store beyond the conformance suite: network round trips per
 * session request, Redis's errors mapped to crumb's (OOM, a read-only
 * replica, no answer within the timeout), the password never in a
 * message, a connection killed while idle, a server stopped (an error
 * within the timeout) and started again (the next call reconnects), and
 * scripts the server forgot (SCRIPT FLUSH) loaded again, and the
 * administration's walks (stats, scan) made of short steps.
 *
 * The server: a private one this program starts with
 * tests/redis-server.sh and stops at exit.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "check.h"
#include "helpers.h"

#ifndef REDIS_SERVER_SH
#define REDIS_SERVER_SH "tests/redis-server.sh"
#endif

static struct tclock clk = { T_START };

/* ---- round trips: every send on a socket is one ---- */

/* The store sends a command (or a pipeline) in one send, or hiredis in
 * one write, and then waits for the answer: a round trip each.  These
 * stand in front of libc's for the library and libhiredis. */
static unsigned long trips;

static void
count_trip(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
		trips++;
}

ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	static ssize_t (*next)(int, const void *, size_t, int);

	if (next == NULL) {
		next = (ssize_t (*)(int, const void *, size_t, int))dlsym(
		    RTLD_NEXT, "send");
		if (next == NULL)
			abort();
	}
	count_trip(fd);
	return next(fd, buf, n, flags);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	static ssize_t (*next)(int, const void *, size_t);

	if (next == NULL) {
		next = (ssize_t (*)(int, const void *, size_t))dlsym(
		    RTLD_NEXT, "write");
		if (next == NULL)
			abort();
	}
	count_trip(fd);
	return next(fd, buf, n);
}

/* ---- the server ---- */

static int
server(const char *what)
{
	return tserver(REDIS_SERVER_SH, what, tenv("REDIS_DIR"));
}

/* An administrator's connection of its own; a command's reply type. */
static int
admin(const char *a, const char *b, const char *c)
{
	const char *argv[3] = { a, b, c };
	size_t len[3] = { strlen(a), b != NULL ? strlen(b) : 0,
	    c != NULL ? strlen(c) : 0 };
	redisContext *ctx = redisConnectUnix(tenv("REDIS_SOCK"));
	redisReply *r;
	int type = -1;

	REQUIRE(ctx != NULL && ctx->err == 0);
	r = redisCommand(ctx, "AUTH %s", tenv("REDIS_PASSWORD"));
	REQUIRE(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	r = redisCommandArgv(ctx, c != NULL ? 3 : b != NULL ? 2 : 1, argv,
	    len);
	if (r != NULL) {
		type = r->type;
		if (type == REDIS_REPLY_ERROR)
			fprintf(stderr, "admin %s: %s\n", a, r->str);
		freeReplyObject(r);
	}
	redisFree(ctx);
	return type;
}

static crumb_store *
open_url(const char *url)
{
	crumb_store *st = NULL;
	char err[256] = "";
	int rc = crumb_store_open(url, &st, err, sizeof(err));

	if (rc != CRUMB_OK)
		fprintf(stderr, "open %s: %s: %s\n", url, crumb_strerror(rc),
		    err);
	REQUIRE(rc == CRUMB_OK);
	return st;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
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
round_trips(crumb_store *st)
{
	crumb_config *cfg = tcfg_new(st, &clk, 0x93);
	crumb_session *s;
	char *pair = NULL;
	const char *v;
	double n = 0;
	unsigned long t;

	TEST("Redis sessions: a read is 1 round trip, read + write 2, "
	    "atomic 2");
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
	CHECK(trips - t == 2);
	printf("session round trips: read 1, read + write 2, atomic 2\n");

	TEST("scripts the server forgot (SCRIPT FLUSH) are loaded again");
	CHECK(admin("SCRIPT", "FLUSH", NULL) == REDIS_REPLY_STATUS);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_atomic(s, bump, NULL));
	CHECK_OK(tend(s, "id", NULL, NULL));
	n = tread_number(cfg, pair, "n");
	CHECK(n == 2);
	free(pair);
	crumb_config_free(cfg);
}

static void
errors(crumb_store *st)
{
	const crumb_store_ops *ops;
	void *ctx;
	uint8_t h[CRUMB_HASH_LEN];
	crumb_record r;
	char url[512];
	crumb_store *st2 = NULL;
	char err[256];
	struct timespec t0;
	long ms;

	ops = tstore_ops(st, &ctx);
	memset(h, 0x42, sizeof(h));

	TEST("Redis: maxmemory reached (OOM) is CRUMB_E_FULL");
	{
		redisContext *c = redisConnectUnix(tenv("REDIS_SOCK"));
		redisReply *x;

		REQUIRE(c != NULL && c->err == 0);
		x = redisCommand(c, "AUTH %s", tenv("REDIS_PASSWORD"));
		freeReplyObject(x);
		x = redisCommand(c, "CONFIG SET maxmemory-policy noeviction");
		CHECK(x != NULL && x->type == REDIS_REPLY_STATUS);
		freeReplyObject(x);
		x = redisCommand(c, "CONFIG SET maxmemory 1");
		CHECK(x != NULL && x->type == REDIS_REPLY_STATUS);
		freeReplyObject(x);
		CHECK_RC(ops->create(ctx, h, "{}", 2, NULL, 2000000, 2000100),
		    CRUMB_E_FULL);
		CHECK(strncmp(ops->errmsg(ctx), "redis: OOM ", 11) == 0);
		x = redisCommand(c, "CONFIG SET maxmemory 0");
		CHECK(x != NULL && x->type == REDIS_REPLY_STATUS);
		freeReplyObject(x);
		redisFree(c);
	}
	CHECK_OK(ops->create(ctx, h, "{}", 2, NULL, 2000000, 2000100));

	TEST("Redis: a read-only replica is CRUMB_E_READONLY, reads work");
	CHECK(admin("REPLICAOF", "127.0.0.1", "1") == REDIS_REPLY_STATUS);
	CHECK_RC(ops->touch(ctx, h, 2000001, 2000200), CRUMB_E_READONLY);
	CHECK_OK(ops->load(ctx, h, 2000001, &r));
	CHECK(r.expires == 2000100);
	CHECK(admin("REPLICAOF", "NO", "ONE") == REDIS_REPLY_STATUS);
	CHECK_OK(ops->touch(ctx, h, 2000001, 2000200));

	TEST("Redis: a connection killed while idle is replaced at once");
	{
		redisContext *c = redisConnectUnix(tenv("REDIS_SOCK"));
		redisReply *x;

		REQUIRE(c != NULL && c->err == 0);
		x = redisCommand(c, "AUTH %s", tenv("REDIS_PASSWORD"));
		freeReplyObject(x);
		x = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
		CHECK(x != NULL && x->type == REDIS_REPLY_INTEGER &&
		    x->integer >= 1);
		freeReplyObject(x);
		redisFree(c);
	}
	usleep(100000);
	CHECK_OK(ops->load(ctx, h, 2000002, &r));
	CHECK(r.expires == 2000200);

	TEST("Redis: no answer within the timeout is CRUMB_E_BUSY, then back");
	snprintf(url, sizeof(url), "%s?timeout=300", tenv("REDISURL_TCP"));
	st2 = open_url(url);
	ops = tstore_ops(st2, &ctx);
	CHECK(admin("CLIENT", "PAUSE", "1500") == REDIS_REPLY_STATUS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RC(ops->load(ctx, h, 2000002, &r), CRUMB_E_BUSY);
	ms = ms_since(&t0);
	CHECK(ms >= 250 && ms < 1000);
	CHECK(strstr(ops->errmsg(ctx), "300 ms") != NULL);
	usleep(1500000);
	CHECK_OK(ops->load(ctx, h, 2000002, &r));

	TEST("Redis: a stopped server is CRUMB_E_CANTOPEN at once; a "
	    "restarted one is used again");
	REQUIRE(server("pause") == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RC(ops->load(ctx, h, 2000002, &r), CRUMB_E_CANTOPEN);
	CHECK_RC(ops->touch(ctx, h, 2000002, 2000300), CRUMB_E_CANTOPEN);
	CHECK(ms_since(&t0) < 600);
	REQUIRE(server("resume") == 0);
	/* No persistence: the record went with the server. */
	CHECK_RC(ops->load(ctx, h, 2000002, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(ops->create(ctx, h, "{}", 2, NULL, 2000002, 2000100));
	CHECK_OK(ops->load(ctx, h, 2000002, &r));
	crumb_store_free(st2);

	TEST("Redis: a wrong password is CRUMB_E_CANTOPEN, never shown");
	snprintf(url, sizeof(url), "redis://:hunter2secret@127.0.0.1:%s/0",
	    tenv("REDIS_PORT"));
	CHECK_RC(crumb_store_open(url, &st2, err, sizeof(err)),
	    CRUMB_E_CANTOPEN);
	CHECK(st2 == NULL);
	CHECK(strstr(err, "hunter2secret") == NULL);
	CHECK(strstr(err, "redis: login refused: WRONGPASS") == err);
	CHECK_RC(crumb_store_redis_open(url, 500, &st2, err, sizeof(err)),
	    CRUMB_E_CANTOPEN);
	CHECK(strstr(err, "hunter2secret") == NULL);
	CHECK_RC(crumb_store_redis_open(url, -1, &st2, err, sizeof(err)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_redis_open(NULL, 0, &st2, err, sizeof(err)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_redis_open(url, 0, NULL, err, sizeof(err)),
	    CRUMB_E_INVAL);
}

/* ZCARD of key in database db, through an administrator's connection. */
static long long
zcard(int db, const char *key)
{
	redisContext *c = redisConnectUnix(tenv("REDIS_SOCK"));
	redisReply *x;
	long long n = -1;

	REQUIRE(c != NULL && c->err == 0);
	x = redisCommand(c, "AUTH %s", tenv("REDIS_PASSWORD"));
	freeReplyObject(x);
	x = redisCommand(c, "SELECT %d", db);
	freeReplyObject(x);
	x = redisCommand(c, "ZCARD %s", key);
	if (x != NULL && x->type == REDIS_REPLY_INTEGER)
		n = x->integer;
	freeReplyObject(x);
	redisFree(c);
	return n;
}

static int
count_info(const crumb_session_info *info, void *ud)
{
	(void)info;
	(*(int *)ud)++;
	return 0;
}

/* Redis's own expiry, on the real clock: the record goes by itself,
 * its user index member stays (the user has a longer session) until
 * purge, and listing never shows it meanwhile. */
static void
expiry(crumb_store *st)
{
	const crumb_store_ops *ops;
	void *ctx;
	uint8_t h1[CRUMB_HASH_LEN], h2[CRUMB_HASH_LEN];
	int64_t now = (int64_t)time(NULL);
	crumb_record r;
	crumb_store_counts c;
	uint64_t n = 0;
	int listed = 0;

	ops = tstore_ops(st, &ctx);
	memset(h1, 0x11, sizeof(h1));
	memset(h2, 0x22, sizeof(h2));
	TEST("Redis deletes an expired record itself; purge cleans the "
	    "index; stats has a size");
	CHECK_OK(ops->create(ctx, h1, "{}", 2, "exp-user", now, now + 1));
	CHECK_OK(ops->create(ctx, h2, "{}", 2, "exp-user", now, now + 100));
	CHECK(zcard(2, "crumb:u:exp-user") == 2);
	CHECK_OK(crumb_store_stats(st, now, &c));
	CHECK(c.live >= 2 && c.users >= 1 && c.bytes > 100);
	usleep(1300000);
	/* Asked with the old now, the record would be live: it is gone. */
	CHECK_RC(ops->load(ctx, h1, now, &r), CRUMB_E_NOT_FOUND);
	now = (int64_t)time(NULL);
	CHECK_OK(ops->user_list(ctx, "exp-user", now, count_info, &listed));
	CHECK(listed == 1);
	CHECK(zcard(2, "crumb:u:exp-user") == 2);
	/* (It deletes the records of round_trips(), made at the test
	 * clock's 1970.) */
	CHECK_OK(crumb_store_purge(st, now, 0, &n));
	CHECK_OK(ops->load(ctx, h2, now, &r));
	CHECK(zcard(2, "crumb:u:exp-user") == 1);
	CHECK_OK(ops->remove(ctx, h2));
	CHECK(zcard(2, "crumb:u:exp-user") == 0);
}

/* calls=N of cmdstat_<name> in INFO commandstats (0 when never
 * called), through an administrator's connection. */
static unsigned long
cmd_calls(const char *name)
{
	redisContext *c = redisConnectUnix(tenv("REDIS_SOCK"));
	redisReply *x;
	unsigned long n = 0;
	char key[64];
	const char *p;

	REQUIRE(c != NULL && c->err == 0);
	x = redisCommand(c, "AUTH %s", tenv("REDIS_PASSWORD"));
	freeReplyObject(x);
	x = redisCommand(c, "INFO commandstats");
	REQUIRE(x != NULL && x->type == REDIS_REPLY_STRING);
	snprintf(key, sizeof(key), "cmdstat_%s:calls=", name);
	if ((p = strstr(x->str, key)) != NULL)
		n = strtoul(p + strlen(key), NULL, 10);
	freeReplyObject(x);
	redisFree(c);
	return n;
}

#define WALK_N 3000             /* sessions, WALK_N / 10 of them expired */

struct walk_seen {
	uint8_t last[CRUMB_HASH_LEN];
	unsigned n, bad;
	int64_t now;
};

static int
walk_step(const uint8_t *hash, const crumb_record *rec, void *ud)
{
	struct walk_seen *w = ud;

	if ((w->n > 0 && memcmp(w->last, hash, CRUMB_HASH_LEN) >= 0) ||
	    rec->expires <= w->now || rec->state_len != 2)
		w->bad++;
	memcpy(w->last, hash, CRUMB_HASH_LEN);
	w->n++;
	return 0;
}

/* The walks run from the client, SCAN step by step: no script walks
 * the keyspace (it held the server for the whole walk).  scan lists
 * the keys once per walk, not once per page. */
static void
walks(void)
{
	const crumb_store_ops *ops;
	void *ctx;
	crumb_store *st;
	crumb_store_counts c;
	struct walk_seen w;
	char url[512], user[16];
	uint8_t h[CRUMB_HASH_LEN], mid[CRUMB_HASH_LEN];
	int64_t now = (int64_t)time(NULL);
	unsigned long scans, evals, i, pages;
	unsigned seen;
	struct timespec t0, all;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &all);
	snprintf(url, sizeof(url), "%s?prefix=walk:", tenv("REDISURL_TCP"));
	st = open_url(url);
	ops = tstore_ops(st, &ctx);
	srand(7);
	for (i = 0; i < WALK_N; i++) {
		size_t j;

		for (j = 0; j < CRUMB_HASH_LEN; j++)
			h[j] = (uint8_t)rand();
		/* 50 users, 5 of them (w0, w10 .. w40) with expired
		 * records only */
		snprintf(user, sizeof(user), "w%lu", i % 50);
		/* expired at now + 50, still held by Redis for 10 s */
		REQUIRE(ops->create(ctx, h, "{}", 2, user, now,
		    i % 10 == 0 ? now + 10 : now + 600) == CRUMB_OK);
		if (i == WALK_N / 2)
			memcpy(mid, h, sizeof(mid));
	}

	TEST("Redis stats: one short script per SCAN step of 1000 keys, "
	    "exact counts");
	scans = cmd_calls("scan");
	evals = cmd_calls("evalsha");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(crumb_store_stats(st, now + 50, &c));
	ms = ms_since(&t0);
	scans = cmd_calls("scan") - scans;
	evals = cmd_calls("evalsha") - evals;
	printf("counts: %" PRIu64 " records, %" PRIu64 " live, %" PRIu64
	    " users, %" PRId64 " bytes\n", c.records, c.live, c.users,
	    c.bytes);
	CHECK(c.records == WALK_N && c.live == WALK_N - WALK_N / 10 &&
	    c.expired == WALK_N / 10 && c.users == 45 && c.bytes > 0);
	/* about a step per 1000 keys of the database (3000 sessions and
	 * 50 user indexes here), each read by one script */
	CHECK(scans >= 3 && scans <= 12);
	CHECK(evals >= 3 && evals <= scans);
	printf("stats of %d sessions: %lu SCAN steps, %lu scripts, %ld ms\n",
	    WALK_N, scans, evals, ms);

	TEST("Redis scan in pages of 100: every live record once, in "
	    "order; SCAN once per walk, not per page");
	memset(&w, 0, sizeof(w));
	w.now = now + 50;
	scans = cmd_calls("scan");
	evals = cmd_calls("evalsha");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(crumb_store_scan(st, now + 50, 100, walk_step, &w));
	ms = ms_since(&t0);
	scans = cmd_calls("scan") - scans;
	evals = cmd_calls("evalsha") - evals;
	pages = (WALK_N - WALK_N / 10) / 100;    /* full pages */
	CHECK(w.n == WALK_N - WALK_N / 10 && w.bad == 0);
	CHECK(scans >= 3 && scans <= 12);
	/* a page's records read by one script, now and then two when
	 * expired ones were skipped */
	CHECK(evals >= pages && evals <= pages + pages / 2);
	printf("scan of %d sessions in pages of 100: %lu SCAN steps, "
	    "%lu scripts, %ld ms\n", WALK_N, scans, evals, ms);

	TEST("Redis scan: a page after a hash with no walk begun");
	memset(&w, 0, sizeof(w));
	w.now = now + 50;
	memcpy(w.last, mid, sizeof(mid));
	w.n = 1;
	CHECK_OK(ops->scan(ctx, mid, now + 50, 5, walk_step, &w, &seen));
	CHECK(seen == 5 && w.n == 6 && w.bad == 0);
	/* and one that goes on from there */
	CHECK_OK(ops->scan(ctx, w.last, now + 50, 5, walk_step, &w, &seen));
	CHECK(seen == 5 && w.n == 11 && w.bad == 0);
	crumb_store_free(st);
	printf("walks, the %d sessions made included: %ld ms\n", WALK_N,
	    ms_since(&all));
}

int
main(void)
{
	crumb_store *st;

	tserver_own(REDIS_SERVER_SH, "r");
	st = open_url(tenv("REDISURL_TCP"));
	round_trips(st);
	expiry(st);
	walks();
	errors(st);
	crumb_store_free(st);
	tserver_own_stop();
	return CHECK_DONE();
}
