/* Managing one's own sessions: crumb_session_is_current, crumb_user_revoke,
 * crumb_session_logout_others and session labels, on the memory store, a
 * SQLite file and a custom store that keeps no labels; an SQLite file made
 * before the label column. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check.h"
#include "helpers.h"

#define HEX (2 * CRUMB_HASH_LEN + 1)

static struct tclock clk = { T_START };

/* What a store under test offers besides the ops. */
struct target {
	const char *name;
	int labels;              /* keeps labels */
	sqlite3 *db;             /* SQLite: a second connection, or NULL */
	struct tmap *map;        /* custom store: its counters, or NULL */
};

struct list {
	crumb_session *s;        /* marks is_current, when not NULL */
	int n, current, cur;     /* cur: index of the current one */
	char hash[8][HEX];
	char label[8][CRUMB_LABEL_MAX + 1];
};

static int
list_fn(const crumb_session_info *info, void *ud)
{
	struct list *l = ud;

	if (l->n < 8) {
		memcpy(l->hash[l->n], info->id_hash, HEX);
		memcpy(l->label[l->n], info->label, sizeof(l->label[0]));
	}
	if (l->s != NULL && crumb_session_is_current(l->s, info)) {
		l->current++;
		l->cur = l->n;
	}
	l->n++;
	return 0;
}

static void
list(crumb_config *cfg, const char *user, crumb_session *s, struct list *l)
{
	memset(l, 0, sizeof(*l));
	l->s = s;
	l->cur = -1;
	CHECK_OK(crumb_user_sessions(cfg, user, list_fn, l));
}

/* One integer from the SQLite connection. */
static long
sql_int(sqlite3 *db, const char *query)
{
	sqlite3_stmt *q = NULL;
	long v = -1;

	REQUIRE(sqlite3_prepare_v2(db, query, -1, &q, NULL) == SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Records the store holds (live or not), or -1 when the test cannot
 * see them. */
static long
records(const struct target *t)
{
	if (t->db != NULL)
		return sql_int(t->db, "SELECT count(*) FROM crumb_sessions");
	if (t->map != NULL)
		return (long)tmap_records(t->map);
	return -1;
}

static void
test_current(crumb_config *cfg, const struct target *t)
{
	char *a[3], *b, *renamed = NULL;
	char old[HEX];
	struct list l;
	crumb_session *s;
	int i;

	(void)t;
	TEST("is_current: exactly one of three sessions of a user");
	for (i = 0; i < 3; i++)
		a[i] = tlogin(cfg, "alice", NULL);
	b = tlogin(cfg, "bob", NULL);
	for (i = 0; i < 3; i++) {
		s = tbegin(cfg, a[i]);
		list(cfg, "alice", s, &l);
		CHECK(l.n == 3);
		CHECK(l.current == 1);
		crumb_session_free(s);
	}
	/* Another user's session, a new visitor, NULL. */
	s = tbegin(cfg, b);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 0);
	crumb_session_free(s);
	s = tbegin(cfg, NULL);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 0);
	CHECK(!crumb_session_is_current(NULL, NULL));
	CHECK(!crumb_session_is_current(s, NULL));
	crumb_session_free(s);

	TEST("is_current after cycle_id: the old hash until the rename");
	s = tbegin(cfg, a[1]);
	list(cfg, "alice", s, &l);
	REQUIRE(l.current == 1);
	memcpy(old, l.hash[l.cur], HEX);
	CHECK_OK(crumb_session_cycle_id(s));
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 1 && l.cur >= 0 &&
	    strcmp(l.hash[l.cur], old) == 0);
	CHECK_OK(crumb_session_save(s));        /* not loaded: no rename */
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 1 && l.cur >= 0 &&
	    strcmp(l.hash[l.cur], old) == 0);
	CHECK_OK(crumb_session_load(s));
	CHECK_OK(crumb_session_save(s));        /* renames the record */
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 1 && l.cur >= 0 &&
	    strcmp(l.hash[l.cur], old) != 0);
	CHECK_OK(tend(s, "id", NULL, &renamed));
	REQUIRE(renamed != NULL);
	s = tbegin(cfg, renamed);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 3 && l.current == 1);
	crumb_session_free(s);

	CHECK_OK(crumb_user_logout_all(cfg, "alice", NULL));
	CHECK_OK(crumb_user_logout_all(cfg, "bob", NULL));
	for (i = 0; i < 3; i++)
		free(a[i]);
	free(b);
	free(renamed);
}

