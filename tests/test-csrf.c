/* CSRF tokens: the secret travels in the session cookie only (nothing
 * stored, nothing in the server map), tokens are masked anew in every
 * request and all match, the check refuses anything else without a crash,
 * and cycling the ID or invalidating retires the secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static int
count_entry(const char *key, const cJSON *value, void *ud)
{
	(void)key;
	(void)value;
	(*(int *)ud)++;
	return 0;
}

/* A copy of the token of s (new, free()); exits when there is none. */
static char *
token_of(crumb_session *s)
{
	const char *tok = NULL;
	char *copy;

	CHECK_OK(crumb_session_csrf_token(s, &tok));
	REQUIRE(tok != NULL);
	REQUIRE((copy = strdup(tok)) != NULL);
	return copy;
}

static void
test_null(crumb_config *cfg)
{
	crumb_session *s = tbegin(cfg, NULL);
	const char *tok = "x";

	TEST("NULL session or out-parameter is CRUMB_E_INVAL");
	CHECK_RC(crumb_session_csrf_token(NULL, &tok), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_csrf_check(NULL, "x"), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_csrf_check(NULL, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_csrf_token(s, NULL), CRUMB_E_INVAL);

	TEST("check before any token exists fails");
	CHECK_RC(crumb_session_csrf_check(s, ""), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, "x"), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, NULL), CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
}

/* Malformed and wrong tokens are refused, never a crash. */
static void
test_malformed(crumb_session *s, const char *good)
{
	size_t n = strlen(good);
	char *bad = malloc(n + 2), *huge;

	TEST("wrong and malformed tokens are refused");
	REQUIRE(bad != NULL);
	CHECK_OK(crumb_session_csrf_check(s, good));
	CHECK_RC(crumb_session_csrf_check(s, "wrong"), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, ""), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, NULL), CRUMB_E_NOT_FOUND);
	memcpy(bad, good, n + 1);
	bad[n - 1] ^= 1;
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	memcpy(bad, good, n + 1);
	bad[0] = bad[0] == 'A' ? 'B' : 'A';     /* in the mask */
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	memcpy(bad, good, n + 1);
	bad[n / 2 + 3] = bad[n / 2 + 3] == 'A' ? 'B' : 'A';
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	memcpy(bad, good, n + 1);
	bad[n - 1] = '\0';
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	sprintf(bad, "%sA", good);
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	memset(bad, '!', n);                    /* right length, bad base64 */
	bad[n] = '\0';
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	memset(bad, 'A', n);                    /* well-formed, all zero */
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	free(bad);
	REQUIRE((huge = malloc(1 << 20)) != NULL);
	memset(huge, 'A', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	CHECK_RC(crumb_session_csrf_check(s, huge), CRUMB_E_NOT_FOUND);
	free(huge);
}

static void
test_anonymous(void)
{
	crumb_store *store = NULL;
	struct tmap *m = tmap_store_new(&store);
	crumb_config *cfg = tcfg_new(store, NULL, 0xC1);
	crumb_session *s;
	const cJSON *j;
	const char *again = NULL;
	char *tok, *tok2, *other, *pair = NULL, *h = NULL;
	size_t n = 99;
	int entries = 0;

	test_null(cfg);

	TEST("a token for an anonymous visitor writes only the cookie");
	s = tbegin(cfg, NULL);
	tok = token_of(s);
	CHECK(strlen(tok) == 86);               /* 64 bytes in base64url */
	CHECK_OK(crumb_session_csrf_token(s, &again));
	CHECK_STR(again, tok);                  /* same within the request */
	CHECK_RC(crumb_state_get(crumb_session_server(s), "_csrf", &j),
	    CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_state_len(crumb_session_server(s), &n));
	CHECK(n == 0);
	CHECK_OK(crumb_state_foreach(crumb_session_server(s), count_entry,
	    &entries));
	CHECK(entries == 0);
	test_malformed(s, tok);
	tmap_reset(m);
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	CHECK(tmap_counts(m)->create == 0 && tmap_counts(m)->update == 0);
	CHECK(tmap_records(m) == 0);

	TEST("the next request: the old token matches, a new mask too");
	s = tbegin(cfg, pair);
	CHECK(!crumb_session_is_new(s));
	CHECK_OK(crumb_session_csrf_check(s, tok));
	tok2 = token_of(s);
	CHECK(strcmp(tok2, tok) != 0);          /* masked anew */
	CHECK_OK(crumb_session_csrf_check(s, tok2));
	CHECK_OK(crumb_session_csrf_check(s, tok));
	/* The secret is already in the cookie: nothing to send. */
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	free(h);
	CHECK(tmap_records(m) == 0);

	TEST("the token is not application state: clear keeps it");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_state_clear(crumb_session_server(s)));
	CHECK_OK(crumb_session_csrf_check(s, tok));
	CHECK_OK(crumb_session_clear(s));
	CHECK_OK(crumb_session_csrf_check(s, tok));
	CHECK_OK(crumb_state_len(crumb_session_server(s), &n));
	CHECK(n == 0);
	crumb_session_free(s);

	TEST("another session has another secret");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_csrf_check(s, tok), CRUMB_E_NOT_FOUND);
	other = token_of(s);
	CHECK(strcmp(other, tok) != 0);
	CHECK_RC(crumb_session_csrf_check(s, tok), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_session_csrf_check(s, other));
	crumb_session_free(s);
	s = tbegin(cfg, pair);
	CHECK_RC(crumb_session_csrf_check(s, other), CRUMB_E_NOT_FOUND);
	crumb_session_free(s);

	free(other);
	free(tok2);
	free(tok);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

