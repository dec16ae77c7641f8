/* Server-side state operations: insert/get (typed), insert_json, remove,
 * remove_raw, clear, delete, invalidate, cycle_id, foreach, len,
 * is_modified, status, and equal-value inserts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static crumb_store *store;
static struct tmap *map;
static crumb_config *cfg;

/* A stored session with n=1, s="str", b=true, o={"a":[1,2]}. */
static char *
seed(void)
{
	crumb_session *s = tbegin(cfg, NULL);
	crumb_state *st = crumb_session_server(s);
	char *pair = NULL;

	CHECK_OK(crumb_state_insert_number(st, "n", 1));
	CHECK_OK(crumb_state_insert_string(st, "s", "str"));
	CHECK_OK(crumb_state_insert_bool(st, "b", 1));
	CHECK_OK(crumb_state_insert_json(st, "o", "{\"a\":[1,2]}"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

static void
test_insert_get(void)
{
	crumb_session *s = tbegin(cfg, NULL);
	crumb_state *st = crumb_session_server(s);
	const cJSON *j = NULL;
	const char *str = NULL;
	double d = 0;
	int b = -1;
	size_t n = 99;

	TEST("insert / get, typed");
	REQUIRE(st != NULL);
	CHECK(crumb_session_client(s) != st);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 0);
	CHECK(!crumb_session_is_modified(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_UNCHANGED);

	CHECK_OK(crumb_state_insert_string(st, "s", "h\xc3\xa9llo"));
	CHECK_OK(crumb_state_insert_number(st, "n", 2.5));
	CHECK_OK(crumb_state_insert_bool(st, "t", 1));
	CHECK_OK(crumb_state_insert_bool(st, "f", 0));
	CHECK_OK(crumb_state_insert(st, "arr", cJSON_Parse("[1,\"x\"]")));
	CHECK(crumb_session_is_modified(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_CHANGED);

	CHECK_OK(crumb_state_get_string(st, "s", &str));
	CHECK_STR(str, "h\xc3\xa9llo");
	CHECK_OK(crumb_state_get_number(st, "n", &d));
	CHECK(d == 2.5);
	CHECK_OK(crumb_state_get_bool(st, "t", &b));
	CHECK(b == 1);
	CHECK_OK(crumb_state_get_bool(st, "f", &b));
	CHECK(b == 0);
	CHECK_OK(crumb_state_get(st, "arr", &j));
	CHECK(j != NULL && cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
	CHECK_OK(crumb_state_get(st, "n", &j));
	CHECK(j != NULL && cJSON_IsNumber(j) && j->valuedouble == 2.5);

	TEST("wrong type and missing key");
	CHECK_RC(crumb_state_get_number(st, "s", &d), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get_string(st, "n", &str), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get_bool(st, "n", &b), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get_string(st, "t", &str), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get_number(st, "arr", &d), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get(st, "nope", &j), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_get_string(st, "nope", &str), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_get_number(st, "nope", &d), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_get_bool(st, "nope", &b), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_get(st, "", &j), CRUMB_E_NOT_FOUND);

	TEST("overwrite");
	CHECK_OK(crumb_state_insert_number(st, "s", 7));
	CHECK_OK(crumb_state_get_number(st, "s", &d));
	CHECK(d == 7);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 5);

	TEST("bad arguments (value taken over even on error)");
	CHECK_RC(crumb_state_insert(st, NULL, cJSON_CreateNumber(1)),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_state_insert(st, "k", NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_insert(NULL, "k", cJSON_CreateString("x")),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_state_insert_string(st, "k", NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_insert_string(st, NULL, "v"), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_get(st, NULL, &j), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_len(NULL, &n), CRUMB_E_INVAL);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 5);

	TEST("insert_json");
	CHECK_OK(crumb_state_insert_json(st, "j", "{\"x\": [true, null]}"));
	CHECK_OK(crumb_state_get(st, "j", &j));
	CHECK(j != NULL && cJSON_IsObject(j));
	CHECK_OK(crumb_state_insert_json(st, "j2", "  17 "));
	CHECK_OK(crumb_state_get_number(st, "j2", &d));
	CHECK(d == 17);
	CHECK(crumb_state_insert_json(st, "bad", "{\"x\":") != CRUMB_OK);
	CHECK(crumb_state_insert_json(st, "bad", "") != CRUMB_OK);
	CHECK(crumb_state_insert_json(st, "bad", "[1] trailing") != CRUMB_OK);
	CHECK(crumb_state_insert_json(st, "bad", "nul") != CRUMB_OK);
	CHECK(crumb_state_insert_json(st, "bad", NULL) != CRUMB_OK);
	CHECK_RC(crumb_state_get(st, "bad", &j), CRUMB_E_NOT_FOUND);
	/* A failed insert_json leaves an existing value alone. */
	CHECK(crumb_state_insert_json(st, "j2", "{") != CRUMB_OK);
	CHECK_OK(crumb_state_get_number(st, "j2", &d));
	CHECK(d == 17);
	crumb_session_free(s);
}

static void
test_persist_and_remove(void)
{
	char *pair = seed();
	crumb_session *s;
	crumb_state *st;
	cJSON *v = NULL;
	const cJSON *j;
	const char *str;
	size_t n = 0;
	double d;

	TEST("persisted across requests");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK(!crumb_session_is_new(s));
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 4);
	CHECK_OK(crumb_state_get_string(st, "s", &str));
	CHECK_STR(str, "str");
	CHECK_OK(crumb_state_get(st, "o", &j));
	CHECK(j != NULL && cJSON_IsArray(cJSON_GetObjectItem(j, "a")));

	TEST("remove hands back the value");
	CHECK_OK(crumb_state_remove(st, "n", &v));
	CHECK(v != NULL && cJSON_IsNumber(v) && v->valuedouble == 1);
	cJSON_Delete(v);
	CHECK_RC(crumb_state_remove(st, "n", &v), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_remove(st, "s", NULL));
	CHECK_OK(crumb_state_remove_raw(st, "b"));
	CHECK_RC(crumb_state_remove_raw(st, "b"), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 1);
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(tend(s, "id", NULL, NULL));

	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_RC(crumb_state_get_number(st, "n", &d), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_state_get(st, "b", &j), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_get(st, "o", &j));
	TEST("removing a missing key is not a change");
	CHECK_RC(crumb_state_remove_raw(st, "zz"), CRUMB_E_NOT_FOUND);
	CHECK(!crumb_session_is_modified(s));
	crumb_session_free(s);
	free(pair);
}

/* A cookie whose record is gone (invalidated, deleted) loads an empty
 * state, and a write through it gets a new ID: the old one is never
 * adopted. */
static void
stale_not_adopted(const char *pair)
{
	crumb_session *s = tbegin(cfg, pair);
	char *pair2 = NULL;
	double d;

	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "m", 1));
	CHECK_OK(tend(s, "id", NULL, &pair2));
	CHECK(pair2 != NULL && strcmp(pair2, pair) != 0);
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "m", &d),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	if (pair2 != NULL) {
		s = tbegin(cfg, pair2);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "m",
		    &d));
		crumb_session_free(s);
	}
	free(pair2);
}