static void
test_revoke(crumb_config *cfg, const struct target *t)
{
	char *a[3], *b;
	char victim[HEX], bobs[HEX], upper[HEX], bad[HEX + 1];
	struct list l;
	crumb_session *s;
	crumb_config *nostore;
	long before;
	size_t i;

	for (i = 0; i < 3; i++)
		a[i] = tlogin(cfg, "alice", NULL);
	b = tlogin(cfg, "bob", NULL);

	TEST("revoke by the listed hash");
	s = tbegin(cfg, a[2]);
	list(cfg, "alice", s, &l);
	crumb_session_free(s);
	REQUIRE(l.n == 3 && l.current == 1);
	memcpy(victim, l.hash[l.cur], HEX);
	CHECK_OK(crumb_user_revoke(cfg, "alice", victim));
	CHECK(!talive(cfg, a[2]));
	CHECK(talive(cfg, a[0]) && talive(cfg, a[1]));
	list(cfg, "alice", NULL, &l);
	CHECK(l.n == 2);
	for (i = 0; i < 2; i++)
		CHECK(strcmp(l.hash[i], victim) != 0);
	CHECK_RC(crumb_user_revoke(cfg, "alice", victim), CRUMB_E_NOT_FOUND);
	if (t->db != NULL || t->map != NULL)
		CHECK(records(t) == 3);  /* deleted, not only ended */

	TEST("revoke of another user's session is refused");
	list(cfg, "bob", NULL, &l);
	REQUIRE(l.n == 1);
	memcpy(bobs, l.hash[0], HEX);
	CHECK_RC(crumb_user_revoke(cfg, "alice", bobs), CRUMB_E_NOT_FOUND);
	CHECK_RC(crumb_user_revoke(cfg, "", bobs), CRUMB_E_NOT_FOUND);
	CHECK(talive(cfg, b));
	list(cfg, "bob", NULL, &l);
	CHECK(l.n == 1 && strcmp(l.hash[0], bobs) == 0);

	TEST("revoke takes the hash in either case");
	list(cfg, "alice", NULL, &l);
	REQUIRE(l.n == 2);
	for (i = 0; i < HEX; i++)
		upper[i] = (char)toupper((unsigned char)l.hash[0][i]);
	CHECK_OK(crumb_user_revoke(cfg, "alice", upper));
	list(cfg, "alice", NULL, &l);
	CHECK(l.n == 1);

	TEST("revoke: malformed hashes are refused before the store");
	if (t->map != NULL)
		tmap_reset(t->map);
	before = t->map != NULL ? (long)tmap_total(t->map) : 0;
	CHECK_RC(crumb_user_revoke(cfg, "bob", ""), CRUMB_E_INVAL);
	CHECK_RC(crumb_user_revoke(cfg, "bob", "xyz"), CRUMB_E_INVAL);
	memcpy(bad, bobs, HEX);
	bad[HEX - 2] = '\0';                    /* 63 digits */
	CHECK_RC(crumb_user_revoke(cfg, "bob", bad), CRUMB_E_INVAL);
	memcpy(bad, bobs, HEX);
	bad[HEX - 1] = '0';                     /* 65 digits */
	bad[HEX] = '\0';
	CHECK_RC(crumb_user_revoke(cfg, "bob", bad), CRUMB_E_INVAL);
	memcpy(bad, bobs, HEX);
	bad[10] = 'g';
	CHECK_RC(crumb_user_revoke(cfg, "bob", bad), CRUMB_E_INVAL);
	bad[10] = ' ';
	CHECK_RC(crumb_user_revoke(cfg, "bob", bad), CRUMB_E_INVAL);
	CHECK_RC(crumb_user_revoke(cfg, NULL, bobs), CRUMB_E_INVAL);
	CHECK_RC(crumb_user_revoke(cfg, "bob", NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_user_revoke(NULL, "bob", bobs), CRUMB_E_INVAL);
	nostore = tcfg_new(NULL, &clk, 0x91);
	CHECK_RC(crumb_user_revoke(nostore, "bob", bobs), CRUMB_E_INVAL);
	crumb_config_free(nostore);
	if (t->map != NULL)
		CHECK((long)tmap_total(t->map) == before);
	CHECK(talive(cfg, b));

	TEST("revoke of an expired session: not found");
	clk.now += 86400;
	CHECK_RC(crumb_user_revoke(cfg, "bob", bobs), CRUMB_E_NOT_FOUND);
	clk.now = T_START;

	CHECK_OK(crumb_user_logout_all(cfg, "alice", NULL));
	CHECK_OK(crumb_user_logout_all(cfg, "bob", NULL));
	for (i = 0; i < 3; i++)
		free(a[i]);
	free(b);
}

static void
test_logout_others(crumb_config *cfg, const struct target *t)
{
	char *a[3], *b, *anon = NULL, *c = NULL, *h = NULL;
	struct list l;
	crumb_session *s;
	uint64_t del;
	int i;

	(void)t;
	for (i = 0; i < 3; i++)
		a[i] = tlogin(cfg, "alice", NULL);
	b = tlogin(cfg, "bob", NULL);

	TEST("logout_others leaves exactly the current one");
	s = tbegin(cfg, a[1]);
	del = 99;
	CHECK_OK(crumb_session_logout_others(s, &del));
	CHECK(del == 2);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 1 && l.current == 1);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(talive(cfg, a[1]));
	CHECK(!talive(cfg, a[0]) && !talive(cfg, a[2]));
	CHECK(talive(cfg, b));
	s = tbegin(cfg, a[1]);
	del = 99;
	CHECK_OK(crumb_session_logout_others(s, &del));
	CHECK(del == 0);
	CHECK_OK(crumb_session_logout_others(s, NULL));
	crumb_session_free(s);

	TEST("logout_others: no user, finished, invalidated");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_server(s), "u", "-"));
	del = 99;
	CHECK_RC(crumb_session_logout_others(s, &del), CRUMB_E_NOT_FOUND);
	CHECK(del == 0);
	CHECK_OK(tend(s, "id", NULL, &anon));
	REQUIRE(anon != NULL);
	s = tbegin(cfg, anon);
	CHECK_RC(crumb_session_logout_others(s, NULL), CRUMB_E_NOT_FOUND);
	crumb_session_free(s);
	s = tbegin(cfg, b);
	CHECK_OK(crumb_session_invalidate(s));
	CHECK_RC(crumb_session_logout_others(s, NULL), CRUMB_E_INVALIDATED);
	crumb_session_free(s);
	s = tbegin(cfg, b);
	CHECK_OK(crumb_session_finish_str(s, &h));
	CHECK_RC(crumb_session_logout_others(s, NULL), CRUMB_E_STATE);
	crumb_free(h);
	crumb_session_free(s);
	CHECK_RC(crumb_session_logout_others(NULL, NULL), CRUMB_E_INVAL);

	TEST("logout_others at sign-in: the user set in this request");
	free(a[0]);
	a[0] = tlogin(cfg, "alice", NULL);
	s = tbegin(cfg, anon);                  /* has a record, no user */
	CHECK_OK(crumb_session_set_user(s, "alice"));
	del = 99;
	CHECK_OK(crumb_session_logout_others(s, &del));
	CHECK(del == 2);
	CHECK_OK(tend(s, "id", NULL, NULL));
	CHECK(!talive(cfg, a[0]) && !talive(cfg, a[1]));
	CHECK(talive(cfg, anon));
	s = tbegin(cfg, anon);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 1 && l.current == 1);
	crumb_session_free(s);

	TEST("logout_others after cycle_id keeps this session");
	free(a[0]);
	a[0] = tlogin(cfg, "alice", NULL);
	s = tbegin(cfg, anon);
	CHECK_OK(crumb_session_cycle_id(s));
	del = 99;
	CHECK_OK(crumb_session_logout_others(s, &del));
	CHECK(del == 1);
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	CHECK(talive(cfg, c) && !talive(cfg, a[0]));
	s = tbegin(cfg, c);
	list(cfg, "alice", s, &l);
	CHECK(l.n == 1 && l.current == 1);
	crumb_session_free(s);

	TEST("logout_others from a session not stored yet");
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_set_user(s, "alice"));
	del = 99;
	CHECK_OK(crumb_session_logout_others(s, &del));
	CHECK(del == 1);
	CHECK_OK(tend(s, "id", NULL, NULL));
	list(cfg, "alice", NULL, &l);
	CHECK(l.n == 1);                        /* the new one */

	CHECK_OK(crumb_user_logout_all(cfg, "alice", NULL));
	CHECK_OK(crumb_user_logout_all(cfg, "bob", NULL));
	for (i = 0; i < 3; i++)
		free(a[i]);
	free(b);
	free(anon);
	free(c);
}

