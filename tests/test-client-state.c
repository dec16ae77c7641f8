/* Client-side state: the same operations as the server state, carried in
 * the cookie, never in the store; the 4096-byte cookie limit is a clear
 * CRUMB_E_TOO_LARGE, never a silently dropped cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static crumb_store *store;
static struct tmap *map;
static crumb_config *cfg;

/* len pseudo-random letters (incompressible enough). */
static char *
noise(size_t len, unsigned seed)
{
	char *p = malloc(len + 1);
	size_t i;

	REQUIRE(p != NULL);
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789"[(seed >> 16) % 62];
	}
	p[len] = '\0';
	return p;
}

static void
test_ops(void)
{
	crumb_session *s;
	crumb_state *cs;
	const char *str;
	const cJSON *j;
	cJSON *v = NULL;
	double d;
	int b;
	size_t n;
	char *pair = NULL, *pair2 = NULL, *h = NULL;

	TEST("client state ops, no store I/O");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	cs = crumb_session_client(s);
	REQUIRE(cs != NULL);
	CHECK(cs != crumb_session_server(s));
	CHECK_OK(crumb_state_insert_string(cs, "lang", "fr"));
	CHECK_OK(crumb_state_insert_number(cs, "n", 3));
	CHECK_OK(crumb_state_insert_bool(cs, "dark", 1));
	CHECK_OK(crumb_state_insert_json(cs, "o", "{\"k\":[1]}"));
	CHECK(crumb_state_insert_json(cs, "bad", "{") != CRUMB_OK);
	CHECK_OK(crumb_state_insert(cs, "tmp", cJSON_CreateString("x")));
	CHECK_OK(crumb_state_len(cs, &n));
	CHECK(n == 5);
	CHECK_RC(crumb_state_get_number(cs, "lang", &d), CRUMB_E_TYPE);
	CHECK_RC(crumb_state_get_bool(cs, "missing", &b), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_remove(cs, "tmp", &v));
	CHECK(v != NULL && cJSON_IsString(v));
	cJSON_Delete(v);
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(tend(s, "id", &h, &pair));
	CHECK(pair != NULL);
	CHECK(tmap_total(map) == 0);
	CHECK(tmap_records(map) == 0);
	free(h);
	REQUIRE(pair != NULL);

	TEST("client state round trip");
	s = tbegin(cfg, pair);
	cs = crumb_session_client(s);
	CHECK(!crumb_session_is_new(s));
	CHECK_OK(crumb_state_get_string(cs, "lang", &str));
	CHECK_STR(str, "fr");
	CHECK_OK(crumb_state_get_number(cs, "n", &d));
	CHECK(d == 3);
	CHECK_OK(crumb_state_get_bool(cs, "dark", &b));
	CHECK(b == 1);
	CHECK_OK(crumb_state_get(cs, "o", &j));
	CHECK(cJSON_IsObject(j));
	CHECK_RC(crumb_state_get(cs, "tmp", &j), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_len(cs, &n));
	CHECK(n == 4);
	/* Server state is empty and separate. */
	CHECK_RC(crumb_state_get_string(crumb_session_server(s), "lang",
	    &str), CRUMB_E_NOT_FOUND);

	TEST("client equal insert is not a change");
	CHECK_OK(crumb_state_insert_string(cs, "lang", "fr"));
	CHECK(!crumb_session_is_modified(s));
	CHECK_OK(crumb_state_remove_raw(cs, "n"));
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(tend(s, "id", NULL, &pair2));
	/* A client-state change must travel: a new cookie. */
	CHECK(pair2 != NULL);
	if (pair2 != NULL) {
		s = tbegin(cfg, pair2);
		cs = crumb_session_client(s);
		CHECK_RC(crumb_state_get_number(cs, "n", &d),
		    CRUMB_E_NOT_FOUND);
		CHECK_OK(crumb_state_get_string(cs, "lang", &str));
		TEST("client clear");
		CHECK_OK(crumb_state_clear(cs));
		CHECK_OK(crumb_state_len(cs, &n));
		CHECK(n == 0);
		crumb_session_free(s);
	}
	TEST("unchanged client state: no cookie, no store");
	tmap_reset(map);
	h = NULL;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_string(crumb_session_client(s), "lang",
	    &str));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	CHECK(tmap_total(map) == 0);
	free(h);
	free(pair);
	free(pair2);
}

