/* crumbctl list USER, revoke USER, revoke --session HASH: a user's live
 * sessions, signing a user out everywhere, or one session by the hash
 * list printed.  Only stored hashes are printed, never a session ID. */
#include <string.h>
#include <time.h>

#include "ctl.h"

static const char list_usage[] =
    "usage: crumbctl [--store URL] list [--json] USER\n"
    "Lists the live sessions of USER, most recently seen first: the\n"
    "stored hash (what revoke --session takes), created, last seen and\n"
    "expires (UTC), and the label.\n"
    "  --json  an array of objects: hash, created, last_seen, expires\n"
    "          (unix seconds), label\n"
    "Exit status: 0 done (also for a user without sessions), 1 failed\n"
    "(reason on stderr), 2 usage.\n";

static const char revoke_usage[] =
    "usage: crumbctl [--store URL] revoke [--json] [--quiet] USER\n"
    "       crumbctl [--store URL] revoke [--json] [--quiet] --session HASH\n"
    "Signs USER out everywhere (deletes every session of USER), or\n"
    "deletes the one session whose stored hash is HASH (64 lower-case\n"
    "hex digits, as list prints it).  A request in flight with a\n"
    "revoked session ends it at its next write.\n"
    "  --json   the count as JSON (revoked)\n"
    "  --quiet  print nothing on success\n"
    "Exit status: 0 done (also when USER had no session), 1 failed or\n"
    "no live session has HASH (reason on stderr), 2 usage.\n";

/* A config that only carries the store (no key: no cookie is sealed). */
static int
config_on(const char *cmd, crumb_store *st, crumb_config **cfg)
{
	*cfg = NULL;
	if (crumb_config_new(cfg) != CRUMB_OK ||
	    crumb_config_set_store(*cfg, st) != CRUMB_OK) {
		crumb_config_free(*cfg);
		*cfg = NULL;
		return ctl_fail(cmd, "out of memory");
	}
	return 0;
}

/* A user as crumb_session_set_user takes it: checked here so that a
 * typo gets a usage error, not an empty listing. */
static int
user_ok(const char *u)
{
	size_t n = strlen(u), i;

	if (n == 0 || n > CRUMB_USER_MAX || !crumb_utf8_valid(u, n))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

struct listing {
	int json;
	cJSON *arr;
	int failed;
	unsigned n;
};

static int
one(const crumb_session_info *info, void *ud)
{
	struct listing *l = ud;
	char c[32], s[32], e[32];

	if (l->json) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(l->arr, o)) {
			cJSON_Delete(o);
			l->failed = 1;
			return 1;
		}
		if (cJSON_AddStringToObject(o, "hash", info->id_hash) == NULL ||
		    cJSON_AddNumberToObject(o, "created",
		    (double)info->created) == NULL ||
		    cJSON_AddNumberToObject(o, "last_seen",
		    (double)info->last_seen) == NULL ||
		    cJSON_AddNumberToObject(o, "expires",
		    (double)info->expires) == NULL ||
		    cJSON_AddStringToObject(o, "label", info->label) == NULL) {
			l->failed = 1;
			return 1;
		}
		return 0;
	}
	if (l->n++ == 0)
		printf("%-64s  %-19s  %-19s  %-19s  %s\n", "HASH", "CREATED",
		    "LAST SEEN", "EXPIRES", "LABEL");
	ctl_time(info->created, c, sizeof(c));
	ctl_time(info->last_seen, s, sizeof(s));
	ctl_time(info->expires, e, sizeof(e));
	printf("%s  %s  %s  %s  %s\n", info->id_hash, c, s, e, info->label);
	return 0;
}

