/* crumbctl migrate --from URL --to URL: copy every live session from
 * one store to another as it is (state, user, version, created,
 * last_seen, expires, label), so that nobody is signed out when a site
 * moves stores.  Safe to run again: a record the target already holds
 * at the same or a newer version is skipped. */
#include <string.h>
#include <time.h>

#include "ctl.h"

static const char usage[] =
    "usage: crumbctl migrate --from URL --to URL [--json] [--quiet]\n"
    "Copies every live session of the store --from into the store --to,\n"
    "as it is: the same hash, state, user, version, times and label, so\n"
    "the same cookies keep working against --to (with the same key).\n"
    "A session --to already holds at the same or a newer version is\n"
    "skipped, so running it twice copies nothing the second time.\n"
    "Expired sessions are not copied.  Stop the writers of --from (or\n"
    "run it again after switching them over) so that no later change is\n"
    "left behind.  A SQLite --to is created when missing.\n"
    "  --json   the summary as JSON (copied, skipped, expired_not_copied)\n"
    "  --quiet  print nothing on success\n"
    "Exit status: 0 done, 1 failed (reason on stderr; what was copied\n"
    "stays copied), 2 usage.\n";

struct copy {
	crumb_store *to;
	int64_t now;
	uint64_t copied, skipped;
	int rc;                 /* the failure that stopped the walk */
	uint8_t bad[CRUMB_HASH_LEN];
	int show;
	double start, last;
};

static int
copy_one(const uint8_t *hash, const crumb_record *rec, void *ud)
{
	struct copy *c = ud;
	int written = 0;
	double now;

	/* import checks the record; the scan's now keeps it live. */
	if ((c->rc = crumb_store_import(c->to, hash, rec, c->now,
	    &written)) != CRUMB_OK) {
		memcpy(c->bad, hash, CRUMB_HASH_LEN);
		return 1;
	}
	if (written)
		c->copied++;
	else
		c->skipped++;
	if (c->show && (now = ctl_clock()) - c->last >= 0.1) {
		c->last = now;
		fprintf(stderr, "\rmigrating: %llu copied, %llu skipped",
		    (unsigned long long)c->copied,
		    (unsigned long long)c->skipped);
		fflush(stderr);
	}
	return 0;
}

static int
summary(const ctl_args *a, const struct copy *c, uint64_t expired)
{
	if (a->o.quiet)
		return 0;
	if (a->o.json) {
		cJSON *j = cJSON_CreateObject();

		if (j != NULL && (cJSON_AddNumberToObject(j, "copied",
		    (double)c->copied) == NULL || cJSON_AddNumberToObject(j,
		    "skipped", (double)c->skipped) == NULL ||
		    cJSON_AddNumberToObject(j, "expired_not_copied",
		    (double)expired) == NULL)) {
			cJSON_Delete(j);
			j = NULL;
		}
		return ctl_print_json("migrate", j);
	}
	printf("copied %llu, skipped %llu, expired-not-copied %llu\n",
	    (unsigned long long)c->copied, (unsigned long long)c->skipped,
	    (unsigned long long)expired);
	return 0;
}

int
ctl_migrate(const ctl_opts *o, int argc, char **argv)
{
	static const char *const names[] = { "from", "to" };
	const char *from, *to;
	crumb_store *src = NULL, *dst = NULL;
	crumb_store_counts counts;
	struct copy c;
	ctl_args a;
	int rc;

	if ((rc = ctl_start(&a, o, argc, argv, names, 2, usage, 0, 0, 0)) >= 0)
		return rc;
	ctl_args_free(&a);
	from = a.opt_val[0];
	to = a.opt_val[1];
	if (from == NULL || to == NULL)
		return ctl_usage("migrate", usage, "give both --from URL and "
		    "--to URL");
	if (strcmp(from, to) == 0)
		return ctl_usage("migrate", usage, "--from and --to name the "
		    "same store");
	if ((rc = ctl_open("migrate", from, 0, &src)) != 0)
		return rc;
	if ((rc = ctl_open("migrate", to, 1, &dst)) != 0) {
		crumb_store_free(src);
		return rc;
	}
	memset(&c, 0, sizeof(c));
	c.to = dst;
	c.now = (int64_t)time(NULL);
	c.show = a.o.tty && !a.o.quiet;
	c.start = c.last = ctl_clock();
	/* The expired count at the same now as the walk: together they
	 * account for every record of --from. */
	rc = crumb_store_stats(src, c.now, &counts);
	if (rc == CRUMB_OK) {
		rc = crumb_store_scan(src, c.now, 0, copy_one, &c);
		if (c.show && c.last > c.start)
			fputs("\r\033[K", stderr);
	}
	if (rc != CRUMB_OK && c.rc != CRUMB_OK) {
		char hex[2 * CRUMB_HASH_LEN + 1];
		int i;

		for (i = 0; i < CRUMB_HASH_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", c.bad[i]);
		rc = ctl_fail("migrate", "--to %s: record %s: %s (after %llu "
		    "copied, %llu skipped)", ctl_store_name(to), hex,
		    c.rc == CRUMB_E_INVAL ? "not a valid record" :
		    ctl_why(dst, c.rc), (unsigned long long)c.copied,
		    (unsigned long long)c.skipped);
	} else if (rc != CRUMB_OK) {
		rc = ctl_fail("migrate", "--from %s: %s (after %llu copied, "
		    "%llu skipped)", ctl_store_name(from), ctl_why(src, rc),
		    (unsigned long long)c.copied,
		    (unsigned long long)c.skipped);
	} else {
		rc = summary(&a, &c, counts.expired);
	}
	crumb_store_free(src);
	crumb_store_free(dst);
	return rc;
}
