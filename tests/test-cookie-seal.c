/* The sealed session cookie: round trip, tampering, truncation, garbage,
 * foreign keys, key rotation, expiry and the absolute lifetime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

/* A session with server n=42 and client c="hi"; returns "id=..." (new). */
static char *
make_cookie(crumb_config *cfg)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;

	CHECK(crumb_session_is_new(s));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 42));
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c",
	    "hi"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

/* 1 when the header restores both states, 0 when the session is fresh
 * with both states empty, -1 for anything in between. */
static int
restores(crumb_config *cfg, const char *header)
{
	crumb_session *s = tbegin(cfg, header);
	double n = 0;
	const char *c = NULL;
	int rn, rc, isnew, ret = -1;

	rn = crumb_state_get_number(crumb_session_server(s), "n", &n);
	rc = crumb_state_get_string(crumb_session_client(s), "c", &c);
	isnew = crumb_session_is_new(s);
	if (rn == CRUMB_OK && n == 42 && rc == CRUMB_OK && c != NULL &&
	    strcmp(c, "hi") == 0 && !isnew)
		ret = 1;
	else if (rn == CRUMB_E_NOT_FOUND && rc == CRUMB_E_NOT_FOUND && isnew)
		ret = 0;
	crumb_session_free(s);
	return ret;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* Another base64 character that differs in a bit the decoder cannot
 * ignore (even in the last character, whose low bits may be padding):
 * index ^ 16, or ^ 32 when that would need '+' '/' '-' '_'. */
static char
flip_b64(char c)
{
	int i;

	if (c == '-' || c == '+')
		i = 62;
	else if (c == '_' || c == '/')
		i = 63;
	else if (strchr(b64, c) != NULL && c != '\0')
		i = (int)(strchr(b64, c) - b64);
	else
		return 'A';
	return (i ^ 16) < 62 ? b64[i ^ 16] : b64[i ^ 32];
}

static void
test_round_trip(crumb_config *cfg)
{
	char *pair, *hdr;

	TEST("round trip");
	pair = make_cookie(cfg);
	CHECK(restores(cfg, pair) == 1);
	/* Among other cookies, with whitespace. */
	hdr = malloc(strlen(pair) + 64);
	REQUIRE(hdr != NULL);
	sprintf(hdr, "a=1;  %s ; b=2", pair);
	CHECK(restores(cfg, hdr) == 1);
	free(hdr);
	/* Two cookies from two visitors differ. */
	{
		char *other = make_cookie(cfg);

		CHECK(strcmp(other, pair) != 0);
		free(other);
	}
	free(pair);
}

static void
test_tamper(crumb_config *cfg)
{
	char *pair = make_cookie(cfg), *bad;
	size_t len = strlen(pair), vstart = strchr(pair, '=') - pair + 1, i;
	int fails = 0, first = -1;
	size_t good_len;

	TEST("tampering: every character changed");
	for (i = vstart; i < len; i++) {
		bad = strdup(pair);
		REQUIRE(bad != NULL);
		bad[i] = flip_b64(bad[i]);
		if (restores(cfg, bad) != 0) {
			fails++;
			if (first < 0)
				first = (int)(i - vstart);
		}
		free(bad);
	}
	if (fails)
		fprintf(stderr, "tampered cookie accepted at %d positions, "
		    "first at value offset %d\n", fails, first);
	CHECK(fails == 0);

	/* The last character is left out: its low bits may be padding
	 * that a decoder legitimately ignores. */
	TEST("tampering: low bit of every character but the last");
	fails = 0;
	for (i = vstart; i + 1 < len; i++) {
		bad = strdup(pair);
		REQUIRE(bad != NULL);
		bad[i] ^= 1;
		if (restores(cfg, bad) != 0)
			fails++;
		free(bad);
	}
	CHECK(fails == 0);

	TEST("truncation at every length");
	fails = 0;
	good_len = len;
	for (i = vstart; i < good_len; i++) {
		bad = strndup(pair, i);
		REQUIRE(bad != NULL);
		if (restores(cfg, bad) != 0)
			fails++;
		free(bad);
	}
	CHECK(fails == 0);

	TEST("appended bytes");
	bad = malloc(len + 8);
	REQUIRE(bad != NULL);
	sprintf(bad, "%sAAAA", pair);
	CHECK(restores(cfg, bad) == 0);
	sprintf(bad, "%sA", pair);
	CHECK(restores(cfg, bad) == 0);
	free(bad);

	TEST("value swapped halves");
	bad = strdup(pair);
	REQUIRE(bad != NULL);
	{
		size_t vl = len - vstart, h = vl / 2;
		char *tmp = malloc(vl + 1);

		REQUIRE(tmp != NULL);
		memcpy(tmp, pair + vstart + h, vl - h);
		memcpy(tmp + vl - h, pair + vstart, h);
		memcpy(bad + vstart, tmp, vl);
		free(tmp);
	}
	CHECK(restores(cfg, bad) == 0);
	free(bad);
	/* The original still works after all that. */
	CHECK(restores(cfg, pair) == 1);
	free(pair);
}

static void
test_garbage(crumb_config *cfg)
{
	static const char *junk[] = {
		"id=", "id=A", "id=AAAA", "id=====", "id=****",
		"id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"id=//////////////////////////////////////////////////////",
		"id=________________________________________________________"
		    "____________________________________________________",
		"id=\"AAAA\"", "id=%41%41", "id=a b c", "id=\xc3\xa9\xff",
	};
	size_t i;

	TEST("garbage base64");
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		int r = restores(cfg, junk[i]);

		if (r != 0)
			fprintf(stderr, "junk cookie %zu gave %d\n", i, r);
		CHECK(r == 0);
	}
}

