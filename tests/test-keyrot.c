/* Key rotation under a watched key directory (crumb_config_watch_keys):
 * old cookies open and are re-sealed with the new key, the files are
 * looked at no more than once a second but at once for a cookie of an
 * unknown key, key.next is accepted without sealing, and a key file
 * that cannot be used keeps the keys loaded (said once on stderr). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"

static struct tclock clk = { T_START };
static crumb_store *store;     /* one memory store for every config */
static char *dir;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dir/name := a key of kb repeated (tcfg_new's key), in one rename. */
static void
put_key(const char *name, unsigned char kb)
{
	char *tmp = tpath(dir, ".tmp"), *path = tpath(dir, name);
	FILE *f;
	int i;

	REQUIRE((f = fopen(tmp, "w")) != NULL);
	for (i = 0; i < CRUMB_KEY_LEN; i++)
		fprintf(f, "%02x", kb);
	fputc('\n', f);
	REQUIRE(fclose(f) == 0);
	REQUIRE(chmod(tmp, 0600) == 0);
	REQUIRE(rename(tmp, path) == 0);
	free(tmp);
	free(path);
}

/* What `crumbctl key rotate` does: key to key.old (a hard link), then
 * the new key (kb, or key.next when kb is 0) to key. */
static void
rotate(unsigned char kb)
{
	char *key = tpath(dir, "key"), *old = tpath(dir, "key.old"),
	    *tmp = tpath(dir, ".old"), *next = tpath(dir, "key.next");

	REQUIRE(link(key, tmp) == 0);
	REQUIRE(rename(tmp, old) == 0);
	if (kb != 0)
		put_key("key", kb);
	else
		REQUIRE(rename(next, key) == 0);
	free(key);
	free(old);
	free(tmp);
	free(next);
}

/* A new session of cfg holding n; its "id=..." pair (new, free()). */
static char *
new_session(crumb_config *cfg, double n)
{
	crumb_session *s = tbegin(cfg, NULL);
	char *pair = NULL;

	CHECK_OK(crumb_state_insert_number(crumb_session_server(s), "n", n));
	CHECK_OK(tend(s, "id", NULL, &pair));
	REQUIRE(pair != NULL);
	return pair;
}

/* A request of cfg with cookie pair that reads n and changes nothing:
 * n (-1 when the session did not open), and in *out (may be NULL) the
 * Set-Cookie pair sent (new, free()) or NULL. */
static double
visit(crumb_config *cfg, const char *pair, char **out)
{
	crumb_session *s = tbegin(cfg, pair);
	char *sent = NULL;
	double n = -1;

	if (!crumb_session_is_new(s) &&
	    crumb_state_get_number(crumb_session_server(s), "n", &n) !=
	    CRUMB_OK)
		n = -1;
	CHECK_OK(tend(s, "id", NULL, &sent));
	if (out != NULL)
		*out = sent;
	else
		free(sent);
	return n;
}

/* Does pair open under a config that holds only the key kb? */
static int
sealed_with(const char *pair, unsigned char kb)
{
	crumb_config *cfg = tcfg_new(store, &clk, kb);
	crumb_session *s = tbegin(cfg, pair);
	int r = !crumb_session_is_new(s);

	crumb_session_free(s);
	crumb_config_free(cfg);
	return r;
}

static int
errmsg_is(const crumb_config *cfg, const char *name, const char *why)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s%s%s: %s", dir, *name ? "/" : "",
	    name, why);
	if (strcmp(crumb_config_errmsg(cfg), want) == 0)
		return 1;
	fprintf(stderr, "errmsg \"%s\", want \"%s\"\n",
	    crumb_config_errmsg(cfg), want);
	return 0;
}

static void
test_args(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x0f);
	char *pair = new_session(cfg, 7), *file = tpath(dir, "plain");
	char *old = tpath(dir, "key.old");
	unsigned char key[CRUMB_KEY_LEN];

	TEST("watch: bad arguments and directories");
	CHECK_RC(crumb_config_watch_keys(NULL, dir), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_watch_keys(cfg, NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_watch_keys(cfg, ""), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_check_keys(NULL), CRUMB_E_INVAL);
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_STATE);
	CHECK_RC(crumb_config_watch_keys(cfg, "/nonexistent/keys"),
	    CRUMB_E_KEYFILE);
	CHECK_STR(crumb_config_errmsg(cfg),
	    "/nonexistent/keys: No such file or directory");
	put_key("plain", 0x0e);
	CHECK_RC(crumb_config_watch_keys(cfg, file), CRUMB_E_KEYFILE);
	CHECK(strstr(crumb_config_errmsg(cfg), "not a directory") != NULL);
	REQUIRE(chmod(dir, 0777) == 0);
	CHECK_RC(crumb_config_watch_keys(cfg, dir), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "", "mode 0777: others may write in it"));
	REQUIRE(chmod(dir, 0700) == 0);

	TEST("watch: no key file, or an unusable key.old: refused, keys kept");
	CHECK_RC(crumb_config_watch_keys(cfg, dir), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key", "No such file or directory"));
	put_key("key", 0x01);
	put_key("key.old", 0x02);
	REQUIRE(chmod(old, 0640) == 0);
	CHECK_RC(crumb_config_watch_keys(cfg, dir), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key.old",
	    "mode 0640: group or others may read or write it"));
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_STATE);
	/* Still the key it had, and not watching: set_key works. */
	CHECK(visit(cfg, pair, NULL) == 7);
	tkey(key, 0x0f);
	CHECK_OK(crumb_config_set_key(cfg, key, sizeof(key)));
	REQUIRE(unlink(old) == 0);

	TEST("watch: the directory owns the current key");
	CHECK_OK(crumb_config_watch_keys(cfg, dir));
	CHECK_STR(crumb_config_errmsg(cfg), "");
	CHECK_RC(crumb_config_set_key(cfg, key, sizeof(key)), CRUMB_E_STATE);
	CHECK(visit(cfg, pair, NULL) == -1);   /* 0x0f is gone */
	/* A retired key added by hand is accepted. */
	CHECK_OK(crumb_config_add_old_key(cfg, key, sizeof(key)));
	CHECK(visit(cfg, pair, NULL) == 7);
	CHECK_OK(crumb_config_check_keys(cfg));
	crumb_config_free(cfg);
	free(pair);
	free(file);
	free(old);
}

