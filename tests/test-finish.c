/* Finish rules: what is written to the store and which Set-Cookie lines
 * come out, TTL extension policies, the per-session expiry override, the
 * header format and the write callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static crumb_store *store;
static struct tmap *map;

static char *
seed(crumb_config *cfg)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

/* A read-only request at time t: returns the new "id=" pair or NULL. */
static char *
read_at(crumb_config *cfg, const char *pair, int64_t t, int *alive)
{
	crumb_session *s;
	char *out = NULL;
	double d = 0;

	clk.now = t;
	s = tbegin(cfg, pair);
	*alive = crumb_state_get_number(crumb_session_server(s), "n", &d) ==
	    CRUMB_OK && d == 1;
	CHECK_OK(tend(s, "id", NULL, &out));
	return out;
}

/* read_at, keeping the newest cookie as the browser would. */
static int
visit(crumb_config *cfg, char **pair, int64_t t)
{
	int alive = 0;
	char *out = read_at(cfg, *pair, t, &alive);

	if (out != NULL) {
		free(*pair);
		*pair = out;
	}
	return alive;
}

static void
test_new_visitor(crumb_config *cfg)
{
	crumb_session *s;
	char *h = NULL;

	TEST("new visitor who stored nothing: no cookie, no record");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK(crumb_session_is_new(s));
	CHECK(crumb_session_status(s) == CRUMB_STATUS_UNCHANGED);
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && strcmp(h, "") == 0);
	CHECK(tmap_total(map) == 0);
	free(h);

	TEST("new visitor who only read: no cookie, no record");
	s = tbegin(cfg, NULL);
	{
		const char *v;

		CHECK_RC(crumb_state_get_string(crumb_session_server(s), "x",
		    &v), CRUMB_E_NOT_FOUND);
	}
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	CHECK(tmap_counts(map)->create == 0);
	CHECK(tmap_records(map) == 0);
	free(h);

	TEST("new visitor who inserted then removed: no cookie, no record");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "x", 1));
	CHECK_OK(crumb_state_remove_raw(crumb_session_server(s), "x"));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 0);
	CHECK(tmap_records(map) == 0);
	free(h);

	TEST("new visitor who stored: one record, one cookie");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "x", 1));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tcount_set_cookie(h) == 1);
	CHECK(tmap_counts(map)->create == 1);
	CHECK(tmap_records(map) == 1);
	/* Header format: "Set-Cookie: ...\r\n", no blank line. */
	CHECK(h != NULL && strncmp(h, "Set-Cookie: id=", 15) == 0);
	CHECK(h != NULL && strlen(h) > 2 &&
	    strcmp(h + strlen(h) - 2, "\r\n") == 0);
	CHECK(h != NULL && strstr(h, "\r\n\r\n") == NULL);
	CHECK(h != NULL && strchr(h, '\n') == h + strlen(h) - 1);
	free(h);
}

static void
test_unchanged(crumb_config *cfg)
{
	char *pair = seed(cfg), *out;
	int alive;

	TEST("unchanged request before the threshold: nothing written");
	tmap_reset(map);
	out = read_at(cfg, pair, T_START + 10, &alive);
	CHECK(alive);
	CHECK(out == NULL);
	CHECK(tmap_counts(map)->update == 0);
	CHECK(tmap_counts(map)->touch == 0);
	CHECK(tmap_counts(map)->create == 0);
	free(out);
	free(pair);
	clk.now = T_START;
}

