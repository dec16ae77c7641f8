/*
 * The store contract (crumb.h, crumb_store_ops), checked against the
 * store a URL names: tests/test-conformance URL (or CRUMB_TEST_STORE;
 * memory: when neither is given).
 * The same checks for every backend, through crumb_store_open, the
 * public session API and, where a promise is about one op, the ops
 * table itself.  tests/test-conformance.sh runs it for each store URL.
 *
 * Times are an injected clock in 1970-71 (below T_END), so the checks
 * never touch the records of real sessions in a shared database, and a
 * purge at T_END at the end removes what they left.  Names of users
 * carry the process ID, so two runs do not see each other's sessions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"

#define T_END INT64_C(100000000)
#define PROCS 4
#define ROUNDS 50

static const char *url;
static int per_process;          /* memory: one store per process */
static struct tclock clk;
static crumb_store *st1, *st2;   /* two handles: two processes' view */
static const crumb_store_ops *ops;
static void *ctx;
static char tag[32];

static void
rand_hash(uint8_t h[CRUMB_HASH_LEN])
{
	FILE *f = fopen("/dev/urandom", "rb");

	REQUIRE(f != NULL && fread(h, 1, CRUMB_HASH_LEN, f) == CRUMB_HASH_LEN);
	fclose(f);
}

static crumb_store *
open_store(void)
{
	char err[256];
	crumb_store *st = NULL;
	int rc = crumb_store_open(url, &st, err, sizeof(err));

	if (rc != CRUMB_OK)
		fprintf(stderr, "crumb_store_open(%s): %s: %s\n", url,
		    crumb_strerror(rc), err);
	REQUIRE(rc == CRUMB_OK);
	return st;
}

/* A config on st: TTL ttl, extension on change, no absolute lifetime. */
static crumb_config *
cfg_on(crumb_store *st, int64_t ttl)
{
	crumb_config *cfg = tcfg_new(st, &clk, 0x5a);

	REQUIRE(crumb_config_set_ttl(cfg, ttl) == CRUMB_OK);
	REQUIRE(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_CHANGE, 0) ==
	    CRUMB_OK);
	REQUIRE(crumb_config_set_absolute_lifetime(cfg, 0) == CRUMB_OK);
	return cfg;
}

static char *
user_name(const char *what)
{
	char *u = malloc(128);

	REQUIRE(u != NULL);
	snprintf(u, 128, "%s \"%s\" Zo\xc3\xab's \xf0\x9f\x8d\xaa \\ <b>", what,
	    tag);
	return u;
}

static int
load_at(const uint8_t *h, int64_t now, crumb_record *r)
{
	memset(r, 0, sizeof(*r));
	return ops->load(ctx, h, now, r);
}

static int
state_is(const crumb_record *r, const char *want)
{
	return r->state != NULL && r->state_len == strlen(want) &&
	    memcmp(r->state, want, r->state_len) == 0;
}

static int
no_label(const crumb_record *r)
{
	return r->label == NULL || r->label[0] == '\0';
}

/* ---- op by op ---------------------------------------------------- */