static void
test_foreign_key(crumb_store *store)
{
	crumb_config *a = tcfg_new(store, &clk, 0xA1);
	crumb_config *b = tcfg_new(store, &clk, 0xB2);
	char *pair = make_cookie(a);

	TEST("cookie made under another key");
	CHECK(restores(b, pair) == 0);
	CHECK(restores(a, pair) == 1);
	free(pair);
	crumb_config_free(a);
	crumb_config_free(b);
}

static void
test_rotation(crumb_store *store)
{
	unsigned char ka[CRUMB_KEY_LEN];
	crumb_config *a = tcfg_new(store, &clk, 0xA1);
	crumb_config *ba = tcfg_new(store, &clk, 0xB2);
	crumb_config *b = tcfg_new(store, &clk, 0xB2);
	char *pa = make_cookie(a), *pb = NULL, *pb2 = NULL;
	crumb_session *s;
	double n = 0;

	TEST("key rotation");
	tkey(ka, 0xA1);
	CHECK_OK(crumb_config_add_old_key(ba, ka, sizeof(ka)));
	CHECK(restores(ba, pa) == 1);
	CHECK(restores(b, pa) == 0);

	/* Reading under the old key re-issues under the current one. */
	s = tbegin(ba, pa);
	CHECK(!crumb_session_is_new(s));
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &n));
	CHECK(n == 42);
	CHECK_OK(tend(s, "id", NULL, &pb));
	CHECK(pb != NULL);
	if (pb != NULL) {
		CHECK(strcmp(pb, pa) != 0);
		CHECK(restores(b, pb) == 1);    /* B alone reads it */
		CHECK(restores(ba, pb) == 1);
		CHECK(restores(a, pb) == 0);    /* A alone does not */
	}

	TEST("key rotation: re-issued without touching the state");
	s = tbegin(ba, pa);
	CHECK_OK(tend(s, "id", NULL, &pb2));
	CHECK(pb2 != NULL);
	if (pb2 != NULL)
		CHECK(restores(b, pb2) == 1);

	TEST("key rotation: current-key cookie is not re-issued");
	if (pb != NULL) {
		char *again = NULL;

		s = tbegin(ba, pb);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &n));
		CHECK_OK(tend(s, "id", NULL, &again));
		CHECK(again == NULL);
		free(again);
	}
	free(pa);
	free(pb);
	free(pb2);
	crumb_config_free(a);
	crumb_config_free(ba);
	crumb_config_free(b);
}

static void
test_expiry(crumb_store *store)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x33);
	crumb_session *s;
	char *pair, *cpair = NULL;
	const char *c;

	TEST("expired cookie");
	CHECK_OK(crumb_config_set_ttl(cfg, 100));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_CHANGE, 0));
	clk.now = T_START;
	pair = make_cookie(cfg);
	clk.now = T_START + 99;
	CHECK(restores(cfg, pair) == 1);
	clk.now = T_START + 100;
	CHECK(restores(cfg, pair) == 0);
	clk.now = T_START + 101;
	CHECK(restores(cfg, pair) == 0);
	clk.now = T_START + 100000;
	CHECK(restores(cfg, pair) == 0);
	free(pair);

	TEST("expired cookie with client state only");
	clk.now = T_START;
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c", "x"));
	CHECK_OK(tend(s, "id", NULL, &cpair));
	REQUIRE(cpair != NULL);
	clk.now = T_START + 50;
	s = tbegin(cfg, cpair);
	CHECK_OK(crumb_state_get_string(crumb_session_client(s), "c", &c));
	crumb_session_free(s);
	clk.now = T_START + 101;
	s = tbegin(cfg, cpair);
	CHECK(crumb_session_is_new(s));
	CHECK_RC(crumb_state_get_string(crumb_session_client(s), "c", &c),
	    CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(cpair);
	crumb_config_free(cfg);
	clk.now = T_START;
}

static void
test_absolute(crumb_store *store)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x44);
	char *pair, *next;
	int64_t t;

	TEST("absolute lifetime");
	CHECK_OK(crumb_config_set_ttl(cfg, 300));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST, 0));
	CHECK_OK(crumb_config_set_absolute_lifetime(cfg, 1000));
	clk.now = T_START;
	pair = make_cookie(cfg);
	/* Active every 200 s: the TTL keeps moving, the lifetime does not. */
	for (t = 200; t <= 800; t += 200) {
		crumb_session *s;
		double n = 0;

		clk.now = T_START + t;
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &n));
		CHECK(n == 42);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s),
		    "t", (double)t));
		next = NULL;
		CHECK_OK(tend(s, "id", NULL, &next));
		if (next != NULL) {
			free(pair);
			pair = next;
		}
	}
	clk.now = T_START + 1001;
	CHECK(restores(cfg, pair) == 0);
	free(pair);

	TEST("absolute lifetime 0 disables it");
	CHECK_OK(crumb_config_set_absolute_lifetime(cfg, 0));
	clk.now = T_START;
	pair = make_cookie(cfg);
	for (t = 250; t <= 2000; t += 250) {
		crumb_session *s;

		clk.now = T_START + t;
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s),
		    "t", (double)t));
		next = NULL;
		CHECK_OK(tend(s, "id", NULL, &next));
		if (next != NULL) {
			free(pair);
			pair = next;
		}
	}
	CHECK(restores(cfg, pair) == 1);
	free(pair);
	crumb_config_free(cfg);
	clk.now = T_START;
}

int
main(void)
{
	crumb_store *store = NULL;
	crumb_config *cfg;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0x11);
	test_round_trip(cfg);
	test_tamper(cfg);
	test_garbage(cfg);
	crumb_config_free(cfg);
	test_foreign_key(store);
	test_rotation(store);
	test_expiry(store);
	test_absolute(store);
	crumb_store_free(store);
	return CHECK_DONE();
}
