/* crumb_store_open: every URL form opens the store it names (the SQLite
 * file where the URL says, with the query's busy_ms, sync and group),
 * memory: is a working store, and every refusal is CRUMB_E_INVAL with
 * a reason that names what this build has and never a password. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "helpers.h"

#ifdef CRUMB_HAVE_POSTGRES
#define STORES_PG ", postgresql"
#else
#define STORES_PG ""
#endif
#ifdef CRUMB_HAVE_REDIS
#define STORES_REDIS ", redis"
#else
#define STORES_REDIS ""
#endif
#define STORES "sqlite, memory" STORES_PG STORES_REDIS

static char err[512];

/* Open url; on success check the store works and free it. */
static int
try_open(const char *url)
{
	crumb_store *st = (crumb_store *)&st;   /* not NULL before */
	int rc;

	memset(err, 'x', sizeof(err));
	rc = crumb_store_open(url, &st, err, sizeof(err));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == CRUMB_OK) {
		CHECK(st != NULL);
		CHECK_STR(err, "");
	} else {
		CHECK(st == NULL);
		CHECK(err[0] != '\0');
	}
	crumb_store_free(rc == CRUMB_OK ? st : NULL);
	return rc;
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static unsigned
mode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 0;
}

static char *
cat(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	REQUIRE(s != NULL);
	snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

/* Open path's store from url, then check that path is the file it made
 * (and that it holds the schema). */
static void
opens_file(const char *url, const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	CHECK(!exists(path));
	CHECK_OK(try_open(url));
	CHECK(exists(path));
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM crumb_sessions",
	    -1, &q, NULL) == SQLITE_OK);
	CHECK(q != NULL && sqlite3_step(q) == SQLITE_ROW);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 +
	    (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A write through url's store while another connection holds the write
 * lock: CRUMB_E_BUSY after about busy_ms. */
static double
busy_wait_ms(const char *url, const char *path)
{
	struct timespec t0;
	crumb_store *st = NULL;
	crumb_config *cfg;
	crumb_session *s;
	sqlite3 *db = NULL;
	double ms;

	REQUIRE(crumb_store_open(url, &st, err, sizeof(err)) == CRUMB_OK);
	cfg = tcfg_new(st, NULL, 0x21);
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
	    SQLITE_OK);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RC(tend(s, "id", NULL, NULL), CRUMB_E_BUSY);
	ms = elapsed_ms(&t0);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	crumb_config_free(cfg);
	crumb_store_free(st);
	return ms;
}

/* Refused with CRUMB_E_INVAL, the reason containing want (may be NULL)
 * and never secret (may be NULL). */
static void
refused(const char *url, const char *want, const char *secret)
{
	CHECK_RC(try_open(url), CRUMB_E_INVAL);
	if (want != NULL && strstr(err, want) == NULL)
		CHECK_STR(err, want);
	if (secret != NULL && strstr(err, secret) != NULL)
		CHECK_STR(err, "(a message without the password)");
}

/* refused() of the URL a b c. */
static void
refused3(const char *a, const char *b, const char *c, const char *want,
    const char *secret)
{
	char *url = cat(a, b, c);

	refused(url, want, secret);
	free(url);
}