static void
check_ops(void)
{
	const char *u = "op \"user\" \xc3\xbc";
	int64_t t = 2000000;
	uint8_t h1[32], h2[32], h3[32], h4[32], hx[32];
	crumb_record r;

	rand_hash(h1);
	rand_hash(h2);
	rand_hash(h3);
	rand_hash(h4);
	rand_hash(hx);

	TEST("create, then load fills every field");
	CHECK_OK(ops->create(ctx, h1, "{\"a\":1}", 7, u, t, t + 100));
	CHECK_OK(load_at(h1, t, &r));
	CHECK(state_is(&r, "{\"a\":1}"));
	CHECK_STR(r.user, u);
	CHECK(r.version == 1);
	CHECK(r.created == t && r.last_seen == t && r.expires == t + 100);
	CHECK(no_label(&r));

	TEST("create on a live hash: CONFLICT, the record unchanged");
	CHECK_RC(ops->create(ctx, h1, "{\"b\":2}", 7, NULL, t, t + 500),
	    CRUMB_E_CONFLICT);
	CHECK_OK(load_at(h1, t, &r));
	CHECK(state_is(&r, "{\"a\":1}") && r.expires == t + 100);
	CHECK_STR(r.user, u);

	TEST("update: version + 1, last_seen = now, expires 0 keeps it");
	CHECK_OK(ops->update(ctx, h1, NULL, 1, "{\"a\":2}", 7, u, t + 1, 0));
	CHECK_OK(load_at(h1, t + 1, &r));
	CHECK(state_is(&r, "{\"a\":2}"));
	CHECK(r.version == 2 && r.created == t && r.last_seen == t + 1 &&
	    r.expires == t + 100);

	TEST("update with a stale version: CONFLICT, nothing changes");
	CHECK_RC(ops->update(ctx, h1, NULL, 1, "{\"x\":0}", 7, NULL, t + 2, 0),
	    CRUMB_E_CONFLICT);
	CHECK_RC(ops->update(ctx, h1, NULL, 3, "{\"x\":0}", 7, NULL, t + 2, 0),
	    CRUMB_E_CONFLICT);
	CHECK_OK(load_at(h1, t + 2, &r));
	CHECK(state_is(&r, "{\"a\":2}") && r.version == 2 &&
	    r.last_seen == t + 1);
	CHECK_STR(r.user, u);

	TEST("update: user NULL unties, expires is set");
	CHECK_OK(ops->update(ctx, h1, NULL, 2, "{}", 2, NULL, t + 2, t + 200));
	CHECK_OK(load_at(h1, t + 2, &r));
	CHECK(r.user == NULL && r.version == 3 && r.expires == t + 200);

	TEST("touch: expires and last_seen only, version kept");
	CHECK_OK(ops->touch(ctx, h1, t + 3, t + 300));
	CHECK_OK(load_at(h1, t + 3, &r));
	CHECK(r.version == 3 && r.last_seen == t + 3 && r.expires == t + 300 &&
	    r.created == t && state_is(&r, "{}"));
	CHECK_OK(ops->touch(ctx, h1, t + 3, t + 250));
	CHECK_OK(load_at(h1, t + 3, &r));
	CHECK(r.expires == t + 250);

	TEST("change_id: moved, version kept, old hash gone");
	CHECK_OK(ops->change_id(ctx, h1, h2, t + 4));
	CHECK_RC(load_at(h1, t + 4, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(load_at(h2, t + 4, &r));
	CHECK(r.version == 3 && r.created == t && r.last_seen == t + 4 &&
	    r.expires == t + 250 && state_is(&r, "{}"));

	TEST("renames onto a live hash: CONFLICT, both records unchanged");
	CHECK_OK(ops->create(ctx, h3, "{\"three\":3}", 11, NULL, t, t + 100));
	CHECK_RC(ops->change_id(ctx, h2, h3, t + 5), CRUMB_E_CONFLICT);
	CHECK_RC(ops->update(ctx, h2, h3, 3, "{\"z\":1}", 7, NULL, t + 5, 0),
	    CRUMB_E_CONFLICT);
	CHECK_OK(load_at(h2, t + 5, &r));
	CHECK(state_is(&r, "{}") && r.version == 3);
	CHECK_OK(load_at(h3, t + 5, &r));
	CHECK(state_is(&r, "{\"three\":3}") && r.version == 1);

	TEST("update with new_hash: written and moved at once");
	CHECK_OK(ops->update(ctx, h2, h4, 3, "{\"r\":1}", 7, "x", t + 6, 0));
	CHECK_RC(load_at(h2, t + 6, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(load_at(h4, t + 6, &r));
	CHECK(state_is(&r, "{\"r\":1}") && r.version == 4 &&
	    r.created == t && r.expires == t + 250);
	CHECK_STR(r.user, "x");

	TEST("an absent record: NOT_FOUND, remove is OK");
	CHECK_RC(load_at(hx, t, &r), CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->update(ctx, hx, NULL, 1, "{}", 2, NULL, t, 0),
	    CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->touch(ctx, hx, t, t + 10), CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->change_id(ctx, hx, h1, t), CRUMB_E_NOT_FOUND);
	CHECK_RC(load_at(h1, t, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(ops->remove(ctx, hx));
	CHECK_OK(ops->remove(ctx, h4));
	CHECK_RC(load_at(h4, t + 6, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(ops->remove(ctx, h4));
	CHECK_OK(ops->remove(ctx, h3));

	TEST("errmsg: a string, also after a success");
	CHECK(ops->errmsg == NULL || ops->errmsg(ctx) != NULL);
	CHECK(crumb_store_errmsg(st1) != NULL);
}

/* ---- expiry: expires == now is gone ------------------------------ */

struct listing {
	size_t n;
	size_t stop_after;         /* 0: never */
	crumb_session_info info[16];
};

static int
gather(const crumb_session_info *info, void *ud)
{
	struct listing *l = ud;

	if (l->n < 16)
		l->info[l->n] = *info;
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after;
}

static size_t
count_listed(const char *user, int64_t now)
{
	struct listing l;

	memset(&l, 0, sizeof(l));
	CHECK_OK(ops->user_list(ctx, user, now, gather, &l));
	return l.n;
}

static void
check_expiry(void)
{
	int64_t t = 3000000, e = t + 100;
	char *u = user_name("expiry");
	uint8_t h[32];
	crumb_record r;
	crumb_config *cfg;
	char *c;

	TEST("expires == now: gone for load, update, touch, change_id, list");
	rand_hash(h);
	CHECK_OK(ops->create(ctx, h, "{}", 2, u, t, e));
	CHECK_OK(load_at(h, e - 1, &r));
	CHECK(count_listed(u, e - 1) == 1);
	CHECK_RC(load_at(h, e, &r), CRUMB_E_NOT_FOUND);
	CHECK_RC(load_at(h, e + 1, &r), CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->update(ctx, h, NULL, 1, "{\"a\":1}", 7, u, e, 0),
	    CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->update(ctx, h, NULL, 9, "{\"a\":1}", 7, u, e, 0),
	    CRUMB_E_NOT_FOUND);
	CHECK_RC(ops->touch(ctx, h, e, e + 100), CRUMB_E_NOT_FOUND);
	{
		uint8_t h2[32];

		rand_hash(h2);
		CHECK_RC(ops->change_id(ctx, h, h2, e), CRUMB_E_NOT_FOUND);
		CHECK_RC(load_at(h2, e - 1, &r), CRUMB_E_NOT_FOUND);
	}
	CHECK(count_listed(u, e) == 0);
	/* Nothing above brought it back. */
	CHECK_OK(load_at(h, e - 1, &r));
	CHECK(r.version == 1 && r.expires == e && state_is(&r, "{}"));
	CHECK_OK(ops->remove(ctx, h));

	TEST("a session of TTL 100 is there at 99 s, gone at 100 s");
	clk.now = t;
	cfg = cfg_on(st1, 100);
	c = tlogin(cfg, u, NULL);
	clk.now = t + 99;
	CHECK(talive(cfg, c));
	clk.now = t + 100;
	CHECK(!talive(cfg, c));
	free(c);
	crumb_config_free(cfg);
	free(u);
}

/* ---- sessions through the public API ----------------------------- */

static void
check_round_trip(void)
{
	crumb_config *a = cfg_on(st1, 1000), *b = cfg_on(st2, 1000);
	char *u = user_name("round");
	const char *text = "h\xc3\xa9llo \"quoted\" \\ \xe2\x9c\x93 "
	    "\xf0\x9f\x98\x80 </script>";
	crumb_session *s;
	const cJSON *v;
	const char *str, *gu;
	double n;
	char *c;

	clk.now = 4000000;
	TEST("round trip through a second store handle: state and user");
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "s", text));
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 42.5));
	CHECK_OK(crumb_state_insert_json(crumb_session_server(s), "j",
	    "{\"k\":[1,\"two\",null,true,{\"\xc3\xbc\":\"\\u0000x\"}]}"));
	CHECK_OK(crumb_session_set_user(s, u));
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	s = tbegin(b, c);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "s", &str));
	CHECK_STR(str, text);
	CHECK_OK(crumb_state_get_number(crumb_session_server(s), "n", &n));
	CHECK(n == 42.5);
	CHECK_OK(crumb_state_get(crumb_session_server(s), "j", &v));
	CHECK(v != NULL && cJSON_IsObject(v));
	CHECK_OK(crumb_session_get_user(s, &gu));
	CHECK_STR(gu, u);
	crumb_session_free(s);

	TEST("CAS: a write from another handle is not lost (replay)");
	{
		crumb_session *s1 = tbegin(a, c), *s2;
		double x;

		CHECK_OK(crumb_session_load(s1));
		s2 = tbegin(b, c);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s2),
		    "b", 1));
		CHECK_OK(tend(s2, "id", NULL, NULL));
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s1),
		    "a", 1));
		CHECK_OK(tend(s1, "id", NULL, NULL));
		CHECK(tread_number(b, c, "a") == 1);
		CHECK(tread_number(b, c, "b") == 1);
		CHECK(tread_number(a, c, "n") == 42.5);
		/* Both wrote: the record is at version 3. */
		s1 = tbegin(b, c);
		CHECK_OK(crumb_state_get_number(crumb_session_server(s1), "b",
		    &x));
		crumb_session_free(s1);
	}

	TEST("rename (cycle_id): the new ID works, the old one is dead");
	{
		crumb_session *s1 = tbegin(a, c);
		char *c2 = NULL;

		CHECK_OK(crumb_session_cycle_id(s1));
		CHECK_OK(tend(s1, "id", NULL, &c2));
		REQUIRE(c2 != NULL);
		CHECK(strcmp(c, c2) != 0);
		CHECK(tread_number(b, c2, "n") == 42.5);
		CHECK(tread_number(b, c2, "a") == 1);
		CHECK(tread_number(b, c, "n") == -1);
		s1 = tbegin(b, c);
		CHECK_OK(crumb_session_get_user(s1, &gu));
		CHECK(gu == NULL);
		crumb_session_free(s1);
		free(c2);
	}
	free(c);
	free(u);
	crumb_config_free(a);
	crumb_config_free(b);
}