static void
test_rotation(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x0f), *one;
	char *a, *b, *again = NULL, *fresh, *out = NULL, *hand;
	unsigned char key[CRUMB_KEY_LEN];
	int64_t t0;

	/* key = 0x01 from test_args. */
	t0 = mono_ms();
	CHECK_OK(crumb_config_watch_keys(cfg, dir));
	tkey(key, 0x0e);
	CHECK_OK(crumb_config_add_old_key(cfg, key, sizeof(key)));
	one = tcfg_new(store, &clk, 0x0e);
	hand = new_session(one, 5);
	crumb_config_free(one);

	TEST("a session is sealed with key");
	a = new_session(cfg, 1);
	CHECK(sealed_with(a, 0x01));
	CHECK(!sealed_with(a, 0x03));
	CHECK(visit(cfg, a, &out) == 1);
	CHECK(out == NULL);              /* current key, nothing changed */

	TEST("rotated files are not looked at again within the second");
	rotate(0x03);
	fresh = new_session(cfg, 2);
	if (mono_ms() - t0 < 900) {
		CHECK(sealed_with(fresh, 0x01));
		CHECK(!sealed_with(fresh, 0x03));
	} else
		printf("# slow machine: the check within the second skipped\n");
	free(fresh);

	TEST("a cookie of a key not held yet opens at once (files looked at)");
	one = tcfg_new(store, &clk, 0x03);
	b = new_session(one, 3);
	crumb_config_free(one);
	/* Within the second of the watch: only the cookie makes it look. */
	if (mono_ms() - t0 >= 900)
		printf("# slow machine: the look may have been the periodic "
		    "one\n");
	t0 = mono_ms();
	CHECK(visit(cfg, b, &out) == 3);
	CHECK(out == NULL);               /* sealed with the current key */
	/* ... and from then on the worker seals with the new key. */
	fresh = new_session(cfg, 4);
	CHECK(sealed_with(fresh, 0x03));
	CHECK(!sealed_with(fresh, 0x01));
	free(fresh);

	TEST("a cookie of the retired key opens and is re-sealed with key");
	CHECK(visit(cfg, a, &again) == 1);
	CHECK(again != NULL);
	CHECK(again != NULL && sealed_with(again, 0x03));
	CHECK(again != NULL && !sealed_with(again, 0x01));
	CHECK(visit(cfg, again, &out) == 1);
	CHECK(out == NULL);
	/* A key of crumb_config_add_old_key's is retired alike. */
	CHECK(visit(cfg, hand, &out) == 5);
	CHECK(out != NULL && sealed_with(out, 0x03));
	free(out);
	out = NULL;

	TEST("a rotation is picked up by the next session after a second");
	rotate(0x04);
	fresh = new_session(cfg, 6);
	if (mono_ms() - t0 < 900)
		CHECK(sealed_with(fresh, 0x03));
	free(fresh);
	usleep(1100 * 1000);
	fresh = new_session(cfg, 6);
	CHECK(sealed_with(fresh, 0x04));
	free(fresh);
	CHECK(visit(cfg, again, NULL) == 1);  /* 0x03: retired */
	CHECK(visit(cfg, a, NULL) == -1);     /* 0x01: gone */
	CHECK(visit(cfg, hand, NULL) == 5);

	TEST("key.next opens its cookies, never seals, and is not re-sealed");
	put_key("key.next", 0x05);
	CHECK_OK(crumb_config_check_keys(cfg));
	one = tcfg_new(store, &clk, 0x05);
	free(b);
	b = new_session(one, 8);
	crumb_config_free(one);
	CHECK(visit(cfg, b, &out) == 8);
	CHECK(out == NULL);
	fresh = new_session(cfg, 9);
	CHECK(sealed_with(fresh, 0x04));
	CHECK(visit(cfg, again, NULL) == 1);  /* key.old still read */

	TEST("key.next promoted: it seals, and the key before is retired");
	rotate(0);
	CHECK_OK(crumb_config_check_keys(cfg));
	free(out);
	CHECK(visit(cfg, fresh, &out) == 9);
	CHECK(out != NULL && sealed_with(out, 0x05));
	CHECK(visit(cfg, b, NULL) == 8);
	CHECK(visit(cfg, again, NULL) == -1); /* 0x03 is gone now */
	free(fresh);
	free(out);
	free(a);
	free(b);
	free(again);
	free(hand);
	crumb_config_free(cfg);
}

