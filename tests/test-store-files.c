/*
 * The SQLite store's files on disk: under umask 022 the database, its
 * -wal, -shm and -gate files are 0600 (0660 with CRUMB_SQLITE_GROUP);
 * an existing database that other users can read opens with a warning
 * on stderr; and, as root, a file planted at PATH-gate (a hard link,
 * another user's file, a FIFO) is left alone while the store works.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"

#define OTHER_UID 65534   /* nobody: the database's owner below */
#define STRANGER_UID 12345

static struct tclock clk = { T_START };

static char *
suffixed(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	REQUIRE(p != NULL);
	snprintf(p, n, "%s%s", path, suffix);
	return p;
}

/* Permission bits of path, or -1 when it is missing. */
static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void
make_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	REQUIRE(fchmod(fd, mode) == 0);
	REQUIRE(close(fd) == 0);
}

/* One write and its read back through store: CRUMB_OK when both work. */
static int
round_trip(crumb_store *store)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x53);
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;
	int rc;

	rc = crumb_state_insert_number(crumb_session_server(s), "n", 7);
	if (tend(s, "id", NULL, &pair) != CRUMB_OK || rc != CRUMB_OK)
		rc = CRUMB_E_STORE;
	else if (pair == NULL || tread_number(cfg, pair, "n") != 7)
		rc = CRUMB_E_NOT_FOUND;
	free(pair);
	crumb_config_free(cfg);
	return rc;
}

/* Open path with flags, write a session, and check the mode of the
 * database and of each file beside it while the store is open. */
static void
check_modes(const char *path, unsigned flags, int want)
{
	static const char *const beside[] = { "", "-wal", "-shm", "-gate" };
	crumb_store *store = NULL;
	char why[256] = "";
	size_t i;

	CHECK_OK(crumb_store_sqlite_open_v3(path, 1000, flags, &store, why,
	    sizeof(why)));
	REQUIRE(store != NULL);
	CHECK_OK(round_trip(store));
	for (i = 0; i < sizeof(beside) / sizeof(beside[0]); i++) {
		char *p = suffixed(path, beside[i]);
		int got = mode_of(p);

		if (got != want)
			fprintf(stderr, "%s: mode %04o, want %04o\n", p, got,
			    want);
		CHECK(got == want);
		free(p);
	}
	crumb_store_free(store);
}

/* Open path with the process's stderr sent to errpath; the text written
 * there, new (free()). */