static void
check_touch(void)
{
	crumb_config *cfg = cfg_on(st1, 1000), *b = cfg_on(st2, 1000);
	char *u = user_name("touch"), *c, *c2 = NULL;
	struct listing l;
	crumb_session *s;

	TEST("extension: a request without changes pushes the expiry back");
	REQUIRE(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST, 0) ==
	    CRUMB_OK);
	clk.now = 5000000;
	c = tlogin(cfg, u, NULL);
	clk.now += 900;
	s = tbegin(cfg, c);
	CHECK(crumb_session_is_new(s) == 0);
	/* The cookie carries the new expiry too. */
	CHECK_OK(tend(s, "id", NULL, &c2));
	REQUIRE(c2 != NULL);
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(b, u, gather, &l));
	CHECK(l.n == 1 && l.info[0].expires == 5000000 + 900 + 1000);
	CHECK(l.n == 1 && l.info[0].created == 5000000);
	CHECK(l.n == 1 && l.info[0].last_seen == 5000000 + 900);
	clk.now = 5000000 + 1500;
	CHECK(talive(b, c2));
	CHECK(count_listed(u, clk.now) == 1);
	clk.now = 5000000 + 1900;
	CHECK(count_listed(u, clk.now) == 0);
	free(c);
	free(c2);
	free(u);
	crumb_config_free(cfg);
	crumb_config_free(b);
}

/* ---- purge --------------------------------------------------------- */

struct progress {
	uint64_t *seen;
	unsigned calls;
};

static int
on_batch(uint64_t deleted, void *ud)
{
	struct progress *p = ud;

	if (p->calls < 8)
		p->seen[p->calls] = deleted;
	p->calls++;
	return 0;
}