/* Label writes seen by the SQLite trigger. */
static long
label_writes(const struct target *t)
{
	return t->db != NULL ? sql_int(t->db, "SELECT count(*) FROM "
	    "label_writes") : 0;
}

/* The label listed for the session of pair (user alice). */
static void
listed_label(crumb_config *cfg, const char *pair, char *out)
{
	crumb_session *s = tbegin(cfg, pair);
	struct list l;

	list(cfg, "alice", s, &l);
	out[0] = '\0';
	CHECK(l.current == 1);
	if (l.cur >= 0 && l.cur < 8)
		memcpy(out, l.label[l.cur], CRUMB_LABEL_MAX + 1);
	crumb_session_free(s);
}

static void
relabel(crumb_config *cfg, const char *pair, const char *label, int want)
{
	crumb_session *s = tbegin(cfg, pair);

	CHECK_RC(crumb_session_set_label(s, label), want);
	CHECK_OK(tend(s, "id", NULL, NULL));
}

static void
test_labels(crumb_config *cfg, const struct target *t)
{
	static const struct {
		char fill;
		size_t n;
		const char *tail;
		size_t keep;
	} cut[] = {
		{ 'a', 63, "\xc3\xa9zz", 63 },     /* 2-byte character past 64 */
		{ 'b', 62, "\xe2\x82\xac", 62 },   /* 3-byte one */
		{ 'c', 60, "\xf0\x9f\x8d\xaa", 64 }, /* 60 + 4: fits exactly */
	};
	char in[80], want[CRUMB_LABEL_MAX + 1], got[CRUMB_LABEL_MAX + 1];
	char *a, *anon = NULL, *c = NULL, *h = NULL;
	crumb_session *s;
	long w, n;
	size_t i;

	TEST("labels: set at sign-in, listed");
	w = label_writes(t);
	a = tlogin(cfg, "alice", "Firefox on Linux");
	listed_label(cfg, a, got);
	CHECK_STR(got, t->labels ? "Firefox on Linux" : "");
	if (t->db != NULL)
		CHECK(label_writes(t) == w + 1);

	TEST("labels: written only when changed");
	w = label_writes(t);
	relabel(cfg, a, "Firefox on Linux", CRUMB_OK);
	if (t->db != NULL)
		CHECK(label_writes(t) == w);
	relabel(cfg, a, "Firefox on Windows", CRUMB_OK);
	listed_label(cfg, a, got);
	CHECK_STR(got, t->labels ? "Firefox on Windows" : "");
	if (t->db != NULL)
		CHECK(label_writes(t) == w + 1);

	TEST("labels: kept through writes and a cycled ID");
	s = tbegin(cfg, a);
	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "k", 1));
	CHECK_OK(crumb_session_cycle_id(s));
	CHECK_OK(tend(s, "id", NULL, &c));
	REQUIRE(c != NULL);
	listed_label(cfg, c, got);
	CHECK_STR(got, t->labels ? "Firefox on Windows" : "");

	TEST("labels: cut at a character boundary");
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		memset(in, cut[i].fill, cut[i].n);
		strcpy(in + cut[i].n, cut[i].tail);
		relabel(cfg, c, in, CRUMB_OK);
		listed_label(cfg, c, got);
		memcpy(want, in, cut[i].keep);
		want[cut[i].keep] = '\0';
		CHECK_STR(got, t->labels ? want : "");
	}

	TEST("labels: control and bidi characters become spaces");
	relabel(cfg, c, "Mozilla\t5.0\r\n(X11)\x7f\xc2\x85!\xe2\x80\xaegpj.exe",
	    CRUMB_OK);
	listed_label(cfg, c, got);
	CHECK_STR(got, t->labels ? "Mozilla 5.0  (X11)  ! gpj.exe" : "");

	TEST("labels: invalid UTF-8 is refused, the label stays");
	relabel(cfg, c, "caf\xe9", CRUMB_E_INVAL);
	relabel(cfg, c, "\xc0\xaf", CRUMB_E_INVAL);
	listed_label(cfg, c, got);
	CHECK_STR(got, t->labels ? "Mozilla 5.0  (X11)  ! gpj.exe" : "");

	TEST("labels: NULL removes it");
	relabel(cfg, c, NULL, CRUMB_OK);
	listed_label(cfg, c, got);
	CHECK_STR(got, "");

	TEST("labels: a session with no record stores none");
	n = records(t);
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_session_set_label(s, "nothing stored"));
	CHECK_OK(tend(s, "id", NULL, &anon));
	CHECK(anon == NULL);
	if (n >= 0)
		CHECK(records(t) == n);
	s = tbegin(cfg, c);
	CHECK_OK(crumb_session_set_label(s, "gone"));
	CHECK_OK(crumb_session_invalidate(s));
	CHECK_OK(tend(s, "id", NULL, NULL));
	if (n >= 0)
		CHECK(records(t) == n - 1);

	TEST("labels: after finish, NULL session");
	s = tbegin(cfg, a);
	CHECK_OK(crumb_session_finish_str(s, &h));
	CHECK_RC(crumb_session_set_label(s, "x"), CRUMB_E_STATE);
	crumb_free(h);
	crumb_session_free(s);
	CHECK_RC(crumb_session_set_label(NULL, "x"), CRUMB_E_INVAL);

	CHECK_OK(crumb_user_logout_all(cfg, "alice", NULL));
	free(a);
	free(anon);
	free(c);
}