static char *
open_capturing(const char *path, const char *errpath, int *rc)
{
	crumb_store *store = NULL;
	char *text;
	long n;
	FILE *f;
	int saved = dup(2), fd;

	REQUIRE(saved >= 0);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	fflush(stderr);
	REQUIRE(dup2(fd, 2) == 2);
	close(fd);
	*rc = crumb_store_sqlite_open(path, &store);
	fflush(stderr);
	REQUIRE(dup2(saved, 2) == 2);
	close(saved);
	if (*rc == CRUMB_OK)
		*rc = round_trip(store);
	crumb_store_free(store);
	REQUIRE((f = fopen(errpath, "r")) != NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	REQUIRE(n >= 0 && (text = calloc(1, (size_t)n + 1)) != NULL);
	REQUIRE(fread(text, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	return text;
}

static void
test_modes(const char *dir)
{
	char *a = tpath(dir, "a.db"), *g = tpath(dir, "g.db");
	crumb_store *store = NULL;

	TEST("umask 022: database, -wal, -shm and -gate are 0600");
	check_modes(a, 0, 0600);
	TEST("umask 022, CRUMB_SQLITE_GROUP: all 0660");
	check_modes(g, CRUMB_SQLITE_GROUP, 0660);
	TEST("an existing database keeps its mode");
	check_modes(g, 0, 0660);
	TEST("v3: unknown flags are CRUMB_E_INVAL");
	CHECK_RC(crumb_store_sqlite_open_v3(a, 1000, 0x4, &store, NULL, 0),
	    CRUMB_E_INVAL);
	CHECK(store == NULL);
	free(a);
	free(g);
}

/* Open an existing database file of that mode: the store works, the
 * mode stays, and stderr gets the warning naming how others may use it
 * ("readable", "writable"), or nothing when how is NULL. */
static void
check_warning(const char *dir, const char *name, mode_t mode, const char *how)
{
	char *p = tpath(dir, name), *err = tpath(dir, "stderr");
	char *text, want[512] = "";
	int rc;

	make_file(p, "", mode);
	text = open_capturing(p, err, &rc);
	CHECK_OK(rc);
	if (how != NULL)
		snprintf(want, sizeof(want), "crumb: warning: %s is %s by "
		    "other users (mode %04o); chmod 600 it\n", p, how,
		    (unsigned)mode);
	CHECK_STR(text, want);
	CHECK(mode_of(p) == (int)mode);
	free(text);
	free(p);
	free(err);
}

static void
test_warning(const char *dir)
{
	TEST("an existing 0644 database opens with a warning");
	check_warning(dir, "open.db", 0644, "readable");
	TEST("... and a 0602 one: writable");
	check_warning(dir, "w.db", 0602, "writable");
	TEST("an existing 0640 database: no warning");
	check_warning(dir, "private.db", 0640, NULL);
}

/* A database file owned by OTHER_UID, as a root cron job finds it. */
static char *
others_db(const char *dir, const char *name)
{
	char *p = tpath(dir, name);

	make_file(p, "", 0600);
	REQUIRE(chown(p, OTHER_UID, OTHER_UID) == 0);
	return p;
}

static void
test_gate_as_root(const char *dir)
{
	char *victim = tpath(dir, "victim"), *db, *gate;
	crumb_store *store = NULL;
	struct stat st;
	char buf[64];
	FILE *f;

	TEST("root: a new gate of another's database is theirs, 0600");
	db = others_db(dir, "fresh.db");
	gate = suffixed(db, "-gate");
	CHECK_OK(crumb_store_sqlite_open(db, &store));
	CHECK_OK(round_trip(store));
	crumb_store_free(store);
	CHECK(stat(gate, &st) == 0 && st.st_uid == OTHER_UID &&
	    (st.st_mode & 07777) == 0600);
	free(db);
	free(gate);

	TEST("root: a hard link planted at PATH-gate is left alone");
	make_file(victim, "secret\n", 0640);
	db = others_db(dir, "linked.db");
	gate = suffixed(db, "-gate");
	REQUIRE(link(victim, gate) == 0);
	store = NULL;
	CHECK_OK(crumb_store_sqlite_open(db, &store));
	CHECK_OK(round_trip(store));
	crumb_store_free(store);
	CHECK(stat(victim, &st) == 0 && st.st_uid == 0 && st.st_gid == 0 &&
	    (st.st_mode & 07777) == 0640 && st.st_size == 7);
	REQUIRE((f = fopen(victim, "r")) != NULL);
	CHECK(fgets(buf, sizeof(buf), f) != NULL && strcmp(buf, "secret\n") == 0);
	fclose(f);
	free(db);
	free(gate);

	TEST("root: a gate owned by a third user is left alone");
	db = others_db(dir, "stranger.db");
	gate = suffixed(db, "-gate");
	make_file(gate, "", 0600);
	REQUIRE(chown(gate, STRANGER_UID, STRANGER_UID) == 0);
	store = NULL;
	CHECK_OK(crumb_store_sqlite_open(db, &store));
	CHECK_OK(round_trip(store));
	crumb_store_free(store);
	CHECK(stat(gate, &st) == 0 && st.st_uid == STRANGER_UID &&
	    st.st_size == 0);
	free(db);
	free(gate);

	TEST("root: a FIFO at PATH-gate neither hangs nor is used");
	db = others_db(dir, "fifo.db");
	gate = suffixed(db, "-gate");
	REQUIRE(mkfifo(gate, 0600) == 0);
	store = NULL;
	CHECK_OK(crumb_store_sqlite_open(db, &store));
	CHECK_OK(round_trip(store));
	crumb_store_free(store);
	CHECK(lstat(gate, &st) == 0 && S_ISFIFO(st.st_mode));
	free(db);
	free(gate);
	free(victim);
}

int
main(void)
{
	char *dir = tdir_new();

	umask(022);
	test_modes(dir);
	test_warning(dir);
	if (geteuid() == 0)
		test_gate_as_root(dir);
	else
		printf("-- not root: the planted gate files are not tried\n");
	tdir_remove(dir);
	return CHECK_DONE();
}