static void
check_purge(void)
{
	int64_t base = 50000000, mid = base + 5000;
	uint8_t old[12][32], young[3][32];
	crumb_record r;
	uint64_t n;
	int i;

	TEST("purge in batches: exact counts, live records kept");
	/* Whatever earlier checks or runs left to expire by mid goes
	 * first, so that the counts below are this check's alone. */
	CHECK_OK(crumb_store_purge(st1, mid, 0, &n));
	for (i = 0; i < 7; i++) {
		rand_hash(old[i]);
		CHECK_OK(ops->create(ctx, old[i], "{}", 2, NULL, base,
		    base + 100 + i));
	}
	for (i = 0; i < 3; i++) {
		rand_hash(young[i]);
		CHECK_OK(ops->create(ctx, young[i], "{\"y\":1}", 7, NULL, base,
		    mid + 1 + i));
	}
	n = 99;
	CHECK_OK(ops->purge(ctx, mid, 3, &n));
	CHECK(n == 3);
	CHECK_OK(ops->purge(ctx, mid, 3, &n));
	CHECK(n == 3);
	CHECK_OK(ops->purge(ctx, mid, 3, &n));
	CHECK(n == 1);
	CHECK_OK(ops->purge(ctx, mid, 3, &n));
	CHECK(n == 0);
	for (i = 0; i < 7; i++)
		CHECK_RC(load_at(old[i], base, &r), CRUMB_E_NOT_FOUND);
	for (i = 0; i < 3; i++) {
		CHECK_OK(load_at(young[i], mid, &r));
		CHECK(state_is(&r, "{\"y\":1}"));
	}

	TEST("crumb_store_purge_v2: batches of 2 count 5, progress after each; "
	    "expires == now goes");
	for (i = 0; i < 4; i++) {
		rand_hash(old[i]);
		CHECK_OK(ops->create(ctx, old[i], "{}", 2, NULL, base,
		    base + 200));
	}
	rand_hash(old[4]);
	CHECK_OK(ops->create(ctx, old[4], "{}", 2, NULL, base, mid));
	{
		uint64_t seen[8];
		struct progress p = { seen, 0 };

		CHECK_OK(crumb_store_purge_v2(st1, mid, 2, on_batch, &p, &n));
		CHECK(n == 5);
		/* After each batch: 2, 4, then the last (1, so done). */
		CHECK(p.calls == 3 && seen[0] == 2 && seen[1] == 4 &&
		    seen[2] == 5);
	}
	CHECK_OK(crumb_store_purge(st1, mid, 2, &n));
	CHECK(n == 0);
	for (i = 0; i < 3; i++)
		CHECK_OK(load_at(young[i], mid, &r));
	CHECK_OK(crumb_store_purge(st1, mid + 2, 0, &n));
	CHECK(n == 2);
	CHECK_OK(load_at(young[2], mid + 2, &r));
	CHECK_OK(ops->remove(ctx, young[2]));
}

/* ---- users --------------------------------------------------------- */

static void
check_users(void)
{
	crumb_config *a = cfg_on(st1, 10000), *b = cfg_on(st2, 10000);
	char *u = user_name("list"), *v = user_name("other"), *c[8], *cv;
	struct listing l;
	uint64_t n;
	size_t i, j;
	int64_t t = 6000000;

	TEST("user_list: live sessions only, most recently seen first");
	for (i = 0; i < 8; i++) {
		clk.now = t + (int64_t)((i * 5) % 8);   /* not in order */
		c[i] = tlogin(a, u, NULL);
	}
	{
		/* One that has expired by the listing. */
		crumb_session *s;

		clk.now = t;
		s = tbegin(a, NULL);
		CHECK_OK(crumb_session_set_expiry(s, 50, 1));
		CHECK_OK(crumb_state_insert_string(crumb_session_server(s),
		    "u", u));
		CHECK_OK(crumb_session_set_user(s, u));
		CHECK_OK(tend(s, "id", NULL, NULL));
	}
	clk.now = t + 60;
	cv = tlogin(a, v, NULL);
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(b, u, gather, &l));
	CHECK(l.n == 8);
	for (i = 0; i < l.n && i < 8; i++) {
		CHECK(l.info[i].expires > clk.now);
		CHECK(strlen(l.info[i].id_hash) == 64 &&
		    strspn(l.info[i].id_hash, "0123456789abcdef") == 64);
		CHECK(l.info[i].created == l.info[i].last_seen);
		CHECK(l.info[i].label[0] == '\0');
		if (i > 0)
			CHECK(l.info[i - 1].last_seen >= l.info[i].last_seen);
		for (j = 0; j < i; j++)
			CHECK(strcmp(l.info[i].id_hash,
			    l.info[j].id_hash) != 0);
	}
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	CHECK_OK(crumb_user_sessions(b, u, gather, &l));
	CHECK(l.n == 2);
	CHECK(count_listed("nobody at all \xc3\xbc", clk.now) == 0);

	TEST("user_remove: every session of the user, no other");
	CHECK_OK(crumb_user_logout_all(b, u, &n));
	CHECK(n == 8 || n == 9);        /* the expired one may count */
	CHECK(count_listed(u, clk.now) == 0);
	for (i = 0; i < 8; i++) {
		CHECK(!talive(b, c[i]));
		free(c[i]);
	}
	CHECK(talive(b, cv));
	CHECK_OK(crumb_user_logout_all(b, u, &n));
	CHECK(n == 0);

	TEST("revoke: only the owner ends a session");
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(a, v, gather, &l));
	REQUIRE(l.n == 1);
	CHECK_RC(crumb_user_revoke(a, u, l.info[0].id_hash), CRUMB_E_NOT_FOUND);
	CHECK(talive(b, cv));
	CHECK_OK(crumb_user_revoke(a, v, l.info[0].id_hash));
	CHECK(!talive(b, cv));
	CHECK(count_listed(v, clk.now) == 0);
	free(cv);
	free(u);
	free(v);
	crumb_config_free(a);
	crumb_config_free(b);
}

