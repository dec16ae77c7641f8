/* Borrowed values stay valid across reloads: the user, the CSRF token and
 * server and client values, borrowed before crumb_session_atomic on
 * another key, a save that replays over another request's write, a
 * client insert of another key, crumb_session_delete, and a user set by
 * another request.  Memory store and SQLite (a real file).  After each
 * step the heap is scribbled over, so that a value read from freed
 * memory shows without a sanitizer too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

/* Reuse freed blocks of the sizes a value, a cJSON node or a user
 * takes, and fill them. */
static void
scribble(void)
{
	void *p[96];
	size_t i;

	for (i = 0; i < 96; i++)
		if ((p[i] = malloc(8 + i * 4)) != NULL)
			memset(p[i], 'X', 8 + i * 4);
	for (i = 0; i < 96; i++)
		free(p[i]);
}

struct borrowed {
	const char *user, *token, *a, *c;
	const cJSON *obj;
	char token_copy[128];
};

/* Borrow everything a handler usually holds on to. */
static void
borrow(crumb_session *s, struct borrowed *b)
{
	crumb_state *sv = crumb_session_server(s);

	CHECK_OK(crumb_session_get_user(s, &b->user));
	CHECK_OK(crumb_session_csrf_token(s, &b->token));
	if (b->token != NULL)
		snprintf(b->token_copy, sizeof(b->token_copy), "%s", b->token);
	CHECK_OK(crumb_state_get_string(sv, "a", &b->a));
	CHECK_OK(crumb_state_get(sv, "obj", &b->obj));
	CHECK_OK(crumb_state_get_string(crumb_session_client(s), "c", &b->c));
}

static void
still_valid(const struct borrowed *b)
{
	scribble();
	CHECK_STR(b->user, "alice-the-user");
	CHECK_STR(b->token, b->token_copy);
	CHECK_STR(b->a, "alpha value, long enough to be its own block");
	CHECK(b->obj != NULL && cJSON_IsObject(b->obj));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(b->obj, "k")),
	    "nested value");
	CHECK_STR(b->c, "client value, long enough too");
}

/* A stored session with a user, "a", "obj" and client "c"; returns its
 * cookie pair (new). */
static char *
make_session(crumb_config *cfg)
{
	crumb_session *s = tbegin(cfg, NULL);
	crumb_state *sv = crumb_session_server(s);
	char *pair = NULL;

	CHECK_OK(crumb_session_set_user(s, "alice-the-user"));
	CHECK_OK(crumb_state_insert_string(sv, "a",
	    "alpha value, long enough to be its own block"));
	CHECK_OK(crumb_state_insert_json(sv, "obj", "{\"k\":\"nested value\"}"));
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c",
	    "client value, long enough too"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

static int
set_b(crumb_session *s, void *ud)
{
	double n = 0;

	(void)ud;
	crumb_state_get_number(crumb_session_server(s), "b", &n);
	return crumb_state_insert_number(crumb_session_server(s), "b", n + 1);
}

static int
abort_fn(crumb_session *s, void *ud)
{
	(void)ud;
	crumb_state_insert_number(crumb_session_server(s), "b", -1);
	return 42;
}

/* Another request of the same visitor writes key (or, with key NULL,
 * sets another user). */
static void
other_writes(crumb_config *cfg, const char *pair, const char *key)
{
	crumb_session *o = tbegin(cfg, pair);

	if (key != NULL)
		CHECK_OK(crumb_state_insert_number(crumb_session_server(o), key,
		    7));
	else
		CHECK_OK(crumb_session_set_user(o, "bob"));
	CHECK_OK(tend(o, "id", NULL, NULL));
}

static void
run(const char *what, crumb_store *store)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x5B);
	struct borrowed b;
	crumb_session *s;
	char *pair = make_session(cfg);

	printf("== %s\n", what);
	TEST("atomic on another key");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	CHECK_OK(crumb_session_atomic(s, set_b, NULL));
	still_valid(&b);
	CHECK_OK(crumb_session_atomic(s, set_b, NULL));
	still_valid(&b);
	CHECK_OK(tend(s, "id", NULL, NULL));

	TEST("atomic after another request wrote");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	other_writes(cfg, pair, "x");
	CHECK_OK(crumb_session_atomic(s, set_b, NULL));
	still_valid(&b);
	crumb_session_free(s);

	TEST("atomic whose fn aborts");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	CHECK_RC(crumb_session_atomic(s, abort_fn, NULL), 42);
	still_valid(&b);
	crumb_session_free(s);

	TEST("save after another request wrote (replay)");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	other_writes(cfg, pair, "y");
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "b", 1));
	CHECK_OK(crumb_session_save(s));
	still_valid(&b);
	CHECK_OK(tend(s, "id", NULL, NULL));

	TEST("finish after another request wrote (replay)");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	other_writes(cfg, pair, "y");
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "b", 2));
	{
		char *h = NULL;

		CHECK_OK(crumb_session_finish_str(s, &h));
		crumb_free(h);
	}
	still_valid(&b);
	crumb_session_free(s);

	TEST("client insert of another key");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "d", "dd"));
	still_valid(&b);
	CHECK_OK(crumb_state_remove_raw(crumb_session_client(s), "d"));
	still_valid(&b);
	crumb_session_free(s);

	TEST("delete");
	s = tbegin(cfg, pair);
	borrow(s, &b);
	CHECK_OK(crumb_session_delete(s));
	still_valid(&b);
	crumb_session_free(s);

	TEST("atomic after another request set another user");
	free(pair);
	pair = make_session(cfg);
	s = tbegin(cfg, pair);
	borrow(s, &b);
	other_writes(cfg, pair, NULL);
	CHECK_OK(crumb_session_atomic(s, set_b, NULL));
	still_valid(&b);
	{
		const char *u;

		CHECK_OK(crumb_session_get_user(s, &u));
		CHECK_STR(u, "bob");
	}
	crumb_session_free(s);

	free(pair);
	crumb_config_free(cfg);
}

int
main(void)
{
	crumb_store *store;
	char *dir = tdir_new(), *path = tpath(dir, "borrow.db");

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	run("memory store", store);
	crumb_store_free(store);
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	run("SQLite store", store);
	crumb_store_free(store);
	free(path);
	tdir_remove(dir);
	return CHECK_DONE();
}
