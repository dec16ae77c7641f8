/* crumb-purge [--batch N] [--quiet] STORE: delete the expired sessions
 * of a store (a SQLite file, or a PostgreSQL URL), for cron. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crumb.h"

static const char usage[] =
    "usage: crumb-purge [--batch N] [--quiet] STORE\n"
    "Deletes the expired sessions of the session store STORE: the path\n"
    "of a SQLite store's file, or a PostgreSQL URL or connection string\n"
    "(postgresql://..., \"host=... dbname=...\"), N at a time (default\n"
    "250), each batch its own transaction.\n"
    "  --batch N  sessions deleted per transaction (1 to 4294967295)\n"
    "  --quiet    print nothing on success\n"
    "Exit status: 0 done, 1 failed (reason on stderr), 2 usage.\n";

static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "crumb-purge: %s%s\n%s", what, arg, usage);
	return 2;
}

/* A positive decimal that fits an unsigned, or 0. */
static unsigned
parse_batch(const char *s)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT_MAX)
		return 0;
	return (unsigned)v;
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *batch_arg, *name;
	crumb_store *store = NULL;
	unsigned batch = 0;
	uint64_t deleted = 0;
	char why[512];
	struct stat st;
	int i, rc, quiet = 0, opts = 1, is_url;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		batch_arg = NULL;
		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && (strcmp(a, "--help") == 0 ||
		    strcmp(a, "-h") == 0)) {
			fputs(usage, stdout);
			return 0;
		} else if (opts && (strcmp(a, "--quiet") == 0 ||
		    strcmp(a, "-q") == 0)) {
			quiet = 1;
		} else if (opts && strcmp(a, "--batch") == 0) {
			if (++i == argc)
				return bad_usage("--batch needs a number", "");
			batch_arg = argv[i];
		} else if (opts && strncmp(a, "--batch=", 8) == 0) {
			batch_arg = a + 8;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			return bad_usage("unknown option ", a);
		} else if (path != NULL) {
			return bad_usage("one STORE only", "");
		} else {
			path = a;
		}
		if (batch_arg != NULL &&
		    (batch = parse_batch(batch_arg)) == 0)
			return bad_usage("--batch wants a positive number, not ",
			    batch_arg);
	}
	if (path == NULL)
		return bad_usage("STORE missing", "");
	/* A server's URL may hold a password: it is never printed (the
	 * reasons crumb_store_open gives never hold it either). */
	is_url = strncmp(path, "postgres", 8) == 0 || strchr(path, '=') != NULL;
	name = is_url ? "the store" : path;
	/* Opening a file would create an empty store: a mistyped path must
	 * fail. */
	if (!is_url && stat(path, &st) != 0) {
		fprintf(stderr, "crumb-purge: %s: %s\n", path, strerror(errno));
		return 1;
	}
	rc = is_url ? crumb_store_open(path, &store, why, sizeof(why)) :
	    crumb_store_sqlite_open_v2(path, 5000, 0, &store, why, sizeof(why));
	if (rc != CRUMB_OK) {
		fprintf(stderr, "crumb-purge: %s: %s\n", name, why);
		return 1;
	}
	if ((rc = crumb_store_purge(store, 0, batch, &deleted)) != CRUMB_OK) {
		const char *msg = crumb_store_errmsg(store);

		fprintf(stderr, "crumb-purge: %s: %s (after %llu purged)\n",
		    name, *msg != '\0' ? msg : crumb_strerror(rc),
		    (unsigned long long)deleted);
		crumb_store_free(store);
		return 1;
	}
	crumb_store_free(store);
	if (!quiet)
		printf("crumb-purge: purged %llu expired sessions\n",
		    (unsigned long long)deleted);
	return 0;
}
