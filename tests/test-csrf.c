/* CSRF token: created on first call, stable within and across requests of
 * one session, different between sessions; the check accepts only it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

int
main(void)
{
	crumb_store *store = NULL;
	crumb_config *cfg;
	crumb_session *s;
	const char *tok = NULL, *tok2 = NULL;
	char *saved, *other, *pair = NULL, *bad;
	const cJSON *j;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, NULL, 0xC1);

	TEST("token created, stable within the request");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_csrf_token(s, &tok));
	REQUIRE(tok != NULL);
	CHECK(strlen(tok) >= 22);    /* at least 128 bits in base64 */
	CHECK(crumb_utf8_valid(tok, strlen(tok)));
	saved = strdup(tok);
	REQUIRE(saved != NULL);
	CHECK_OK(crumb_session_csrf_token(s, &tok2));
	CHECK_STR(tok2, saved);
	CHECK_OK(crumb_state_get(crumb_session_server(s), "_csrf", &j));

	TEST("check");
	CHECK_OK(crumb_session_csrf_check(s, saved));
	CHECK_RC(crumb_session_csrf_check(s, "wrong"), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, ""), CRUMB_E_NOT_FOUND);
	CHECK(crumb_session_csrf_check(s, NULL) != CRUMB_OK);
	bad = strdup(saved);
	REQUIRE(bad != NULL);
	bad[strlen(bad) - 1] ^= 1;
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	bad[strlen(bad) - 1] = '\0';
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	free(bad);
	bad = malloc(strlen(saved) + 2);
	REQUIRE(bad != NULL);
	sprintf(bad, "%sA", saved);
	CHECK_RC(crumb_session_csrf_check(s, bad), CRUMB_E_NOT_FOUND);
	free(bad);
	CHECK_OK(tend(s, "id", NULL, &pair));
	/* The token lives in the server state: the session is stored. */
	REQUIRE(pair != NULL);

	TEST("stable across requests");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_csrf_check(s, saved));
	tok = NULL;
	CHECK_OK(crumb_session_csrf_token(s, &tok));
	CHECK_STR(tok, saved);
	crumb_session_free(s);

	TEST("another session has another token");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_csrf_check(s, saved), CRUMB_E_NOT_FOUND);
	tok = NULL;
	CHECK_OK(crumb_session_csrf_token(s, &tok));
	other = tok ? strdup(tok) : NULL;
	CHECK(other != NULL && strcmp(other, saved) != 0);
	CHECK_RC(crumb_session_csrf_check(s, saved), CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	free(other);

	TEST("check before any token exists fails");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_csrf_check(s, ""), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_check(s, "x"), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_session_csrf_token(s, NULL), CRUMB_E_INVAL);
	crumb_session_free(s);

	TEST("clear drops the token");
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_session_clear(s));
	CHECK_RC(crumb_session_csrf_check(s, saved), CRUMB_E_NOT_FOUND);
	crumb_session_free(s);

	free(saved);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