static void
test_clear_delete(void)
{
	char *pair = seed(), *h = NULL, *line;
	crumb_session *s;
	crumb_state *st;
	size_t n = 9;
	double d;

	TEST("crumb_state_clear keeps the record");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_clear(st));
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 0);
	CHECK(crumb_session_is_modified(s));
	tmap_reset(map);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->remove == 0);
	CHECK(tmap_counts(map)->update == 1);
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 0);
	CHECK(!crumb_session_is_new(s));
	crumb_session_free(s);
	free(pair);

	TEST("crumb_session_clear keeps the record");
	pair = seed();
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_clear(s));
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_len(st, &n));
	CHECK(n == 0);
	tmap_reset(map);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->remove == 0);
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_insert_number(st, "again", 1));
	CHECK_OK(tend(s, "id", NULL, NULL));
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "again", &d));
	CHECK(!crumb_session_is_new(s));
	crumb_session_free(s);
	free(pair);

	TEST("crumb_session_delete removes the record, keeps the cookie");
	pair = seed();
	s = tbegin(cfg, pair);
	tmap_reset(map);
	CHECK_OK(crumb_session_delete(s));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_counts(map)->remove == 1);
	CHECK(h != NULL);
	line = h ? tcookie_line(h, "id") : NULL;
	/* No expiring cookie: the cookie stays. */
	if (line != NULL) {
		char v[32];

		CHECK(!(tcookie_attr(line, "Max-Age", v, sizeof(v)) &&
		    strcmp(v, "0") == 0));
	}
	free(line);
	free(h);
	stale_not_adopted(pair);
	free(pair);

	TEST("delete then insert: a new record under a new ID");
	pair = seed();
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_delete(s));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "k", 5));
	{
		char *pair2 = NULL;

		CHECK_OK(tend(s, "id", NULL, &pair2));
		CHECK(pair2 != NULL && strcmp(pair2, pair) != 0);
		if (pair2 != NULL) {
			s = tbegin(cfg, pair2);
			st = crumb_session_server(s);
			CHECK_OK(crumb_state_get_number(st, "k", &d));
			CHECK(d == 5);
			CHECK_RC(crumb_state_get_number(st, "n", &d),
			    CRUMB_E_NOT_FOUND);
			crumb_session_free(s);
		}
		free(pair2);
	}
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "k", &d),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(pair);
}