static void
test_on_request(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x41);
	char *pair, *out;
	int alive;

	TEST("TTL_ON_REQUEST with threshold");
	CHECK_OK(crumb_config_set_ttl(cfg, 1000));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST,
	    100));
	clk.now = T_START;
	pair = seed(cfg);
	tmap_reset(map);
	out = read_at(cfg, pair, T_START + 50, &alive);
	CHECK(alive);
	CHECK(out == NULL);
	CHECK(tmap_counts(map)->touch == 0 && tmap_counts(map)->update == 0);
	free(out);

	tmap_reset(map);
	{
		crumb_session *s;
		char *h = NULL;
		double d;

		clk.now = T_START + 150;
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n",
		    &d));
		CHECK_OK(tend(s, "id", &h, &out));
		CHECK(tmap_counts(map)->touch + tmap_counts(map)->update == 1);
		CHECK(out != NULL);
		CHECK(h != NULL && tmax_age(h) == 1000);
		free(h);
	}
	if (out != NULL) {
		free(pair);
		pair = out;
	}
	/* The original expiry (T+1000) has moved to T+1150. */
	CHECK(visit(cfg, &pair, T_START + 1100));

	TEST("TTL_ON_REQUEST: threshold counts from the last extension");
	/* T+1100 extended again (>= 100 s since T+150). */
	tmap_reset(map);
	CHECK(visit(cfg, &pair, T_START + 1150));
	CHECK(tmap_counts(map)->touch == 0 && tmap_counts(map)->update == 0);
	free(pair);

	TEST("TTL_ON_REQUEST: a write within the threshold keeps the expiry");
	clk.now = T_START;
	pair = seed(cfg);
	{
		crumb_session *s;
		char *h = NULL;

		/* Within the threshold: the record is written, its expiry
		 * and the cookie stay as they were (no Set-Cookie). */
		clk.now = T_START + 50;
		tmap_reset(map);
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "w",
		    1));
		CHECK_OK(tend(s, "id", &h, &out));
		CHECK(tmap_counts(map)->update == 1);
		CHECK(out == NULL);
		free(h);
		free(out);
		/* Past the threshold: the write extends, a new cookie. */
		clk.now = T_START + 150;
		tmap_reset(map);
		s = tbegin(cfg, pair);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "w",
		    2));
		h = NULL;
		CHECK_OK(tend(s, "id", &h, &out));
		CHECK(tmap_counts(map)->update == 1);
		CHECK(out != NULL);
		CHECK(h != NULL && tmax_age(h) == 1000);
		free(h);
	}
	/* The old cookie's expiry (T+1000) has passed, the record lives on
	 * to T+1150 under the new one. */
	CHECK(!visit(cfg, &pair, T_START + 1001));
	if (out != NULL) {
		free(pair);
		pair = out;
	}
	CHECK(visit(cfg, &pair, T_START + 1100));
	free(pair);

	TEST("TTL_ON_REQUEST threshold 0: every request extends");
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST, 0));
	clk.now = T_START;
	pair = seed(cfg);
	tmap_reset(map);
	out = read_at(cfg, pair, T_START + 1, &alive);
	CHECK(alive);
	CHECK(tmap_counts(map)->touch + tmap_counts(map)->update == 1);
	CHECK(out != NULL);
	free(out);
	free(pair);
	crumb_config_free(cfg);
	clk.now = T_START;
}

static void
test_on_change(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x42);
	crumb_session *s;
	char *pair, *out;
	int alive;

	TEST("TTL_ON_CHANGE: reads never extend");
	CHECK_OK(crumb_config_set_ttl(cfg, 1000));
	CHECK_OK(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_CHANGE, 0));
	clk.now = T_START;
	pair = seed(cfg);
	tmap_reset(map);
	out = read_at(cfg, pair, T_START + 600, &alive);
	CHECK(alive);
	CHECK(out == NULL);
	CHECK(tmap_counts(map)->touch == 0 && tmap_counts(map)->update == 0);
	free(out);
	free(read_at(cfg, pair, T_START + 1001, &alive));
	CHECK(!alive);
	free(pair);

	TEST("TTL_ON_CHANGE: a change extends");
	clk.now = T_START;
	pair = seed(cfg);
	clk.now = T_START + 600;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "m", 2));
	out = NULL;
	CHECK_OK(tend(s, "id", NULL, &out));
	if (out != NULL) {
		free(pair);
		pair = out;
	}
	CHECK(visit(cfg, &pair, T_START + 1100));
	CHECK(!visit(cfg, &pair, T_START + 1601));
	free(pair);
	crumb_config_free(cfg);
	clk.now = T_START;
}

