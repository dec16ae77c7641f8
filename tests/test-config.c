/* Configuration: argument checks, keys (set, old, key files, generated
 * key files), missing key, missing store, crumb_session_begin_env. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };

/* Key files must be private: mode 0600 whatever the umask. */
static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f != NULL);
	fputs(text, f);
	fclose(f);
	REQUIRE(chmod(path, 0600) == 0);
}

/* crumb_config_errmsg(cfg) is "path: why". */
static int
errmsg_is(const crumb_config *cfg, const char *path, const char *why)
{
	char want[512];

	snprintf(want, sizeof(want), "%s: %s", path, why);
	if (strcmp(crumb_config_errmsg(cfg), want) == 0)
		return 1;
	fprintf(stderr, "errmsg \"%s\", want \"%s\"\n",
	    crumb_config_errmsg(cfg), want);
	return 0;
}

static char *
make_cookie(crumb_config *cfg)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL, *h = NULL;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", 1));
	CHECK_OK(tend(s, "id", &h, &pair));
	/* A config of crumb_config_new names it "__Host-id". */
	if (pair == NULL && h != NULL)
		pair = tcookie_pair(h, "__Host-id");
	free(h);
	return pair;
}

static int
reads(crumb_config *cfg, const char *pair)
{
	crumb_session *s = tbegin(cfg, pair);
	double d;
	int r = crumb_state_get_number(crumb_session_server(s), "n", &d) ==
	    CRUMB_OK;

	crumb_session_free(s);
	return r;
}

static void
test_args(void)
{
	crumb_config *cfg = NULL;
	crumb_session *s = NULL;
	unsigned char key[CRUMB_KEY_LEN];

	TEST("argument checks");
	tkey(key, 1);
	CHECK_RC(crumb_config_new(NULL), CRUMB_E_INVAL);
	CHECK_OK(crumb_config_new(&cfg));
	REQUIRE(cfg != NULL);
	CHECK_RC(crumb_config_set_key(cfg, key, 16), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_key(cfg, key, 33), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_key(cfg, NULL, 32), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_key(NULL, key, 32), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_add_old_key(cfg, key, 31), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_store(NULL, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl(cfg, -1), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl(cfg, 0), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl_extension(cfg, (crumb_ttl_policy)9, 0),
	    CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_REQUEST,
	    -1), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_set_absolute_lifetime(cfg, -1), CRUMB_E_INVAL);
	CHECK_OK(crumb_config_set_clock(cfg, NULL, NULL));
	CHECK_RC(crumb_session_begin(NULL, NULL, &s), CRUMB_E_INVAL);
	CHECK_RC(crumb_session_begin(cfg, NULL, NULL), CRUMB_E_INVAL);

	TEST("no key: CRUMB_E_NOKEY when a cookie must be sealed");
	{
		crumb_store *store = NULL;
		int rc;
		char *h = NULL;

		REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
		CHECK_OK(crumb_config_set_store(cfg, store));
		rc = crumb_session_begin(cfg, NULL, &s);
		if (rc == CRUMB_OK) {
			rc = crumb_state_insert_number(
			    crumb_session_server(s), "n", 1);
			if (rc == CRUMB_OK)
				rc = crumb_session_finish_str(s, &h);
			crumb_free(h);
			crumb_session_free(s);
		}
		CHECK_RC(rc, CRUMB_E_NOKEY);
		crumb_config_free(cfg);
		crumb_store_free(store);
	}
}

