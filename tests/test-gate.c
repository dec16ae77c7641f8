/*
 * The SQLite store's writers' gate (lib/gate.c), across real processes:
 * its file beside the database, a writer that waits its turn and gives
 * up after the busy timeout, a holder killed inside (SIGKILL), and
 * writers of several processes that all get their turn.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static char *db;
static const char *self;     /* argv[0]: children run as fresh programs */

static double
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static crumb_config *
open_cfg(int busy_ms, crumb_store **store)
{
	char why[256];

	REQUIRE(crumb_store_sqlite_open_v2(db, busy_ms, 0, store, why,
	    sizeof(why)) == CRUMB_OK);
	return tcfg_new(*store, &clk, 0x47);
}

static int
incr(crumb_session *s, void *ud)
{
	crumb_state *st = crumb_session_server(s);
	double d = 0;

	(void)ud;
	if (crumb_state_get_number(st, "n", &d) == CRUMB_E_TYPE)
		return CRUMB_E_TYPE;
	return crumb_state_insert_number(st, "n", d + 1);
}

/* Inside the locked transaction: tell the parent, then wait to die. */
static int
incr_and_hang(crumb_session *s, void *ud)
{
	int fd = *(int *)ud;

	incr(s, NULL);
	if (write(fd, "x", 1) != 1)
		_exit(3);
	for (;;)
		pause();
	return CRUMB_OK;
}

/* The children are this program run again (exec, not just fork), so
 * that they share nothing with the parent's SQLite connection and under
 * valgrind leave no reports of the parent's memory.
 *   test-gate hold DB PAIR FD    increment inside the gate, hang there
 *   test-gate incr DB PAIR N     N atomic increments; exit 0 if all ok */
static int
child(char **argv)
{
	crumb_store *store;
	crumb_config *cfg;
	int i, n, bad = 0;

	db = argv[2];
	if (strcmp(argv[1], "hold") == 0) {
		int fd = atoi(argv[4]);
		crumb_session *s;

		cfg = open_cfg(5000, &store);
		s = tbegin(cfg, argv[3]);
		crumb_session_atomic(s, incr_and_hang, &fd);
		return 2;       /* not reached */
	}
	cfg = open_cfg(10000, &store);
	n = atoi(argv[4]);
	for (i = 0; i < n; i++) {
		crumb_session *s = tbegin(cfg, argv[3]);

		if (crumb_session_atomic(s, incr, NULL) != CRUMB_OK ||
		    tend(s, "id", NULL, NULL) != CRUMB_OK)
			bad++;
	}
	crumb_config_free(cfg);
	crumb_store_free(store);
	return bad == 0 ? 0 : 1;
}

static pid_t
spawn(const char *mode, const char *pair, const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(self, self, mode, db, pair, arg, (char *)NULL);
		_exit(127);
	}
	REQUIRE(pid > 0);
	return pid;
}

/* A child that holds the gate (inside crumb_session_atomic) until
 * killed; returns once it is inside. */
static pid_t
holder(const char *pair)
{
	int p[2];
	char c, fd[16];
	pid_t pid;

	REQUIRE(pipe(p) == 0);
	snprintf(fd, sizeof(fd), "%d", p[1]);
	pid = spawn("hold", pair, fd);
	close(p[1]);
	REQUIRE(read(p[0], &c, 1) == 1);
	close(p[0]);
	return pid;
}

static void
test_file(const char *dir)
{
	struct stat d, g;
	char *gate = tpath(dir, "sessions.db-gate");

	TEST("the gate is a file beside the database, with its mode");
	CHECK(stat(db, &d) == 0);
	CHECK(stat(gate, &g) == 0);
	CHECK((g.st_mode & 0777) == (d.st_mode & 0666));
	CHECK(g.st_uid == d.st_uid);
	free(gate);
}

static void
test_wait_and_death(crumb_config *cfg, const char *pair)
{
	struct timespec t0;
	crumb_session *s;
	pid_t pid;
	int st;

	TEST("a writer waits for the one inside, then gives up (busy timeout)");
	pid = holder(pair);
	s = tbegin(cfg, pair);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_RC(crumb_session_atomic(s, incr, NULL), CRUMB_E_BUSY);
	CHECK(ms_since(&t0) >= 140);      /* busy_ms 150, less a tick */
	CHECK(ms_since(&t0) < 2000);
	CHECK(strstr(crumb_session_errmsg(s), "other writers") != NULL);
	crumb_session_free(s);

	TEST("a holder killed inside: the next writer goes in at once");
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st));
	s = tbegin(cfg, pair);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* OK, not CRUMB_E_BUSY: a dead holder never leaves, so only the
	 * robust mutex's EOWNERDEAD lets it in before the 150 ms timeout.
	 * No tighter bound on the time: a loaded machine is not a failure. */
	CHECK_OK(crumb_session_atomic(s, incr, NULL));
	CHECK(ms_since(&t0) < 2000);
	CHECK_OK(tend(s, "id", NULL, NULL));
	/* The dead one's increment was never committed: 1, not 2. */
	CHECK(tread_number(cfg, pair, "n") == 1);

	TEST("and the gate works as before after that (not SQLite's lock)");
	pid = holder(pair);
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_session_atomic(s, incr, NULL), CRUMB_E_BUSY);
	CHECK(strstr(crumb_session_errmsg(s), "other writers") != NULL);
	crumb_session_free(s);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	CHECK(tread_number(cfg, pair, "n") == 1);
}

static void
test_processes(crumb_config *cfg, const char *pair)
{
	enum { PROCS = 4, EACH = 150 };
	pid_t pids[PROCS];
	int i, st, ok = 0;
	double before = tread_number(cfg, pair, "n");

	TEST("four processes, 150 atomic increments each: all counted");
	char each[16];

	snprintf(each, sizeof(each), "%d", EACH);
	for (i = 0; i < PROCS; i++)
		pids[i] = spawn("incr", pair, each);
	for (i = 0; i < PROCS; i++)
		if (waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0)
			ok++;
	CHECK(ok == PROCS);
	CHECK(tread_number(cfg, pair, "n") == before + PROCS * EACH);
}

int
main(int argc, char **argv)
{
	crumb_store *store;
	crumb_config *cfg;
	crumb_session *s;
	char *dir, *pair = NULL;

	if (argc == 5)
		return child(argv);
	self = argv[0];
	dir = tdir_new();
	db = tpath(dir, "sessions.db");
	cfg = open_cfg(150, &store);
	s = tbegin(cfg, NULL);
	REQUIRE(crumb_state_insert_number(crumb_session_server(s), "n", 0) ==
	    CRUMB_OK);
	REQUIRE(tend(s, "id", NULL, &pair) == CRUMB_OK && pair != NULL);

	test_file(dir);
	test_wait_and_death(cfg, pair);
	test_processes(cfg, pair);

	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
	free(db);
	tdir_remove(dir);
	return CHECK_DONE();
}
