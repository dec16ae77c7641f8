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

/* What logout_all and clear do to the current request's own session,
 * and which user names set_user takes. */
static void
run_own(crumb_store *store)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x82);
	char *p1, *h = NULL, name[CRUMB_USER_MAX + 2];
	crumb_session *s;
	const char *u, *v;
	uint64_t del = 0;

	TEST("set_user takes 1..CRUMB_USER_MAX bytes of UTF-8, no controls");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_set_user(s, ""), CRUMB_E_INVAL);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CHECK_RC(crumb_session_set_user(s, name), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_set_user(s, "a\nb"), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_set_user(s, "a\x7f"), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_set_user(s, "\xff\xfe"), CRUMB_E_INVAL);
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK(u == NULL);
	name[CRUMB_USER_MAX] = '\0';
	CHECK_OK(crumb_session_set_user(s, name));
	CHECK_OK(crumb_session_set_user(s, "J\xc3\xbcrgen"));
	crumb_session_free(s);

	TEST("clear keeps the user");
	p1 = tlogin(cfg, "erin", NULL);
	s = tbegin(cfg, p1);
	CHECK_OK(crumb_session_clear(s));
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK_STR(u, "erin");
	CHECK_OK(tend(s, "id", NULL, NULL));
	s = tbegin(cfg, p1);
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK_STR(u, "erin");
	CHECK_RC(crumb_state_get_string(crumb_session_server(s), "u", &v),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(p1);

	TEST("logout_all from the request's own session, state loaded");
	p1 = tlogin(cfg, "frank", NULL);
	s = tbegin(cfg, p1);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "u", &v));
	CHECK_OK(crumb_user_logout_all(cfg, "frank", &del));
	CHECK(del == 1);
	/* What was loaded stays readable ... */
	CHECK_STR(v, "frank");
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK_STR(u, "frank");
	/* ... a change finds the record gone at finish: the session ends. */
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_finish_str(s, &h));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_INVALIDATED);
	CHECK(tmax_age(h) == 0);
	crumb_free(h);
	h = NULL;
	crumb_session_free(s);
	CHECK(!talive(cfg, p1));
	free(p1);

	TEST("logout_all from the request's own session, state not loaded");
	p1 = tlogin(cfg, "grace", NULL);
	s = tbegin(cfg, p1);
	CHECK_OK(crumb_user_logout_all(cfg, "grace", &del));
	CHECK(del == 1);
	CHECK_OK(crumb_session_get_user(s, &u));
	CHECK(u == NULL);
	CHECK_RC(crumb_state_get_string(crumb_session_server(s), "u", &v),
	    CRUMB_E_NOT_FOUND);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(!talive(cfg, p1));

	TEST("logout_all and invalidate sign the current request out too");
	free(p1);
	p1 = tlogin(cfg, "heidi", NULL);
	s = tbegin(cfg, p1);
	CHECK_OK(crumb_user_logout_all(cfg, "heidi", &del));
	CHECK_OK(crumb_session_invalidate(s));
	CHECK_OK(crumb_session_finish_str(s, &h));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_INVALIDATED);
	CHECK(tcount_set_cookie(h) == 1);
	crumb_free(h);
	crumb_session_free(s);
	CHECK(!talive(cfg, p1));
	free(p1);
	crumb_config_free(cfg);
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
	run_own(store);
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