int
ctl_list(const ctl_opts *o, int argc, char **argv)
{
	struct listing l;
	crumb_config *cfg;
	crumb_store *st;
	const char *user;
	ctl_args a;
	int rc;

	if ((rc = ctl_start(&a, o, argc, argv, NULL, 0, list_usage, 1, 1,
	    1)) >= 0)
		return rc;
	user = a.operand[0];
	ctl_args_free(&a);
	if (!user_ok(user))
		return ctl_usage("list", list_usage, "not a user name: 1 to %d "
		    "bytes of UTF-8 without control characters", CRUMB_USER_MAX);
	if ((rc = ctl_open("list", a.o.store, 0, &st)) != 0)
		return rc;
	if ((rc = config_on("list", st, &cfg)) != 0) {
		crumb_store_free(st);
		return rc;
	}
	memset(&l, 0, sizeof(l));
	l.json = a.o.json;
	if (l.json && (l.arr = cJSON_CreateArray()) == NULL)
		l.failed = 1;
	rc = l.failed ? CRUMB_E_NOMEM : crumb_user_sessions(cfg, user, one, &l);
	if (rc == CRUMB_OK && l.failed)
		rc = CRUMB_E_NOMEM;
	if (rc != CRUMB_OK) {
		rc = ctl_fail("list", "%s: %s", ctl_store_name(a.o.store),
		    ctl_why(st, rc));
		cJSON_Delete(l.arr);
	} else if (l.json) {
		rc = ctl_print_json("list", l.arr);
	}
	crumb_config_free(cfg);
	crumb_store_free(st);
	return rc;
}

/* Exactly 64 lower-case hex digits: what list prints, nothing else. */
static int
hash_ok(const char *h)
{
	return strlen(h) == 2 * CRUMB_HASH_LEN &&
	    strspn(h, "0123456789abcdef") == 2 * CRUMB_HASH_LEN;
}

static int
report(const ctl_args *a, uint64_t n, const char *text)
{
	if (a->o.quiet)
		return 0;
	if (a->o.json) {
		cJSON *j = cJSON_CreateObject();

		if (j != NULL && cJSON_AddNumberToObject(j, "revoked",
		    (double)n) == NULL) {
			cJSON_Delete(j);
			j = NULL;
		}
		return ctl_print_json("revoke", j);
	}
	puts(text);
	return 0;
}

int
ctl_revoke(const ctl_opts *o, int argc, char **argv)
{
	static const char *const names[] = { "session" };
	const char *user = NULL, *hash;
	crumb_config *cfg;
	crumb_store *st;
	uint64_t n = 0;
	char text[128];
	ctl_args a;
	int rc;

	if ((rc = ctl_start(&a, o, argc, argv, names, 1, revoke_usage, 0, 1,
	    1)) >= 0)
		return rc;
	hash = a.opt_val[0];
	if (a.n_operand == 1)
		user = a.operand[0];
	ctl_args_free(&a);
	if ((hash == NULL) == (user == NULL))
		return ctl_usage("revoke", revoke_usage, "give USER or "
		    "--session HASH (one of them)");
	if (hash != NULL && !hash_ok(hash))
		return ctl_usage("revoke", revoke_usage, "HASH must be 64 "
		    "lower-case hex digits, as list prints it");
	if (user != NULL && !user_ok(user))
		return ctl_usage("revoke", revoke_usage, "not a user name: 1 to "
		    "%d bytes of UTF-8 without control characters",
		    CRUMB_USER_MAX);
	if ((rc = ctl_open("revoke", a.o.store, 0, &st)) != 0)
		return rc;
	if (hash != NULL) {
		rc = crumb_store_revoke(st, hash, (int64_t)time(NULL));
		if (rc == CRUMB_E_NOT_FOUND)
			rc = ctl_fail("revoke", "no live session has hash %s",
			    hash);
		else if (rc != CRUMB_OK)
			rc = ctl_fail("revoke", "%s: %s",
			    ctl_store_name(a.o.store), ctl_why(st, rc));
		else
			rc = report(&a, 1, "revoked 1 session");
		crumb_store_free(st);
		return rc;
	}
	if ((rc = config_on("revoke", st, &cfg)) != 0) {
		crumb_store_free(st);
		return rc;
	}
	rc = crumb_user_logout_all(cfg, user, &n);
	if (rc != CRUMB_OK) {
		rc = ctl_fail("revoke", "%s: %s", ctl_store_name(a.o.store),
		    ctl_why(st, rc));
	} else {
		snprintf(text, sizeof(text), "revoked %llu session%s of the "
		    "user", (unsigned long long)n, n == 1 ? "" : "s");
		rc = report(&a, n, text);
	}
	crumb_config_free(cfg);
	crumb_store_free(st);
	return rc;
}