/* Inserts a string of size bytes into a fresh client state.  Returns 1
 * when a cookie came out (checking it fits and round-trips), 0 when
 * insert or finish said CRUMB_E_TOO_LARGE, -1 for anything else. */
static int
try_size(size_t size)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *val = noise(size, (unsigned)size), *h = NULL, *line = NULL;
	int rc, ret = -1;
	const char *got;

	rc = crumb_state_insert_string(crumb_session_client(s), "big", val);
	if (rc == CRUMB_E_TOO_LARGE) {
		/* Refused at insert: the state holds no trace of it. */
		CHECK_RC(crumb_state_get_string(crumb_session_client(s),
		    "big", &got), CRUMB_E_NOT_FOUND);
		crumb_session_free(s);
		free(val);
		return 0;
	}
	if (rc != CRUMB_OK) {
		crumb_session_free(s);
		free(val);
		return -1;
	}
	rc = tend(s, "id", &h, NULL);
	if (rc == CRUMB_E_TOO_LARGE)
		ret = 0;
	else if (rc == CRUMB_OK && h != NULL &&
	    (line = tcookie_line(h, "id")) != NULL) {
		char *pair = tcookie_pair(h, "id");

		ret = 1;
		if (strlen(line) > CRUMB_COOKIE_MAX) {
			fprintf(stderr, "%zu-byte value gave a %zu-byte "
			    "cookie\n", size, strlen(line));
			ret = -1;
		}
		s = tbegin(cfg, pair);
		if (crumb_state_get_string(crumb_session_client(s), "big",
		    &got) != CRUMB_OK || strcmp(got, val) != 0)
			ret = -1;
		crumb_session_free(s);
		free(pair);
	}
	free(line);
	free(h);
	free(val);
	return ret;
}

static void
test_size(void)
{
	size_t size;
	int r, last = 1, bad = 0;

	TEST("client state size limit");
	CHECK(try_size(100) == 1);
	CHECK(try_size(1000) == 1);
	CHECK(try_size(5000) == 0);
	CHECK(try_size(100000) == 0);
	/* Around the limit every size either fits in 4096 bytes or is
	 * refused; once refused, larger ones are refused too. */
	for (size = 2000; size <= 4200; size += 25) {
		r = try_size(size);
		if (r < 0 || (r == 1 && last == 0)) {
			fprintf(stderr, "size %zu: %d\n", size, r);
			bad++;
		}
		last = r;
	}
	CHECK(bad == 0);

	TEST("too large via several keys");
	{
		crumb_session *s = tbegin(cfg, NULL);
		char key[16];
		int i, rc = CRUMB_OK, rc2;
		char *h = NULL;

		for (i = 0; i < 20 && rc == CRUMB_OK; i++) {
			char *val = noise(300, (unsigned)i);

			snprintf(key, sizeof(key), "k%d", i);
			rc = crumb_state_insert_string(
			    crumb_session_client(s), key, val);
			free(val);
		}
		CHECK(rc == CRUMB_OK || rc == CRUMB_E_TOO_LARGE);
		rc2 = tend(s, "id", &h, NULL);
		CHECK(rc == CRUMB_E_TOO_LARGE || rc2 == CRUMB_E_TOO_LARGE);
		if (rc2 == CRUMB_OK && h != NULL) {
			char *line = tcookie_line(h, "id");

			CHECK(line != NULL && strlen(line) <=
			    CRUMB_COOKIE_MAX);
			free(line);
		}
		free(h);
	}
}

int
main(void)
{
	map = tmap_store_new(&store);
	cfg = tcfg_new(store, &clk, 0x31);
	test_ops();
	test_size();
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