static void
test_invalidate(void)
{
	char *pair = seed(), *h = NULL, *line;
	crumb_session *s;
	crumb_state *st;
	const char *str;
	char v[64];
	double d;
	size_t n;

	TEST("invalidate");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_get_number(st, "n", &d));
	CHECK_OK(crumb_session_invalidate(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_INVALIDATED);
	CHECK_RC(crumb_state_insert_number(st, "x", 1), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_state_get_string(st, "s", &str), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_state_remove_raw(st, "s"), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_state_len(st, &n), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_state_clear(st), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_session_cycle_id(s), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_session_set_user(s, "u"), CRUMB_E_INVALIDATED);
	CHECK_RC(crumb_state_insert_number(crumb_session_client(s), "x", 1),
	    CRUMB_E_INVALIDATED);
	tmap_reset(map);
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_counts(map)->remove == 1);
	CHECK(tmap_counts(map)->create == 0 && tmap_counts(map)->update == 0);
	line = h ? tcookie_line(h, "id") : NULL;
	CHECK(line != NULL);
	if (line != NULL) {
		CHECK(tcookie_attr(line, "Max-Age", v, sizeof(v)));
		CHECK_STR(v, "0");
	}
	free(line);
	free(h);
	stale_not_adopted(pair);
	free(pair);
}

static void
test_cycle(void)
{
	char *pair = seed(), *pair2 = NULL;
	crumb_session *s;
	crumb_state *st;
	double d;

	TEST("cycle_id");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_RENEWED);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_get_number(st, "n", &d));
	CHECK(d == 1);
	CHECK_OK(tend(s, "id", NULL, &pair2));
	CHECK(pair2 != NULL);
	if (pair2 != NULL) {
		CHECK(strcmp(pair, pair2) != 0);
		s = tbegin(cfg, pair2);
		CHECK(!crumb_session_is_new(s));
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &d));
		crumb_session_free(s);
	}
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	CHECK(tmap_records(map) > 0);
	free(pair);
	free(pair2);

	TEST("cycle_id with a change in the same request");
	pair = seed();
	pair2 = NULL;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 5));
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK_OK(tend(s, "id", NULL, &pair2));
	CHECK(pair2 != NULL);
	if (pair2 != NULL) {
		s = tbegin(cfg, pair2);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &d));
		CHECK(d == 5);
		crumb_session_free(s);
	}
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(pair);
	free(pair2);

	TEST("cycle_id without touching the state");
	pair = seed();
	pair2 = NULL;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK_OK(tend(s, "id", NULL, &pair2));
	CHECK(pair2 != NULL && strcmp(pair, pair2) != 0);
	if (pair2 != NULL) {
		s = tbegin(cfg, pair2);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &d));
		CHECK(d == 1);
		crumb_session_free(s);
	}
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_state_get_number(crumb_session_server(s), "n", &d),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(pair);
	free(pair2);

	TEST("cycle_id on a new session");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 3));
	CHECK_OK(crumb_session_cycle_id(s));
	pair = NULL;
	CHECK_OK(tend(s, "id", NULL, &pair));
	CHECK(pair != NULL);
	if (pair != NULL) {
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &d));
		CHECK(d == 3);
		crumb_session_free(s);
	}
	free(pair);
}