/* ---- labels -------------------------------------------------------- */

static int
hash_of_hex(const char *hex, uint8_t *h)
{
	unsigned x;
	int i;

	for (i = 0; i < CRUMB_HASH_LEN; i++) {
		if (sscanf(hex + 2 * i, "%2x", &x) != 1)
			return 0;
		h[i] = (uint8_t)x;
	}
	return 1;
}

static void
check_labels(void)
{
	crumb_config *a = cfg_on(st1, 1000), *b = cfg_on(st2, 1000);
	const char *label = "Firefox on Linux \xe2\x80\x94 \xc3\xbc";
	char *u = user_name("label"), *c, *c2 = NULL;
	struct listing l;
	crumb_session *s;
	crumb_record r;
	uint8_t h[32];

	if (ops->set_label == NULL) {
		printf("-- labels: this store keeps none (no set_label)\n");
		free(u);
		crumb_config_free(a);
		crumb_config_free(b);
		return;
	}
	TEST("labels: kept, listed, loaded; through update, touch, rename");
	clk.now = 7000000;
	c = tlogin(a, u, label);
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(b, u, gather, &l));
	REQUIRE(l.n == 1);
	CHECK_STR(l.info[0].label, label);
	REQUIRE(hash_of_hex(l.info[0].id_hash, h));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK_STR(r.label, label);
	CHECK(r.version == 1);
	CHECK_OK(ops->set_label(ctx, h, "other"));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK_STR(r.label, "other");
	CHECK(r.version == 1 && r.last_seen == clk.now);
	CHECK_OK(ops->set_label(ctx, h, label));
	clk.now += 10;
	s = tbegin(b, c);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "w", 1));
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK_OK(ops->touch(ctx, h, clk.now, clk.now + 500));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK_STR(r.label, label);
	CHECK(r.version == 2);
	s = tbegin(a, c);
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK_OK(tend(s, "id", NULL, &c2));
	memset(&l, 0, sizeof(l));
	CHECK_OK(crumb_user_sessions(b, u, gather, &l));
	CHECK(l.n == 1 && strcmp(l.info[0].label, label) == 0);
	{
		uint8_t x[32];

		rand_hash(x);
		CHECK_RC(ops->set_label(ctx, x, "x"), CRUMB_E_NOT_FOUND);
	}
	CHECK_OK(crumb_user_logout_all(a, u, NULL));
	free(c);
	free(c2);
	free(u);
	crumb_config_free(a);
	crumb_config_free(b);
}

/* ---- administration: stats, scan, import ------------------------- */

#define ADM_N 8

struct adm_walk {
	uint8_t hash[ADM_N][32];      /* the records this check made */
	unsigned seen[ADM_N];
	int64_t version[ADM_N];
	uint8_t prev[32];
	int have_prev, ordered, fields_ok;
	unsigned calls, stop_at;
	const char *user_a;
};

static int
adm_step(const uint8_t *hash, const crumb_record *rec, void *ud)
{
	struct adm_walk *w = ud;
	int i;

	if (w->have_prev && memcmp(w->prev, hash, 32) >= 0)
		w->ordered = 0;
	memcpy(w->prev, hash, 32);
	w->have_prev = 1;
	w->calls++;
	for (i = 0; i < ADM_N; i++) {
		if (memcmp(w->hash[i], hash, 32) != 0)
			continue;
		w->seen[i]++;
		if (!state_is(rec, "{\"adm\":1}") || rec->version != 1 ||
		    rec->created != 11000000 - 50 || rec->last_seen !=
		    rec->created || rec->expires != 11000000 + 100 + i)
			w->fields_ok = 0;
		if (i < 3 && (rec->user == NULL ||
		    strcmp(rec->user, w->user_a) != 0))
			w->fields_ok = 0;
	}
	return w->stop_at != 0 && w->calls >= w->stop_at ? 7 : 0;
}