static void
test_no_store(void)
{
	crumb_config *cfg = tcfg_new(NULL, &clk, 0xD1);
	crumb_store *store;
	crumb_session *s = (crumb_session *)&s;
	char *pair = NULL;
	const char *v;

	TEST("no store: begin says so at once");
	CHECK_RC(crumb_session_begin(cfg, NULL, &s), CRUMB_E_STATE);
	CHECK(s == NULL);
	crumb_session_free(s);

	TEST("client state only: the memory store serves");
	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	CHECK_OK(crumb_config_set_store(cfg, store));
	s = tbegin(cfg, NULL);
	CHECK_OK(crumb_state_insert_string(crumb_session_client(s), "c", "1"));
	CHECK_OK(tend(s, "id", NULL, &pair));
	CHECK(pair != NULL);
	s = tbegin(cfg, pair);
	CHECK_OK(crumb_state_get_string(crumb_session_client(s), "c", &v));
	CHECK_STR(v, "1");
	crumb_session_free(s);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

static void
test_key_files(const char *dir)
{
	crumb_store *store = NULL;
	crumb_config *a = NULL, *b = NULL, *c = NULL;
	char *kf = tpath(dir, "key"), *k2 = tpath(dir, "key2");
	char *bad = tpath(dir, "bad"), *gen = tpath(dir, "gen");
	char *pair;
	struct stat sb;

	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);

	TEST("key file: 64 hex digits with whitespace");
	write_file(kf, "  00112233445566778899aabbccddeeff"
	    "00112233445566778899AABBCCDDEEFF\n\n");
	write_file(k2, "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n");
	CHECK_OK(crumb_config_new(&a));
	REQUIRE(a != NULL);
	CHECK_OK(crumb_config_set_store(a, store));
	CHECK_OK(crumb_config_load_key_file(a, kf, 0));
	pair = make_cookie(a);
	REQUIRE(pair != NULL);
	/* Same key given as bytes reads it. */
	{
		static const unsigned char raw[CRUMB_KEY_LEN] = {
			0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
			0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
		};

		b = tcfg_new(store, NULL, 0);
		CHECK_OK(crumb_config_set_key(b, raw, sizeof(raw)));
		/* The cookie name is part of the sealed data: a's default. */
		CHECK_OK(crumb_config_set_host_prefix(b, -1));
		CHECK(reads(b, pair));
		crumb_config_free(b);
	}

	TEST("key file as a retired key");
	CHECK_OK(crumb_config_new(&c));
	REQUIRE(c != NULL);
	CHECK_OK(crumb_config_set_store(c, store));
	CHECK_OK(crumb_config_load_key_file(c, k2, 0));
	CHECK(!reads(c, pair));
	CHECK_OK(crumb_config_load_key_file(c, kf, 1));
	CHECK(reads(c, pair));
	crumb_config_free(c);

	TEST("malformed key files: CRUMB_E_KEYFILE, \"PATH: not 64 hex digits\"");
	CHECK_STR(crumb_config_errmsg(a), "");
	write_file(bad, "0011223344556677889900112233445566778899"
	    "0011223344556677889");                      /* 63 digits */
	CHECK_RC(crumb_config_load_key_file(a, bad, 0), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, bad, "not 64 hex digits"));
	write_file(bad, "0011223344556677889900112233445566778899"
	    "001122334455667788990");                    /* 65 digits */
	CHECK_RC(crumb_config_load_key_file(a, bad, 0), CRUMB_E_KEYFILE);
	write_file(bad, "zz11223344556677889900112233445566778899"
	    "00112233445566778899aabb");
	CHECK_RC(crumb_config_load_key_file(a, bad, 0), CRUMB_E_KEYFILE);
	write_file(bad, "");
	CHECK_RC(crumb_config_load_key_file(a, bad, 0), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, bad, "not 64 hex digits"));

	TEST("a missing key file: CRUMB_E_KEYFILE with the errno text");
	CHECK_RC(crumb_config_load_key_file(a, "/nonexistent/key", 0),
	    CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, "/nonexistent/key", "No such file or directory"));
	CHECK(strcmp(crumb_strerror(CRUMB_E_KEYFILE), "unknown error") != 0);
	CHECK(strstr(crumb_strerror(CRUMB_E_KEYFILE), "key file") != NULL);

	TEST("a key file group or others may read or write is refused");
	REQUIRE(chmod(k2, 0666) == 0);
	CHECK_RC(crumb_config_load_key_file(a, k2, 0), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, k2,
	    "mode 0666: group or others may read or write it"));
	REQUIRE(chmod(k2, 0644) == 0);
	CHECK_RC(crumb_config_load_key_file(a, k2, 1), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, k2,
	    "mode 0644: group or others may read or write it"));
	REQUIRE(chmod(k2, 0640) == 0);
	CHECK_RC(crumb_config_load_key_file(a, k2, 0), CRUMB_E_KEYFILE);
	REQUIRE(chmod(k2, 0602) == 0);
	CHECK_RC(crumb_config_load_key_file(a, k2, 0), CRUMB_E_KEYFILE);
	REQUIRE(chmod(k2, 0620) == 0);
	CHECK_RC(crumb_config_load_key_file(a, k2, 0), CRUMB_E_KEYFILE);

	TEST("a key file that is not a regular file is refused");
	CHECK_RC(crumb_config_load_key_file(a, dir, 0), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(a, dir, "not a regular file"));
	{
		char *fifo = tpath(dir, "fifo");

		REQUIRE(mkfifo(fifo, 0600) == 0);
		CHECK_RC(crumb_config_load_key_file(a, fifo, 0),
		    CRUMB_E_KEYFILE);
		CHECK(errmsg_is(a, fifo, "not a regular file"));
		unlink(fifo);
		free(fifo);
	}
	CHECK_RC(crumb_config_load_key_file(a, NULL, 0), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_load_key_file(NULL, kf, 0), CRUMB_E_INVAL);
	CHECK_STR(crumb_config_errmsg(NULL), "");

	TEST("a 0400 key file reads; the detail is cleared");
	REQUIRE(chmod(k2, 0400) == 0);
	CHECK_OK(crumb_config_load_key_file(a, k2, 1));
	CHECK_STR(crumb_config_errmsg(a), "");
	/* The failed loads left the key alone. */
	CHECK(reads(a, pair));
	free(pair);

	TEST("crumb_key_generate_file");
	CHECK_OK(crumb_key_generate_file(gen));
	CHECK(stat(gen, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(crumb_key_generate_file(gen) != CRUMB_OK);
	CHECK_RC(crumb_key_generate_file(kf), CRUMB_E_STATE);
	CHECK_RC(crumb_key_generate_file("/nonexistent/key"), CRUMB_E_KEYFILE);
	b = NULL;
	CHECK_OK(crumb_config_new(&b));
	REQUIRE(b != NULL);
	CHECK_OK(crumb_config_set_store(b, store));
	CHECK_OK(crumb_config_load_key_file(b, gen, 0));
	pair = make_cookie(b);
	CHECK(pair != NULL);
	CHECK(pair != NULL && !reads(a, pair));
	CHECK_OK(crumb_config_load_key_file(a, gen, 0));
	CHECK(pair != NULL && reads(a, pair));
	free(pair);
	{
		/* Two generated keys differ. */
		char *gen2 = tpath(dir, "gen2");
		crumb_config *d = NULL;

		CHECK_OK(crumb_key_generate_file(gen2));
		CHECK_OK(crumb_config_new(&d));
		REQUIRE(d != NULL);
		CHECK_OK(crumb_config_set_store(d, store));
		CHECK_OK(crumb_config_load_key_file(d, gen2, 0));
		pair = make_cookie(b);
		CHECK(pair != NULL && !reads(d, pair));
		free(pair);
		crumb_config_free(d);
		free(gen2);
	}
	crumb_config_free(a);
	crumb_config_free(b);
	crumb_store_free(store);
	free(kf);
	free(k2);
	free(bad);
	free(gen);
}

static void
test_env(void)
{
	crumb_store *store = NULL;
	crumb_config *cfg;
	crumb_session *s = NULL;
	char *pair;
	double d;

	TEST("crumb_session_begin_env reads HTTP_COOKIE");
	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	cfg = tcfg_new(store, &clk, 0xD2);
	pair = make_cookie(cfg);
	REQUIRE(pair != NULL);
	setenv("HTTP_COOKIE", pair, 1);
	CHECK_OK(crumb_session_begin_env(cfg, &s));
	CHECK(s != NULL && !crumb_session_is_new(s));
	CHECK(s != NULL && crumb_state_get_number(crumb_session_server(s),
	    "n", &d) == CRUMB_OK);
	crumb_session_free(s);
	unsetenv("HTTP_COOKIE");
	s = NULL;
	CHECK_OK(crumb_session_begin_env(cfg, &s));
	CHECK(s != NULL && crumb_session_is_new(s));
	crumb_session_free(s);
	free(pair);
	crumb_config_free(cfg);
	crumb_store_free(store);
}

int
main(void)
{
	char *dir = tdir_new();

	test_args();
	test_no_store();
	test_key_files(dir);
	test_env();
	tdir_remove(dir);
	return CHECK_DONE();
}