int
main(void)
{
	char *dir = tdir_new(), *cwd, *path, *url;
	crumb_store *st;
	double ms;

	TEST("argument checks");
	st = (crumb_store *)&st;
	CHECK_RC(crumb_store_open(NULL, &st, err, sizeof(err)), CRUMB_E_INVAL);
	CHECK(st == NULL);
	CHECK(err[0] != '\0');
	CHECK_RC(crumb_store_open("memory:", NULL, err, sizeof(err)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_store_open("memory:", NULL, NULL, 0), CRUMB_E_INVAL);
	CHECK_RC(crumb_store_open("mysql://x", &st, NULL, 0), CRUMB_E_INVAL);
	CHECK_RC(crumb_store_open("mysql://x", &st, err, 0), CRUMB_E_INVAL);
	refused("", "empty store URL: this crumb has " STORES, NULL);

	TEST("memory: is a working store; nothing may follow the colon");
	st = NULL;
	CHECK_OK(crumb_store_open("memory:", &st, NULL, 0));
	if (st != NULL) {
		crumb_config *cfg = tcfg_new(st, NULL, 0x21);
		crumb_session *s = tbegin(cfg, NULL);
		char *pair = NULL;

		CHECK_OK(crumb_state_insert_number(crumb_session_server(s),
		    "n", 5));
		CHECK_OK(tend(s, "id", NULL, &pair));
		CHECK(pair != NULL && tread_number(cfg, pair, "n") == 5);
		free(pair);
		crumb_config_free(cfg);
		crumb_store_free(st);
	}
	CHECK_OK(try_open("MEMORY:"));
	refused("memory:x", "memory:", NULL);
	refused("memory://", "memory:", NULL);

	TEST("sqlite:/abs, sqlite:///abs, a bare absolute path");
	path = tpath(dir, "a.db");
	url = cat("sqlite:", path, "");
	opens_file(url, path);
	CHECK(mode_of(path) == 0600);
	free(url);
	free(path);
	path = tpath(dir, "b.db");
	url = cat("sqlite://", path, "");
	opens_file(url, path);
	free(url);
	free(path);
	path = tpath(dir, "c.db");
	opens_file(path, path);
	free(path);
	path = tpath(dir, "d.db");
	url = cat("SQLite:", path, "");
	opens_file(url, path);
	free(url);
	free(path);

	TEST("relative paths: bare, ./, sqlite:rel");
	cwd = getcwd(NULL, 0);
	REQUIRE(cwd != NULL && chdir(dir) == 0);
	opens_file("rel.db", "rel.db");
	opens_file("./dot.db", "dot.db");
	opens_file("sqlite:srel.db", "srel.db");
	opens_file("./a:b.db", "a:b.db");
	opens_file("./dbname=x", "dbname=x");
	/* A bare path is taken as it is: '?' and '%' are part of it. */
	opens_file("q?busy_ms=1", "q?busy_ms=1");
	opens_file("p%41.db", "p%41.db");
	REQUIRE(chdir(cwd) == 0);
	free(cwd);

	TEST("sqlite: paths are %-decoded");
	path = tpath(dir, "sp ace?.db");
	url = cat("sqlite:", dir, "/sp%20ace%3F.db");
	opens_file(url, path);
	free(url);
	free(path);
	refused3("sqlite:", dir, "/bad%zz.db", "escape", NULL);
	refused3("sqlite:", dir, "/nul%00.db", "escape", NULL);
	refused3("sqlite:", dir, "/short%4", "escape", NULL);

	TEST("sqlite: query: group=1 makes 0660 files, sync and busy_ms taken");
	path = tpath(dir, "g.db");
	url = cat("sqlite:", path, "?busy_ms=250&sync=full&group=1");
	opens_file(url, path);
	CHECK(mode_of(path) == 0660);
	free(url);
	url = cat("sqlite:", path, "?sync=normal&group=0&&busy_ms=0");
	CHECK_OK(try_open(url));
	free(url);
	free(path);

	TEST("sqlite: busy_ms is how long a write waits for the lock");
	path = tpath(dir, "busy.db");
	url = cat("sqlite:", path, "?busy_ms=300");
	CHECK_OK(try_open(url));
	ms = busy_wait_ms(url, path);
	CHECK(ms >= 250 && ms < 3000);
	free(url);
	url = cat("sqlite:", path, "?busy_ms=0");
	ms = busy_wait_ms(url, path);
	CHECK(ms < 200);
	free(url);
	free(path);

	TEST("sqlite: bad queries and URLs are refused, no file made");
	path = tpath(dir, "never.db");
	refused3("sqlite:", path, "?busy_ms=abc", "busy_ms", NULL);
	refused3("sqlite:", path, "?busy_ms=-1", "busy_ms", NULL);
	refused3("sqlite:", path, "?busy_ms=", "busy_ms", NULL);
	refused3("sqlite:", path, "?busy_ms=3600001", "busy_ms", NULL);
	refused3("sqlite:", path, "?busy_ms=99999999999999999999999",
	    "busy_ms", NULL);
	refused3("sqlite:", path, "?sync=maybe", "sync", NULL);
	refused3("sqlite:", path, "?group=2", "group", NULL);
	refused3("sqlite:", path, "?mode=ro",
	    "unknown parameter \"mode\"", NULL);
	refused3("sqlite:", path, "?password=hunter2",
	    "unknown parameter \"password\"", "hunter2");
	refused3("sqlite:", path, "?PASS%20WORD=hunter2",
	    "unknown parameter (known", "hunter2");
	CHECK(!exists(path));
	free(path);
	refused("sqlite://host/tmp/x.db", "local file", NULL);
	refused("sqlite://u:hunter2@host/tmp/x.db", "local file", "hunter2");
	refused("sqlite:", "no file path", NULL);
	refused("sqlite://", "no file path", NULL);
	refused("sqlite:?busy_ms=1", "no file path", NULL);

	TEST("a file that cannot be opened: the backend's error and reason");
	path = tpath(dir, "missing-dir/x.db");
	url = cat("sqlite:", path, "");
	CHECK_RC(try_open(url), CRUMB_E_CANTOPEN);
	CHECK(strstr(err, "missing-dir") != NULL);
	CHECK_RC(try_open(path), CRUMB_E_CANTOPEN);
	free(url);
	free(path);

	TEST("unknown schemes name what this crumb has");
	refused("memcached://:hunter2@localhost:11211/0",
	    "unknown store URL scheme \"memcached\": this crumb has " STORES,
	    "hunter2");
	refused("mysql://root:hunter2@db/app",
	    "unknown store URL scheme \"mysql\": this crumb has " STORES,
	    "hunter2");
	refused("file:/tmp/x.db", "\"file\"", NULL);
	refused("averyveryveryveryveryveryveryverylongscheme:x",
	    "\"averyveryveryveryveryveryveryver\"", NULL);

#ifndef CRUMB_HAVE_POSTGRES
	TEST("postgresql:// without PostgreSQL built in: a clear refusal");
	refused("postgresql://app:hunter2@db.example/sessions",
	    "\"postgresql\" is not built into this crumb", "hunter2");
	CHECK(strstr(err, "this crumb has " STORES) != NULL);
	refused("postgres://app:hunter%32@db/s", "\"postgresql\"", "hunter2");
	CHECK(strstr(err, "hunter%32") == NULL);
	refused("POSTGRESQL://db/s?password=hunter2", "\"postgresql\"",
	    "hunter2");
	refused("host=/run/postgresql dbname=app password=hunter2",
	    "\"postgresql\"", "hunter2");
	refused("dbname = app", "\"postgresql\"", NULL);
#else
	TEST("postgresql:// that cannot connect: no password in the error");
	CHECK(try_open("postgresql://app:hunter2@127.0.0.1:1/s?"
	    "connect_timeout=2") != CRUMB_OK);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(try_open("host=127.0.0.1 port=1 dbname=s password=hunter2 "
	    "connect_timeout=2") != CRUMB_OK);
	CHECK(strstr(err, "hunter2") == NULL);
#endif

#ifndef CRUMB_HAVE_REDIS
	TEST("redis:// without Redis built in: a clear refusal");
	refused("redis://:hunter2@localhost:6379/0",
	    "\"redis\" is not built into this crumb", "hunter2");
	CHECK(strstr(err, "this crumb has " STORES) != NULL);
	refused("redis+unix:///run/redis.sock?db=1", "\"redis\"", NULL);
#else
	TEST("redis:// that cannot connect or is malformed: no password shown");
	CHECK_RC(try_open("redis://app:hunter2@127.0.0.1:1/0"),
	    CRUMB_E_CANTOPEN);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(strstr(err, "redis") != NULL);
	CHECK_RC(try_open("redis://:hunter%32@127.0.0.1:1/0"),
	    CRUMB_E_CANTOPEN);
	CHECK(strstr(err, "hunter") == NULL);
	refused("redis://:hunter2@127.0.0.1:1/0?bogus=hunter2",
	    "unknown parameter \"bogus\"", "hunter2");
	refused("redis://:hunter2@127.0.0.1:99999/0", "port", "hunter2");
	refused("redis://:hunter2@127.0.0.1:1/zero", "database number",
	    "hunter2");
	refused("redis://127.0.0.1/0?timeout=0", "timeout", NULL);
	refused("redis+unix://host/sock", "no host", NULL);
	refused("redis+unix:///tmp/x.sock?db=x", "db must be", NULL);
	CHECK_RC(try_open("redis+unix:///nonexistent/crumb.sock?db=1"),
	    CRUMB_E_CANTOPEN);
	CHECK(strstr(err, "cannot connect") != NULL);
#endif

	TEST("a short errbuf is cut and NUL-terminated");
	memset(err, 'x', sizeof(err));
	CHECK_RC(crumb_store_open("mysql://x", &st, err, 8), CRUMB_E_INVAL);
	CHECK_STR(err, "unknown");

	tdir_remove(dir);
	return CHECK_DONE();
}
