/* crumbctl stats: how many sessions the store holds, live and expired,
 * how many users they belong to, and how big the store is. */
#include <time.h>

#include "ctl.h"

static const char usage[] =
    "usage: crumbctl [--store URL] stats [--json]\n"
    "Counts the sessions of the store: stored, live, expired but not\n"
    "purged yet, the distinct users of the live ones, and the store's\n"
    "size where the store can tell (SQLite: the file and its log;\n"
    "PostgreSQL: the table with its indexes).\n"
    "  --json  one JSON object: records, live, expired, users, bytes\n"
    "          (null when unknown)\n"
    "Exit status: 0 done, 1 failed (reason on stderr), 2 usage.\n";

static void
print_human(const crumb_store_counts *c)
{
	printf("sessions stored:   %llu\n", (unsigned long long)c->records);
	printf("  live:            %llu\n", (unsigned long long)c->live);
	printf("  expired:         %llu (not purged yet)\n",
	    (unsigned long long)c->expired);
	printf("users (live):      %llu\n", (unsigned long long)c->users);
	if (c->bytes < 0)
		printf("store size:        unknown\n");
	else if (c->bytes >= 1024 * 1024)
		printf("store size:        %.1f MiB (%lld bytes)\n",
		    (double)c->bytes / (1024.0 * 1024.0), (long long)c->bytes);
	else
		printf("store size:        %.1f KiB (%lld bytes)\n",
		    (double)c->bytes / 1024.0, (long long)c->bytes);
}

static cJSON *
to_json(const crumb_store_counts *c)
{
	cJSON *j = cJSON_CreateObject();

	if (j == NULL ||
	    cJSON_AddNumberToObject(j, "records", (double)c->records) == NULL ||
	    cJSON_AddNumberToObject(j, "live", (double)c->live) == NULL ||
	    cJSON_AddNumberToObject(j, "expired", (double)c->expired) == NULL ||
	    cJSON_AddNumberToObject(j, "users", (double)c->users) == NULL ||
	    (c->bytes < 0 ? cJSON_AddNullToObject(j, "bytes") :
	    cJSON_AddNumberToObject(j, "bytes", (double)c->bytes)) == NULL) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int
ctl_stats(const ctl_opts *o, int argc, char **argv)
{
	crumb_store_counts c;
	crumb_store *st;
	ctl_args a;
	int rc;

	if ((rc = ctl_start(&a, o, argc, argv, NULL, 0, usage, 0, 0, 1)) >= 0)
		return rc;
	ctl_args_free(&a);
	if ((rc = ctl_open("stats", a.o.store, 0, &st)) != 0)
		return rc;
	rc = crumb_store_stats(st, (int64_t)time(NULL), &c);
	if (rc != CRUMB_OK) {
		rc = ctl_fail("stats", "%s: %s", ctl_store_name(a.o.store),
		    ctl_why(st, rc));
		crumb_store_free(st);
		return rc;
	}
	crumb_store_free(st);
	if (a.o.json)
		return ctl_print_json("stats", to_json(&c));
	print_human(&c);
	return 0;
}