static void
check_admin(void)
{
	int64_t t = 11000000;
	char *ua = user_name("adm-a"), *ub = user_name("adm-b");
	const char *label = "Firefox \xe2\x80\x94 \xc3\xbc";
	crumb_store_counts c0, c1, b0, b1;
	struct adm_walk w;
	crumb_record r, in;
	uint8_t hx[32], he[32];
	int i, written;

	TEST("stats: exact counts of records, live, expired and users");
	CHECK_OK(crumb_store_stats(st1, t, &c0));
	CHECK(c0.live + c0.expired == c0.records);
	CHECK_OK(crumb_store_stats(st1, t - 50, &b0));
	memset(&w, 0, sizeof(w));
	w.ordered = w.fields_ok = 1;
	w.user_a = ua;
	/* 0-2 live of user a, 3-4 live of user b, 5 live without a user,
	 * 6-7 expired at t (one of them at expires == t). */
	for (i = 0; i < ADM_N; i++) {
		rand_hash(w.hash[i]);
		CHECK_OK(ops->create(ctx, w.hash[i], "{\"adm\":1}", 9,
		    i < 3 ? ua : i < 5 ? ub : i < 6 ? NULL : ua, t - 50,
		    i < 6 ? t + 100 + i : t - 7 + i));
	}
	CHECK_OK(crumb_store_stats(st2, t, &c1));
	CHECK(c1.records == c0.records + 8);
	CHECK(c1.live == c0.live + 6);
	CHECK(c1.expired == c0.expired + 2);
	CHECK(c1.users == c0.users + 2);
	CHECK(c1.bytes == -1 || c1.bytes > 0);
	CHECK_OK(crumb_store_stats(st1, t - 50, &b1));
	CHECK(b1.live == b0.live + 8 && b1.records == b0.records + 8);
	CHECK_RC(crumb_store_stats(st1, -1, &c1), CRUMB_E_INVAL);
	CHECK_RC(crumb_store_stats(st1, t, NULL), CRUMB_E_INVAL);

	TEST("scan in pages of 2: every live record once, by hash, exact");
	CHECK_OK(crumb_store_scan(st1, t, 2, adm_step, &w));
	for (i = 0; i < ADM_N; i++)
		CHECK(w.seen[i] == (i < 6 ? 1u : 0u));
	CHECK(w.ordered && w.fields_ok);
	CHECK(w.calls == c0.live + 6);  /* everything live at t */

	TEST("scan: fn's non-zero stops the walk and is returned");
	memset(w.seen, 0, sizeof(w.seen));
	w.calls = 0;
	w.have_prev = 0;
	w.stop_at = 3;
	CHECK_RC(crumb_store_scan(st1, t, 2, adm_step, &w), 7);
	CHECK(w.calls == 3);
	CHECK_RC(crumb_store_scan(st1, t, 0, NULL, NULL), CRUMB_E_INVAL);

	TEST("import: written as given; again at the same version: left alone");
	rand_hash(hx);
	memset(&in, 0, sizeof(in));
	in.state = "{\"moved\":\"\xc3\xa9\"}";
	in.state_len = strlen(in.state);
	in.user = ub;
	in.version = 5;
	in.created = t - 500;
	in.last_seen = t - 20;
	in.expires = t + 300;
	in.label = label;
	written = -1;
	CHECK_OK(crumb_store_import(st1, hx, &in, t, &written));
	CHECK(written == 1);
	CHECK_OK(load_at(hx, t, &r));
	CHECK(state_is(&r, in.state));
	CHECK_STR(r.user, ub);
	CHECK(r.version == 5 && r.created == t - 500 && r.last_seen == t - 20 &&
	    r.expires == t + 300);
	if (ops->set_label != NULL)
		CHECK_STR(r.label, label);
	in.state = "{\"other\":1}";
	in.state_len = strlen(in.state);
	CHECK_OK(crumb_store_import(st2, hx, &in, t, &written));
	CHECK(written == 0);
	in.version = 4;
	CHECK_OK(crumb_store_import(st2, hx, &in, t, &written));
	CHECK(written == 0);
	CHECK_OK(load_at(hx, t, &r));
	CHECK(state_is(&r, "{\"moved\":\"\xc3\xa9\"}") && r.version == 5);

	TEST("import: a newer version replaces, so does anything an expired");
	in.version = 6;
	in.user = NULL;
	in.label = NULL;
	CHECK_OK(crumb_store_import(st1, hx, &in, t, &written));
	CHECK(written == 1);
	CHECK_OK(load_at(hx, t, &r));
	CHECK(state_is(&r, "{\"other\":1}") && r.version == 6 &&
	    r.user == NULL && no_label(&r));
	memcpy(he, w.hash[6], 32);      /* expired at t */
	in.version = 1;
	CHECK_OK(crumb_store_import(st1, he, &in, t, &written));
	CHECK(written == 1);
	CHECK_OK(load_at(he, t, &r));
	CHECK(state_is(&r, "{\"other\":1}") && r.expires == t + 300);

	TEST("import: bad records are INVAL, nothing written");
	rand_hash(hx);
	in.expires = t;
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	in.expires = t + 300;
	in.version = 0;
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	in.version = 1;
	in.user = "tab\tuser";
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	in.user = NULL;
	in.created = in.last_seen + 1;
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	in.created = t - 500;
	in.label = "\xff";
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	in.label = NULL;
	in.state = NULL;
	CHECK_RC(crumb_store_import(st1, hx, &in, t, &written), CRUMB_E_INVAL);
	CHECK(written == 0);
	CHECK_RC(load_at(hx, t, &r), CRUMB_E_NOT_FOUND);

	TEST("crumb_store_revoke: a live record by its hash, either case");
	{
		char hex[65], bad[65];

		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02X", w.hash[0][i]);
		CHECK_OK(crumb_store_revoke(st1, hex, t));
		CHECK_RC(load_at(w.hash[0], t, &r), CRUMB_E_NOT_FOUND);
		CHECK_RC(crumb_store_revoke(st1, hex, t), CRUMB_E_NOT_FOUND);
		CHECK_OK(load_at(w.hash[1], t, &r));
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", w.hash[7][i]);
		CHECK_RC(crumb_store_revoke(st1, hex, t), CRUMB_E_NOT_FOUND);
		memcpy(bad, hex, sizeof(bad));
		bad[63] = 'g';
		CHECK_RC(crumb_store_revoke(st1, bad, t), CRUMB_E_INVAL);
		bad[63] = '\0';
		CHECK_RC(crumb_store_revoke(st1, bad, t), CRUMB_E_INVAL);
		CHECK_RC(crumb_store_revoke(st1, NULL, t), CRUMB_E_INVAL);
	}

	for (i = 0; i < ADM_N; i++)
		CHECK_OK(ops->remove(ctx, w.hash[i]));
	free(ua);
	free(ub);
}