/* The value of the session cookie of a session with one stored value,
 * with or without a token asked for. */
static size_t
value_len(crumb_config *cfg, int token)
{
	crumb_session *s = tbegin(cfg, NULL);
	const char *tok;
	char *pair = NULL;
	size_t n;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	if (token)
		CHECK_OK(crumb_session_csrf_token(s, &tok));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	n = strlen(tpair_value(pair));
	free(pair);
	return n;
}

static void
test_size(void)
{
	crumb_store *store = NULL;
	crumb_config *cfg;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, NULL, 0xC3);
	TEST("the secret is in the cookie only once a token was asked for");
	/* base64url of version, key id, nonce, flags, ID, created, expires
	 * and tag: 5 + 12 + 1 + 32 + 16 + 16 = 82 bytes; the secret adds 32. */
	CHECK(value_len(cfg, 0) == 110);
	CHECK(value_len(cfg, 1) == 152);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

/* The README's sign-in: a token from the anonymous page, then set_user
 * and cycle_id; the token from before must not work after. */
static void
test_sign_in(void)
{
	crumb_store *store = NULL;
	crumb_config *cfg;
	crumb_session *s;
	const char *held = NULL, *tok3 = NULL;
	char *before, *after, *pair1 = NULL, *pair2 = NULL, *h = NULL;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, NULL, 0xC2);

	TEST("a token from before sign-in is refused after cycle_id");
	s = tbegin(cfg, NULL);
	before = token_of(s);
	CHECK_OK(tend(s, "id", NULL, &pair1));
	REQUIRE(pair1 != NULL);

	s = tbegin(cfg, pair1);
	CHECK_OK(crumb_session_csrf_token(s, &held));
	REQUIRE(held != NULL);
	CHECK_OK(crumb_session_csrf_check(s, before));
	CHECK_OK(crumb_session_set_user(s, "alice"));
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK_RC(crumb_session_csrf_check(s, before), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, held), CRUMB_E_NOT_FOUND);
	after = token_of(s);
	CHECK(strcmp(after, before) != 0);
	CHECK_OK(crumb_session_csrf_check(s, after));
	/* The token borrowed before the cycle is still readable. */
	CHECK(strlen(held) == 86);
	CHECK_RC(crumb_session_csrf_check(s, held), CRUMB_E_NOT_FOUND);
	CHECK_OK(tend(s, "id", NULL, &pair2));
	REQUIRE(pair2 != NULL);

	s = tbegin(cfg, pair2);
	CHECK(!crumb_session_is_new(s));
	CHECK_RC(crumb_session_csrf_check(s, before), CRUMB_E_NOT_FOUND);
	CHECK_OK(crumb_session_csrf_check(s, after));
	crumb_session_free(s);

	TEST("invalidate retires the secret");
	s = tbegin(cfg, pair2);
	CHECK_OK(crumb_session_invalidate(s));
	CHECK_RC(crumb_session_csrf_check(s, after), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_token(s, &tok3), CRUMB_E_INVALIDATED);
	CHECK(tok3 == NULL);
	crumb_session_free(s);

	TEST("no token after finish");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_finish_str(s, &h));
	free(h);
	CHECK_RC(crumb_session_csrf_token(s, &tok3), CRUMB_E_STATE);
	crumb_session_free(s);

	free(after);
	free(before);
	free(pair1);
	free(pair2);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

int
main(void)
{
	test_anonymous();
	test_size();
	test_sign_in();
	return CHECK_DONE();
}