struct walk {
	char keys[8][8];
	int n, stop_at;
};

static int
walk_fn(const char *key, const cJSON *value, void *ud)
{
	struct walk *w = ud;

	if (w->n < 8)
		snprintf(w->keys[w->n], sizeof(w->keys[0]), "%s", key);
	w->n++;
	if (value == NULL)
		return -1;
	return w->n == w->stop_at ? 42 : 0;
}

static void
test_foreach(void)
{
	crumb_session *s = tbegin(cfg, NULL);
	crumb_state *st = crumb_session_server(s);
	struct walk w;
	char *pair = NULL;

	TEST("foreach in insertion order");
	CHECK_OK(crumb_state_insert_number(st, "c", 1));
	CHECK_OK(crumb_state_insert_number(st, "a", 2));
	CHECK_OK(crumb_state_insert_number(st, "b", 3));
	memset(&w, 0, sizeof(w));
	CHECK_OK(crumb_state_foreach(st, walk_fn, &w));
	CHECK(w.n == 3);
	CHECK_STR(w.keys[0], "c");
	CHECK_STR(w.keys[1], "a");
	CHECK_STR(w.keys[2], "b");
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	CHECK_RC(crumb_state_foreach(st, walk_fn, &w), 42);
	CHECK(w.n == 2);
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("foreach order survives the store");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	memset(&w, 0, sizeof(w));
	CHECK_OK(crumb_state_foreach(st, walk_fn, &w));
	CHECK(w.n == 3);
	CHECK_STR(w.keys[0], "c");
	CHECK_STR(w.keys[1], "a");
	CHECK_STR(w.keys[2], "b");
	CHECK_RC(crumb_state_foreach(st, NULL, &w), CRUMB_E_INVAL);
	crumb_session_free(s);
	free(pair);
}

static void
test_equal_insert(void)
{
	char *pair = seed(), *h = NULL;
	crumb_session *s;
	crumb_state *st;

	TEST("equal-value insert is not a change");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	tmap_reset(map);
	CHECK_OK(crumb_state_insert_number(st, "n", 1));
	CHECK_OK(crumb_state_insert_string(st, "s", "str"));
	CHECK_OK(crumb_state_insert_bool(st, "b", 1));
	CHECK_OK(crumb_state_insert_json(st, "o", "{ \"a\" : [1, 2] }"));
	CHECK(!crumb_session_is_modified(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_UNCHANGED);
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(tmap_counts(map)->load == 1);
	CHECK(tmap_counts(map)->update == 0);
	CHECK(tmap_counts(map)->create == 0);
	CHECK(tmap_counts(map)->touch == 0);
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	free(h);

	TEST("a different value is a change");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	tmap_reset(map);
	CHECK_OK(crumb_state_insert_number(st, "n", 2));
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(crumb_state_insert_bool(st, "b", 0));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->update == 1);

	TEST("same number as a string is a change");
	s = tbegin(cfg, pair);
	st = crumb_session_server(s);
	CHECK_OK(crumb_state_insert_string(st, "n", "2"));
	CHECK(crumb_session_is_modified(s));
	crumb_session_free(s);
	free(pair);
}

int
main(void)
{
	map = tmap_store_new(&store);
	cfg = tcfg_new(store, &clk, 0x21);
	test_insert_get();
	test_persist_and_remove();
	test_clear_delete();
	test_invalidate();
	test_cycle();
	test_foreach();
	test_equal_insert();
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