static void
run(crumb_store *store, const struct target *t)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x93);

	printf("-- [%s]\n", t->name);
	clk.now = T_START;
	test_current(cfg, t);
	test_revoke(cfg, t);
	test_logout_others(cfg, t);
	test_labels(cfg, t);
	crumb_config_free(cfg);
}

/* A store file as made before the label column, with one session. */
static void
old_schema(const char *path)
{
	sqlite3 *db = NULL;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	REQUIRE(sqlite3_exec(db,
	    "CREATE TABLE crumb_sessions (id BLOB PRIMARY KEY, "
	    "state TEXT NOT NULL, version INTEGER NOT NULL, user TEXT, "
	    "created INTEGER NOT NULL, last_seen INTEGER NOT NULL, "
	    "expires INTEGER NOT NULL) WITHOUT ROWID;"
	    "CREATE INDEX crumb_sessions_user ON crumb_sessions(user) "
	    "WHERE user IS NOT NULL;"
	    "CREATE INDEX crumb_sessions_expires ON crumb_sessions(expires);"
	    "INSERT INTO crumb_sessions VALUES (zeroblob(32), '{}', 1, "
	    "'olduser', 1000000, 1000000, 2000000);",
	    NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
}

static void
test_upgrade(const char *dir)
{
	char *path = tpath(dir, "old.db");
	crumb_store *store = NULL;
	crumb_config *cfg;
	sqlite3 *db = NULL;
	struct list l;
	char *a;
	char got[CRUMB_LABEL_MAX + 1];
	int i;

	printf("-- [SQLite file made before labels]\n");
	TEST("an old-schema file opens, gains the column and works");
	old_schema(path);
	for (i = 0; i < 2; i++) {       /* the second open finds it done */
		store = NULL;
		CHECK_OK(crumb_store_sqlite_open(path, &store));
		REQUIRE(store != NULL);
		cfg = tcfg_new(store, &clk, 0x95);
		clk.now = T_START;
		list(cfg, "olduser", NULL, &l);
		CHECK(l.n == 1);
		CHECK_STR(l.label[0], "");
		a = tlogin(cfg, "alice", i == 0 ? "old file" : "again");
		listed_label(cfg, a, got);
		CHECK_STR(got, i == 0 ? "old file" : "again");
		free(a);
		crumb_config_free(cfg);
		crumb_store_free(store);
	}
	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sql_int(db, "SELECT count(*) FROM pragma_table_info("
	    "'crumb_sessions') WHERE name = 'label'") == 1);
	sqlite3_close(db);
	free(path);
}

int
main(void)
{
	struct target t;
	crumb_store *store = NULL;
	char *dir, *path;

	memset(&t, 0, sizeof(t));
	t.name = "memory store";
	t.labels = 1;
	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	run(store, &t);
	crumb_store_free(store);

	dir = tdir_new();
	path = tpath(dir, "manage.db");
	store = NULL;
	REQUIRE(crumb_store_sqlite_open(path, &store) == CRUMB_OK);
	memset(&t, 0, sizeof(t));
	t.name = "SQLite store";
	t.labels = 1;
	REQUIRE(sqlite3_open(path, &t.db) == SQLITE_OK);
	sqlite3_busy_timeout(t.db, 5000);
	REQUIRE(sqlite3_exec(t.db, "CREATE TABLE label_writes (n INTEGER);"
	    "CREATE TRIGGER count_label AFTER UPDATE OF label ON "
	    "crumb_sessions BEGIN INSERT INTO label_writes VALUES (1); END;",
	    NULL, NULL, NULL) == SQLITE_OK);
	run(store, &t);
	sqlite3_close(t.db);
	crumb_store_free(store);
	free(path);

	test_upgrade(dir);
	tdir_remove(dir);

	memset(&t, 0, sizeof(t));
	t.name = "custom store without labels";
	t.map = tmap_store_new(&store);
	run(store, &t);
	crumb_store_free(store);
	return CHECK_DONE();
}