/* ---- lock / unlock and crumb_session_atomic ---------------------- */

static int calls;

static int
bump(crumb_session *s, void *ud)
{
	crumb_state *st = crumb_session_server(s);
	double n = 0;

	(void)ud;
	calls++;
	(void)crumb_state_get_number(st, "n", &n);
	return crumb_state_insert_number(st, "n", n + 1);
}

static int
bump_then_abort(crumb_session *s, void *ud)
{
	bump(s, ud);
	return 7;
}

static void
check_atomic(void)
{
	crumb_config *a = cfg_on(st1, 1000), *b = cfg_on(st2, 1000);
	crumb_session *s;
	crumb_record r;
	uint8_t h[32], h2[32];
	char *c;
	int i;

	TEST("crumb_session_atomic: 10 increments, fn once each when locking");
	clk.now = 8000000;
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 0));
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	calls = 0;
	for (i = 0; i < 10; i++) {
		s = tbegin(i % 2 ? a : b, c);
		CHECK_OK(crumb_session_atomic(s, bump, NULL));
		CHECK_OK(tend(s, "id", NULL, NULL));
	}
	CHECK(tread_number(b, c, "n") == 10);
	if (ops->lock != NULL)
		CHECK(calls == 10);
	else
		printf("-- lock: this store has none; atomic retries on "
		    "CONFLICT\n");

	TEST("atomic abort: its code returned, nothing stored");
	s = tbegin(a, c);
	CHECK_RC(crumb_session_atomic(s, bump_then_abort, NULL), 7);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(tread_number(b, c, "n") == 10);
	free(c);

	if (ops->lock == NULL || ops->unlock == NULL) {
		CHECK(ops->lock == NULL && ops->unlock == NULL);
		crumb_config_free(a);
		crumb_config_free(b);
		return;
	}
	TEST("lock..unlock(0) undoes update, create, remove; unlock(1) keeps");
	rand_hash(h);
	rand_hash(h2);
	CHECK_OK(ops->create(ctx, h, "{\"v\":1}", 7, NULL, clk.now,
	    clk.now + 100));
	CHECK_OK(ops->lock(ctx, h));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK(r.version == 1);
	CHECK_OK(ops->update(ctx, h, NULL, 1, "{\"v\":2}", 7, NULL, clk.now,
	    0));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK(r.version == 2 && state_is(&r, "{\"v\":2}"));
	CHECK_OK(ops->create(ctx, h2, "{}", 2, NULL, clk.now, clk.now + 100));
	CHECK_OK(ops->unlock(ctx, 0));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK(r.version == 1 && state_is(&r, "{\"v\":1}"));
	CHECK_RC(load_at(h2, clk.now, &r), CRUMB_E_NOT_FOUND);
	CHECK_OK(ops->lock(ctx, h));
	CHECK_OK(ops->remove(ctx, h));
	CHECK_OK(ops->unlock(ctx, 0));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK_OK(ops->lock(ctx, h));
	CHECK_OK(ops->update(ctx, h, NULL, 1, "{\"v\":3}", 7, NULL, clk.now,
	    0));
	CHECK_OK(ops->unlock(ctx, 1));
	CHECK_OK(load_at(h, clk.now, &r));
	CHECK(r.version == 2 && state_is(&r, "{\"v\":3}"));
	CHECK_OK(ops->remove(ctx, h));
	crumb_config_free(a);
	crumb_config_free(b);
}

/* ---- size ---------------------------------------------------------- */

static void
check_size(void)
{
	crumb_config *a = cfg_on(st1, 1000), *b = cfg_on(st2, 1000);
	size_t big = 1024 * 1024, i, len = 0;
	char *text = malloc(big + 1), key[32], *c;
	crumb_session *s;
	const char *got;
	double x;

	REQUIRE(text != NULL);
	TEST("large state: a 1 MiB value round trips byte for byte");
	clk.now = 9000000;
	for (i = 0; i + 2 <= big; i += 2) {
		/* ASCII, with a two-byte UTF-8 character every 64 bytes */
		if (i % 64 == 0) {
			text[i] = '\xc3';
			text[i + 1] = '\xa9';
		} else {
			text[i] = (char)('a' + i % 26);
			text[i + 1] = i % 128 == 2 ? '"' : '0';
		}
	}
	text[i] = '\0';
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "big",
	    text));
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	s = tbegin(b, c);
	CHECK_OK(crumb_state_get_string(crumb_session_server(s), "big", &got));
	CHECK(got != NULL && strcmp(got, text) == 0);
	crumb_session_free(s);
	free(c);

	TEST("many keys: 2000 keys round trip");
	s = tbegin(a, NULL);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "key-%zu-\xc3\xbc", i);
		CHECK_OK(crumb_state_insert_number(crumb_session_server(s), key,
		    (double)i));
	}
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	s = tbegin(b, c);
	CHECK_OK(crumb_state_len(crumb_session_server(s), &len));
	CHECK(len == 2000);
	for (i = 0; i < 2000; i += 97) {
		snprintf(key, sizeof(key), "key-%zu-\xc3\xbc", i);
		x = -1;
		CHECK_OK(crumb_state_get_number(crumb_session_server(s), key,
		    &x));
		CHECK(x == (double)i);
	}
	crumb_session_free(s);
	free(c);
	free(text);
	crumb_config_free(a);
	crumb_config_free(b);
}