static void
test_expiry_override(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x43);
	crumb_session *s;
	char *h = NULL, *line, *pair = NULL;

	TEST("config persistent: Max-Age = TTL");
	CHECK_OK(crumb_config_set_ttl(cfg, 500));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tmax_age(h) == 500);
	free(h);

	TEST("config browser-session: no Max-Age / Expires");
	CHECK_OK(crumb_config_set_persistent(cfg, 0));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	line = h ? tcookie_line(h, "id") : NULL;
	CHECK(line != NULL);
	if (line != NULL) {
		CHECK(!tcookie_attr(line, "Max-Age", NULL, 0));
		CHECK(!tcookie_attr(line, "Expires", NULL, 0));
	}
	free(line);
	free(h);

	TEST("set_expiry: persistent override (remember me)");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_set_expiry(s, 7 * 86400, 1));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, &pair));
	CHECK(h != NULL && tmax_age(h) == 7 * 86400);
	free(h);
	REQUIRE(pair != NULL);
	/* Kept for later requests: past the configured TTL it still lives,
	 * and the next re-issued cookie is still persistent. */
	CHECK(visit(cfg, &pair, T_START + 501));
	clk.now = T_START + 600;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c", "x"));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	CHECK(h != NULL && tmax_age(h) > 500);
	free(h);
	free(pair);
	clk.now = T_START;

	TEST("set_expiry: browser-session override");
	CHECK_OK(crumb_config_set_persistent(cfg, 1));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_set_expiry(s, 0, 0));
	h = NULL;
	pair = NULL;
	CHECK_OK(tend(s, "id", &h, &pair));
	line = h ? tcookie_line(h, "id") : NULL;
	CHECK(line != NULL);
	if (line != NULL) {
		CHECK(!tcookie_attr(line, "Max-Age", NULL, 0));
		CHECK(!tcookie_attr(line, "Expires", NULL, 0));
	}
	free(line);
	free(h);
	REQUIRE(pair != NULL);
	/* Still server-side TTL bound (config TTL 500). */
	CHECK(visit(cfg, &pair, T_START + 100));
	/* The override is kept: a later cookie is still browser-session. */
	clk.now = T_START + 200;
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c", "y"));
	h = NULL;
	CHECK_OK(tend(s, "id", &h, NULL));
	line = h ? tcookie_line(h, "id") : NULL;
	CHECK(line != NULL && !tcookie_attr(line, "Max-Age", NULL, 0));
	free(line);
	free(h);
	CHECK(!visit(cfg, &pair, T_START + 5000));
	free(pair);

	TEST("set_expiry: short TTL");
	clk.now = T_START;
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_session_set_expiry(s, 50, 1));
	h = NULL;
	pair = NULL;
	CHECK_OK(tend(s, "id", &h, &pair));
	CHECK(h != NULL && tmax_age(h) == 50);
	free(h);
	REQUIRE(pair != NULL);
	CHECK(!visit(cfg, &pair, T_START + 51));
	free(pair);
	CHECK(crumb_session_set_expiry(NULL, 0, 1) == CRUMB_E_INVAL);
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_set_expiry(s, -5, 1), CRUMB_E_INVAL);
	crumb_session_free(s);
	crumb_config_free(cfg);
	clk.now = T_START;
}

struct sink {
	char buf[8192];
	size_t len;
	int calls, fail;
};

static int
sink_write(const char *buf, size_t len, void *ud)
{
	struct sink *k = ud;

	k->calls++;
	if (k->fail)
		return -1;
	if (k->len + len >= sizeof(k->buf))
		return -1;
	memcpy(k->buf + k->len, buf, len);
	k->len += len;
	k->buf[k->len] = '\0';
	return 0;
}

static void
test_write_and_state(crumb_config *cfg)
{
	crumb_session *s;
	struct sink k;
	char *h = NULL;
	const char *v;

	TEST("crumb_session_finish through a write callback");
	memset(&k, 0, sizeof(k));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(crumb_cookie_set(s, "other", "v", -1, NULL, NULL, 0));
	CHECK_OK(crumb_session_finish(s, sink_write, &k));
	CHECK(k.calls >= 1);
	CHECK(tcount_set_cookie(k.buf) == 2);
	CHECK(strncmp(k.buf, "Set-Cookie: ", 12) == 0);
	CHECK(k.len >= 2 && strcmp(k.buf + k.len - 2, "\r\n") == 0);

	TEST("calls after finish: CRUMB_E_STATE");
	CHECK_RC(crumb_session_finish(s, sink_write, &k), CRUMB_E_STATE);
	CHECK_RC(crumb_session_finish_str(s, &h), CRUMB_E_STATE);
	CHECK_RC(crumb_session_cycle_id(s), CRUMB_E_STATE);
	CHECK_RC(crumb_session_save(s), CRUMB_E_STATE);
	CHECK_RC(crumb_cookie_set(s, "a", "b", -1, NULL, NULL, 0),
	    CRUMB_E_STATE);
	CHECK_RC(crumb_state_insert_number(crumb_session_server(s), "n", 2),
	    CRUMB_E_STATE);
	crumb_free(h);
	crumb_session_free(s);

	TEST("a failing write callback: CRUMB_E_IO");
	memset(&k, 0, sizeof(k));
	k.fail = 1;
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_RC(crumb_session_finish(s, sink_write, &k), CRUMB_E_IO);
	crumb_session_free(s);

	TEST("finish with nothing to say does not call write");
	memset(&k, 0, sizeof(k));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_finish(s, sink_write, &k));
	CHECK(k.len == 0);
	crumb_session_free(s);

	TEST("finish with a NULL writer");
	s = tbegin(cfg, NULL);
	CHECK_RC(crumb_session_finish(s, NULL, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_finish_str(s, NULL), CRUMB_E_INVAL);
	crumb_session_free(s);

	TEST("freeing an unfinished session writes nothing");
	tmap_reset(map);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	crumb_session_free(s);
	CHECK(tmap_counts(map)->create == 0);
	(void)v;
}

int
main(void)
{
	crumb_config *cfg;

	map = tmap_store_new(&store);
	cfg = tcfg_new(store, &clk, 0x40);
	test_new_visitor(cfg);
	test_unchanged(cfg);
	test_on_request();
	test_on_change();
	test_expiry_override();
	test_write_and_state(cfg);
	crumb_config_free(cfg);
	crumb_store_free(store);
	return CHECK_DONE();
}
