/* Sessions of a user: crumb_session_set_user / get_user,
 * crumb_user_sessions and crumb_user_logout_all, on the memory store, the
 * SQLite store and a custom store. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

struct list {
	int n;
	int64_t created[8], last_seen[8];
	char hash[8][2 * CRUMB_HASH_LEN + 1];
	int stop_after;
};

static int
list_fn(const crumb_session_info *info, void *ud)
{
	struct list *l = ud;

	if (l->n < 8) {
		l->created[l->n] = info->created;
		l->last_seen[l->n] = info->last_seen;
		memcpy(l->hash[l->n], info->id_hash, sizeof(l->hash[0]));
	}
	l->n++;
	return l->stop_after && l->n >= l->stop_after ? 1 : 0;
}

static int
hexhash(const char *h)
{
	size_t i;

	if (strlen(h) != 2 * CRUMB_HASH_LEN)
		return 0;
	for (i = 0; h[i]; i++)
		if (!isxdigit((unsigned char)h[i]))
			return 0;
	return 1;
}

static void
run(crumb_store *store, const char *label)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x81);
	char *a1, *a2, *b1, *anon;
	struct list l;
	crumb_session *s;
	const char *u;
	uint64_t del = 99;

	printf("-- [%s]\n", label);
	clk.now = T_START;
	TEST("set_user / get_user");
	a1 = tlogin(cfg, "alice", NULL);
	clk.now = T_START + 10;
	a2 = tlogin(cfg, "alice", NULL);
	b1 = tlogin(cfg, "bob", NULL);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "u", "-"));
	anon = NULL;
	CHECK_OK(tend(s, "id", NULL, &anon));
	REQUIRE(anon != NULL);

	s = tbegin(cfg, a1);
	u = NULL;
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK_STR(u, "alice");
	crumb_session_free(s);
	s = tbegin(cfg, anon);
	u = "x";
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK(u == NULL);
	crumb_session_free(s);
	s = tbegin(cfg, NULL);
	u = "x";
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK(u == NULL);
	CHECK_RC(crumb_session_get_user(s, NULL), CRUMB_E_INVAL);
	crumb_session_free(s);

	TEST("user_sessions lists created / last_seen");
	clk.now = T_START + 20;
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "alice", list_fn, &l));
	CHECK(l.n == 2);
	if (l.n == 2) {
		CHECK(hexhash(l.hash[0]) && hexhash(l.hash[1]));
		CHECK(strcmp(l.hash[0], l.hash[1]) != 0);
		CHECK((l.created[0] == T_START && l.created[1] == T_START + 10)
		    || (l.created[1] == T_START &&
		    l.created[0] == T_START + 10));
		CHECK(l.last_seen[0] >= l.created[0]);
		CHECK(l.last_seen[1] >= l.created[1]);
	}
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	CHECK_OK(crumb_user_sessions(cfg, "alice", list_fn, &l));
	CHECK(l.n == 1);
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "bob", list_fn, &l));
	CHECK(l.n == 1);
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "nobody", list_fn, &l));
	CHECK(l.n == 0);
	CHECK_RC(crumb_user_sessions(cfg, NULL, list_fn, &l), CRUMB_E_INVAL);
	CHECK_RC(crumb_user_sessions(cfg, "alice", NULL, &l), CRUMB_E_INVAL);

	TEST("last_seen moves with a write");
	clk.now = T_START + 30;
	s = tbegin(cfg, a1);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "k", 1));
	CHECK_OK(tend(s, "id", NULL, NULL));
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "alice", list_fn, &l));
	CHECK(l.n == 2);
	CHECK((l.n == 2) && (l.last_seen[0] == T_START + 30 ||
	    l.last_seen[1] == T_START + 30));

	TEST("logout_all deletes that user's sessions only");
	CHECK_OK(crumb_user_logout_all(cfg, "alice", &del));
	CHECK(del == 2);
	CHECK(!talive(cfg, a1));
	CHECK(!talive(cfg, a2));
	CHECK(talive(cfg, b1));
	CHECK(talive(cfg, anon));
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "alice", list_fn, &l));
	CHECK(l.n == 0);
	CHECK_OK(crumb_user_logout_all(cfg, "alice", NULL));
	del = 99;
	CHECK_OK(crumb_user_logout_all(cfg, "nobody", &del));
	CHECK(del == 0);
	CHECK_RC(crumb_user_logout_all(cfg, NULL, &del), CRUMB_E_INVAL);

	TEST("set_user(NULL) unties");
	s = tbegin(cfg, b1);
	CHECK_OK(crumb_session_set_user(s, NULL));
	CHECK_OK(tend(s, "id", NULL, NULL));
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "bob", list_fn, &l));
	CHECK(l.n == 0);
	del = 99;
	CHECK_OK(crumb_user_logout_all(cfg, "bob", &del));
	CHECK(del == 0);
	CHECK(talive(cfg, b1));

	TEST("user survives cycle_id; expired sessions are not listed");
	free(a1);
	clk.now = T_START + 40;
	a1 = tlogin(cfg, "carol", NULL);
	s = tbegin(cfg, a1);
	CHECK_OK(crumb_session_cycle_id(s));
	free(a2);
	a2 = NULL;
	CHECK_OK(tend(s, "id", NULL, &a2));
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "carol", list_fn, &l));
	CHECK(l.n == 1);
	if (a2 != NULL) {
		s = tbegin(cfg, a2);
		u = NULL;
		CHECK_OK(crumb_session_get_user(s, &u));
		CHECK_STR(u, "carol");
		crumb_session_free(s);
	}
	clk.now = T_START + 40 + 86400;
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(cfg, "carol", list_fn, &l));
	CHECK(l.n == 0);

	free(a1);
	free(a2);
	free(b1);
	free(anon);
	crumb_config_free(cfg);
	clk.now = T_START;
}

int
main(void)
{
	crumb_store *store = NULL;
	char *dir, *path;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	run(store, "memory store");
	crumb_store_free(store);

	dir = tdir_new();
	path = tpath(dir, "users.db");
	store = NULL;
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	run(store, "SQLite store");
	crumb_store_free(store);
	free(path);
	tdir_remove(dir);

	(void)tmap_store_new(&store);
	run(store, "custom store");
	crumb_store_free(store);
	return CHECK_DONE();
}
