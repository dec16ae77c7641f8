/*
 * Sessions for tests/test-crumbctl.sh, made and read through the public
 * API against a real store, with the test key of tcfg_new:
 *   ctl-fixture STORE make USER TTL AGO [LABEL]
 *       a session of USER ("-": none) begun AGO seconds ago with a TTL
 *       of TTL seconds (AGO > TTL: expired now); prints one line:
 *       "COOKIE ID_HEX HASH_HEX" (the Cookie header's "id=value", the
 *       session ID and its stored hash, lower-case hex) so that the
 *       test can look for the ID in crumbctl's output
 *   ctl-fixture STORE show COOKIE
 *       opens the session of COOKIE now; prints "user=U u=U n=N" (its
 *       user, and the "u" and "n" it was made with) or "none"
 * Exit 0, or 1 with a reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crumb-private.h"
#include "helpers.h"

static crumb_config *
config(crumb_store *st, struct tclock *clk, int64_t ttl)
{
	crumb_config *cfg = tcfg_new(st, clk, 0x5a);

	if (crumb_config_set_ttl(cfg, ttl) != CRUMB_OK ||
	    crumb_config_set_ttl_extension(cfg, CRUMB_TTL_ON_CHANGE, 0) !=
	    CRUMB_OK || crumb_config_set_absolute_lifetime(cfg, 0) != CRUMB_OK) {
		fprintf(stderr, "ctl-fixture: config refused\n");
		exit(1);
	}
	return cfg;
}

static int
make(crumb_store *st, const char *user, long ttl, long ago, const char *label)
{
	static unsigned serial;
	struct tclock clk = { (int64_t)time(NULL) - ago };
	crumb_config *cfg = config(st, &clk, ttl);
	crumb_session *s = tbegin(cfg, NULL);
	crumb_state *srv = crumb_session_server(s);
	char *hdr = NULL, *pair, id[2 * CRUMB_ID_LEN + 1];
	char hash[2 * CRUMB_HASH_LEN + 1];
	uint8_t h[CRUMB_HASH_LEN];
	int rc, i;

	rc = crumb_state_insert_string(srv, "u", user);
	if (rc == CRUMB_OK)
		rc = crumb_state_insert_number(srv, "n", (double)++serial + ttl);
	if (rc == CRUMB_OK && strcmp(user, "-") != 0)
		rc = crumb_session_set_user(s, user);
	if (rc == CRUMB_OK && label != NULL)
		rc = crumb_session_set_label(s, label);
	if (rc == CRUMB_OK)
		rc = crumb_session_finish_str(s, &hdr);
	if (rc != CRUMB_OK || !s->has_id) {
		fprintf(stderr, "ctl-fixture: make: %s: %s\n",
		    crumb_strerror(rc), crumb_session_errmsg(s));
		return 1;
	}
	for (i = 0; i < CRUMB_ID_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", s->id[i]);
	gcry_md_hash_buffer(GCRY_MD_SHA256, h, s->id, CRUMB_ID_LEN);
	for (i = 0; i < CRUMB_HASH_LEN; i++)
		snprintf(hash + 2 * i, 3, "%02x", h[i]);
	crumb_session_free(s);
	pair = tcookie_pair(hdr, "id");
	if (pair == NULL) {
		fprintf(stderr, "ctl-fixture: make: no cookie\n");
		return 1;
	}
	printf("%s %s %s\n", pair, id, hash);
	free(pair);
	crumb_free(hdr);
	crumb_config_free(cfg);
	return 0;
}

static int
show(crumb_store *st, const char *cookie)
{
	struct tclock clk = { (int64_t)time(NULL) };
	crumb_config *cfg = config(st, &clk, 3600);
	crumb_session *s = tbegin(cfg, cookie);
	const char *user = NULL, *u = NULL;
	double n = -1;
	int rc;

	rc = crumb_session_get_user(s, &user);
	if (rc == CRUMB_OK && !crumb_session_is_new(s) &&
	    crumb_state_get_string(crumb_session_server(s), "u", &u) ==
	    CRUMB_OK && crumb_state_get_number(crumb_session_server(s), "n",
	    &n) == CRUMB_OK)
		printf("user=%s u=%s n=%g\n", user != NULL ? user : "-", u, n);
	else if (rc == CRUMB_OK)
		printf("none\n");
	else
		fprintf(stderr, "ctl-fixture: show: %s\n", crumb_strerror(rc));
	crumb_session_free(s);
	crumb_config_free(cfg);
	return rc == CRUMB_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
	crumb_store *st = NULL;
	char why[256];
	int rc;

	if (argc < 3 || (strcmp(argv[2], "make") == 0 &&
	    (argc < 6 || argc > 7)) || (strcmp(argv[2], "show") == 0 &&
	    argc != 4)) {
		fprintf(stderr, "usage: ctl-fixture STORE make USER TTL AGO "
		    "[LABEL] | STORE show COOKIE\n");
		return 2;
	}
	if (crumb_store_open(argv[1], &st, why, sizeof(why)) != CRUMB_OK) {
		fprintf(stderr, "ctl-fixture: %s\n", why);
		return 1;
	}
	if (strcmp(argv[2], "make") == 0)
		rc = make(st, argv[3], atol(argv[4]), atol(argv[5]),
		    argc == 7 ? argv[6] : NULL);
	else if (strcmp(argv[2], "show") == 0)
		rc = show(st, argv[3]);
	else
		rc = 2;
	crumb_store_free(st);
	return rc;
}
