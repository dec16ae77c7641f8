/* crumb_state_edit: a value changed in place marks the session changed
 * exactly when it differs, aborts leave it alone, NULL removes the key,
 * concurrent requests' changes to other keys survive (journal replay),
 * and the client map keeps its cookie size limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

/* cart[item]++ */
static int
add_item(cJSON **cart, void *ud)
{
	const char *item = ud;
	cJSON *n;

	if (*cart == NULL && (*cart = cJSON_CreateObject()) == NULL)
		return CRUMB_E_NOMEM;
	if ((n = cJSON_GetObjectItemCaseSensitive(*cart, item)) == NULL)
		return cJSON_AddNumberToObject(*cart, item, 1) != NULL ? 0 :
		    CRUMB_E_NOMEM;
	cJSON_SetNumberValue(n, n->valuedouble + 1);
	return 0;
}

static int
same(cJSON **v, void *ud)
{
	(void)v;
	(void)ud;
	return 0;
}

static int
spoil_and_abort(cJSON **v, void *ud)
{
	(void)ud;
	cJSON_Delete(*v);
	*v = cJSON_CreateString("spoiled");
	return 9;
}

static int
drop(cJSON **v, void *ud)
{
	(void)ud;
	cJSON_Delete(*v);
	*v = NULL;
	return 0;
}

static int
big(cJSON **v, void *ud)
{
	char *s = malloc(5000);

	(void)ud;
	if (s == NULL)
		return CRUMB_E_NOMEM;
	memset(s, 'b', 4999);
	s[4999] = '\0';
	cJSON_Delete(*v);
	*v = cJSON_CreateString(s);
	free(s);
	return 0;
}

static double
count(crumb_state *st, const char *item)
{
	const cJSON *cart, *n;

	if (crumb_state_get(st, "cart", &cart) != CRUMB_OK)
		return -1;
	n = cJSON_GetObjectItemCaseSensitive(cart, item);
	return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

int
main(void)
{
	crumb_store *store;
	struct tmap *map = tmap_store_new(&store);
	crumb_config *cfg = tcfg_new(store, &clk, 0xED);
	crumb_session *s, *o;
	crumb_state *sv;
	char *pair = NULL;
	const char *str;

	TEST("cart[item]++ from nothing, twice");
	s = tbegin(cfg, NULL);
	sv = crumb_session_server(s);
	CHECK_OK(crumb_state_edit(sv, "cart", add_item, "apple"));
	CHECK_OK(crumb_state_edit(sv, "cart", add_item, "apple"));
	CHECK_OK(crumb_state_edit(sv, "cart", add_item, "pear"));
	CHECK(count(sv, "apple") == 2);
	CHECK(count(sv, "pear") == 1);
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);

	TEST("an edit that changes nothing is not a change");
	tmap_reset(map);
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK_OK(crumb_state_edit(sv, "cart", same, NULL));
	CHECK_OK(crumb_state_edit(sv, "absent", same, NULL));
	CHECK(!crumb_session_is_modified(s));
	CHECK(count(sv, "apple") == 2);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tmap_counts(map)->update == 0);

	TEST("an aborted edit changes nothing");
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK_RC(crumb_state_edit(sv, "cart", spoil_and_abort, NULL), 9);
	CHECK(count(sv, "apple") == 2);
	CHECK(!crumb_session_is_modified(s));
	crumb_session_free(s);

	TEST("edits replay over a concurrent request's write");
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK_OK(crumb_state_edit(sv, "cart", add_item, "apple"));
	o = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(o), "note",
	    "hi"));
	CHECK_OK(tend(o, "id", NULL, NULL));
	CHECK_OK(tend(s, "id", NULL, NULL));
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK(count(sv, "apple") == 3);
	CHECK_OK(crumb_state_get_string(sv, "note", &str));
	CHECK_STR(str, "hi");

	TEST("NULL removes the key");
	CHECK_OK(crumb_state_edit(sv, "cart", drop, NULL));
	CHECK(count(sv, "apple") == -1);
	CHECK(crumb_session_is_modified(s));
	CHECK_OK(tend(s, "id", NULL, NULL));
	s = tbegin(cfg, pair);
	sv = crumb_session_server(s);
	CHECK(count(sv, "apple") == -1);
	CHECK_OK(crumb_state_edit(sv, "cart", drop, NULL));
	CHECK(!crumb_session_is_modified(s));

	TEST("client map: edits, and the cookie size limit");
	CHECK_OK(crumb_state_edit(crumb_session_client(s), "cart", add_item,
	    "fig"));
	CHECK(count(crumb_session_client(s), "fig") == 1);
	CHECK_RC(crumb_state_edit(crumb_session_client(s), "cart", big, NULL),
	    CRUMB_E_TOO_LARGE);
	CHECK(count(crumb_session_client(s), "fig") == 1);
	CHECK_RC(crumb_state_edit(NULL, "cart", same, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_edit(sv, NULL, same, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_state_edit(sv, "cart", NULL, NULL), CRUMB_E_INVAL);
	crumb_session_free(s);

	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