/* Lines of the file at path that contain s. */
static int
count_lines(const char *path, const char *s)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

static void
test_bad_files(void)
{
	crumb_config *cfg = tcfg_new(store, &clk, 0x0f), *one;
	char *key = tpath(dir, "key"), *old = tpath(dir, "key.old");
	char *next = tpath(dir, "key.next"), *log = tpath(dir, "stderr");
	char *cur, *ret, *unknown, *fresh;
	int saved, fd;
	FILE *f;

	/* key = 0x05, key.old = 0x04 (test_rotation). */
	CHECK_OK(crumb_config_watch_keys(cfg, dir));
	cur = new_session(cfg, 1);
	one = tcfg_new(store, &clk, 0x04);
	ret = new_session(one, 2);
	crumb_config_free(one);
	one = tcfg_new(store, &clk, 0x06);
	unknown = new_session(one, 3);
	crumb_config_free(one);

	TEST("key replaced by an unsafe file: the keys loaded stay");
	put_key("key", 0x06);
	REQUIRE(chmod(key, 0644) == 0);
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key",
	    "mode 0644: group or others may read or write it"));
	CHECK(visit(cfg, cur, NULL) == 1);
	CHECK(visit(cfg, ret, NULL) == 2);
	CHECK(visit(cfg, unknown, NULL) == -1);
	fresh = new_session(cfg, 4);
	CHECK(sealed_with(fresh, 0x05));
	free(fresh);

	TEST("the failure goes to stderr once, however often it is seen");
	fflush(stderr);
	saved = dup(2);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
	/* check_keys said it to the caller: a later look at the same
	 * files says nothing more. */
	usleep(1100 * 1000);
	CHECK(visit(cfg, cur, NULL) == 1);
	REQUIRE(chmod(key, 0640) == 0);       /* another state: said once */
	usleep(1100 * 1000);
	CHECK(visit(cfg, cur, NULL) == 1);
	CHECK(visit(cfg, unknown, NULL) == -1);
	CHECK(visit(cfg, unknown, NULL) == -1);
	usleep(1100 * 1000);
	CHECK(visit(cfg, cur, NULL) == 1);
	fflush(stderr);
	REQUIRE(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	CHECK(count_lines(log, "crumb: key files not reloaded") == 1);
	CHECK(count_lines(log, "mode 0640") == 1);
	CHECK(count_lines(log, "mode 0644") == 0);

	TEST("fixed: taken at the next look");
	REQUIRE(chmod(key, 0600) == 0);
	usleep(1100 * 1000);
	CHECK(visit(cfg, unknown, NULL) == 3);
	fresh = new_session(cfg, 4);
	CHECK(sealed_with(fresh, 0x06));
	free(fresh);

	TEST("malformed, missing, not a regular file: keys kept");
	REQUIRE((f = fopen(next, "w")) != NULL);
	fputs("0011223344", f);                   /* half written */
	fclose(f);
	REQUIRE(chmod(next, 0600) == 0);
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key.next", "not 64 hex digits"));
	CHECK(visit(cfg, unknown, NULL) == 3);
	REQUIRE(unlink(next) == 0);
	CHECK_OK(crumb_config_check_keys(cfg));
	REQUIRE(rename(key, old) == 0);
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key", "No such file or directory"));
	CHECK(visit(cfg, unknown, NULL) == 3);
	REQUIRE(mkfifo(key, 0600) == 0);
	CHECK_RC(crumb_config_check_keys(cfg), CRUMB_E_KEYFILE);
	CHECK(errmsg_is(cfg, "key", "not a regular file"));
	fresh = new_session(cfg, 5);
	CHECK(sealed_with(fresh, 0x06));
	free(fresh);
	REQUIRE(unlink(key) == 0);
	put_key("key", 0x07);
	CHECK_OK(crumb_config_check_keys(cfg));
	CHECK_STR(crumb_config_errmsg(cfg), "");
	fresh = new_session(cfg, 5);
	CHECK(sealed_with(fresh, 0x07));
	CHECK(visit(cfg, unknown, NULL) == 3);    /* 0x06 is key.old now */
	CHECK(visit(cfg, cur, NULL) == -1);       /* 0x05 is gone */
	free(fresh);

	free(cur);
	free(ret);
	free(unknown);
	free(key);
	free(old);
	free(next);
	free(log);
	crumb_config_free(cfg);
}

int
main(void)
{
	dir = tdir_new();
	REQUIRE(crumb_store_memory_new(&store) == CRUMB_OK);
	test_args();
	test_rotation();
	test_bad_files();
	crumb_store_free(store);
	tdir_remove(dir);
	return CHECK_DONE();
}