/* ---- several processes ------------------------------------------- */

static int
bump_key(crumb_session *s, const char *key)
{
	crumb_state *st = crumb_session_server(s);
	double n = 0;
	int rc = crumb_state_get_number(st, key, &n);

	if (rc != CRUMB_OK && rc != CRUMB_E_NOT_FOUND)
		return rc;
	return crumb_state_insert_number(st, key, n + 1);
}

/* A child: its own store handle (a connection must not cross fork);
 * exits 0 when all its increments were stored. */
static void
child(const char *cookie, int k, int atomic)
{
	crumb_store *st = open_store();
	crumb_config *cfg = cfg_on(st, 100000);
	char key[16];
	int i, rc, bad = 0;

	snprintf(key, sizeof(key), "k%d", k);
	for (i = 0; i < ROUNDS; i++) {
		crumb_session *s = tbegin(cfg, cookie);

		rc = atomic ? crumb_session_atomic(s, bump, NULL) :
		    bump_key(s, key);
		if (rc == CRUMB_OK)
			rc = tend(s, "id", NULL, NULL);
		else
			crumb_session_free(s);
		if (rc != CRUMB_OK) {
			fprintf(stderr, "child %d: round %d: %s: %s\n", k, i,
			    crumb_strerror(rc), crumb_store_errmsg(st));
			bad = 1;
		}
	}
	crumb_config_free(cfg);
	crumb_store_free(st);
	_exit(bad);
}

/* PROCS children, each ROUNDS increments; non-zero when all exited 0. */
static int
run_children(const char *cookie, int atomic)
{
	pid_t pid[PROCS];
	int k, ok = 1, status;

	fflush(NULL);
	for (k = 0; k < PROCS; k++) {
		pid[k] = fork();
		REQUIRE(pid[k] >= 0);
		if (pid[k] == 0)
			child(cookie, k, atomic);
	}
	for (k = 0; k < PROCS; k++) {
		if (waitpid(pid[k], &status, 0) != pid[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	return ok;
}

static void open_stores(void);
static void close_stores(void);

/* The number under key as a new process would read it. */
static double
read_fresh(const char *cookie, const char *key)
{
	crumb_store *st = open_store();
	crumb_config *cfg = cfg_on(st, 100000);
	double n = tread_number(cfg, cookie, key);

	crumb_config_free(cfg);
	crumb_store_free(st);
	return n;
}

static void
check_processes(void)
{
	crumb_store *st;
	crumb_config *a;
	crumb_session *s;
	char key[16], *c;
	int k;

	if (per_process) {
		printf("-- %s is one store per process by contract: the "
		    "multi-process checks do not apply\n", url);
		return;
	}
	/* No connection of this process crosses the fork (SQLite and
	 * libpq both forbid using one in a child). */
	close_stores();
	TEST("4 processes x 50 atomic increments of one key: exactly 200");
	clk.now = 10000000;
	st = open_store();
	a = cfg_on(st, 100000);
	s = tbegin(a, NULL);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 0));
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	crumb_config_free(a);
	crumb_store_free(st);
	CHECK(run_children(c, 1));
	CHECK(read_fresh(c, "n") == PROCS * ROUNDS);

	TEST("4 processes x 50 plain increments of their own key: none lost");
	CHECK(run_children(c, 0));
	for (k = 0; k < PROCS; k++) {
		snprintf(key, sizeof(key), "k%d", k);
		CHECK(read_fresh(c, key) == ROUNDS);
	}
	CHECK(read_fresh(c, "n") == PROCS * ROUNDS);
	free(c);
	open_stores();
}

static void
open_stores(void)
{
	st1 = open_store();
	/* Two handles, as two processes would have; the memory store is
	 * not shared between handles, so both configs use the one. */
	st2 = per_process ? st1 : open_store();
	ops = tstore_ops(st1, &ctx);
}

static void
close_stores(void)
{
	if (st2 != st1)
		crumb_store_free(st2);
	crumb_store_free(st1);
	st1 = st2 = NULL;
	ops = NULL;
	ctx = NULL;
}

int
main(int argc, char **argv)
{
	uint64_t n;

	url = argc > 1 ? argv[1] : getenv("CRUMB_TEST_STORE");
	/* Run by hand or under valgrind with nothing named: the memory
	 * store (tests/test-conformance.sh names every built store). */
	if (url == NULL || *url == '\0')
		url = "memory:";
	per_process = strncasecmp(url, "memory:", 7) == 0;
	snprintf(tag, sizeof(tag), "%ld", (long)getpid());
	printf("== store %s\n", url);
	clk.now = T_START;
	open_stores();

	check_ops();
	check_expiry();
	check_round_trip();
	check_touch();
	check_users();
	check_labels();
	check_admin();
	check_atomic();
	check_size();
	check_processes();
	check_purge();

	/* Leave nothing behind: every record above expired before T_END. */
	CHECK_OK(crumb_store_purge(st1, T_END, 0, &n));
	close_stores();
	return CHECK_DONE();
}
