/* crumbctl purge: delete the expired sessions in batches, for cron (no
 * output when not on a terminal) and by hand (a progress line). */
#include <time.h>

#include "ctl.h"

static const char usage[] =
    "usage: crumbctl [--store URL] purge [--batch N] [--quiet] [--json]\n"
    "Deletes the expired sessions of the store, N at a time (default\n"
    "250), each batch its own short transaction so that requests go on\n"
    "meanwhile.  On a terminal a progress line, then a summary; when\n"
    "stdout is not a terminal (cron) nothing is printed on success.\n"
    "  --batch N  sessions deleted per transaction (1 to 4294967295)\n"
    "  --quiet    print nothing on success, not even on a terminal\n"
    "  --json     the summary as JSON (purged, seconds), also off a\n"
    "             terminal\n"
    "Exit status: 0 done, 1 failed (reason on stderr), 2 usage.\n";

struct progress {
	int show;
	double start, last;
};

/* Rewrite the terminal's line at most ten times a second. */
static int
on_batch(uint64_t deleted, void *ud)
{
	struct progress *p = ud;
	double now;

	if (!p->show)
		return 0;
	now = ctl_clock();
	if (now - p->last < 0.1)
		return 0;
	p->last = now;
	fprintf(stderr, "\rpurging: %llu expired sessions deleted (%.1f s)",
	    (unsigned long long)deleted, now - p->start);
	fflush(stderr);
	return 0;
}

int
ctl_purge(const ctl_opts *o, int argc, char **argv)
{
	static const char *const names[] = { "batch" };
	struct progress p;
	crumb_store *st;
	uint64_t deleted = 0;
	unsigned batch = 0;
	double secs;
	ctl_args a;
	int rc;

	if ((rc = ctl_start(&a, o, argc, argv, names, 1, usage, 0, 0, 1)) >= 0)
		return rc;
	ctl_args_free(&a);
	if (a.opt_val[0] != NULL && (batch = ctl_parse_count(a.opt_val[0])) == 0)
		return ctl_usage("purge", usage, "--batch wants a positive "
		    "number, not \"%s\"", a.opt_val[0]);
	if ((rc = ctl_open("purge", a.o.store, 0, &st)) != 0)
		return rc;
	p.show = a.o.tty && !a.o.quiet;
	p.start = p.last = ctl_clock();
	rc = crumb_store_purge_v2(st, (int64_t)time(NULL), batch, on_batch, &p,
	    &deleted);
	secs = ctl_clock() - p.start;
	if (p.show && p.last > p.start)
		fputs("\r\033[K", stderr);      /* the progress line goes */
	if (rc != CRUMB_OK) {
		rc = ctl_fail("purge", "%s: %s (after %llu purged)",
		    ctl_store_name(a.o.store), ctl_why(st, rc),
		    (unsigned long long)deleted);
		crumb_store_free(st);
		return rc;
	}
	crumb_store_free(st);
	if (a.o.quiet)
		return 0;
	if (a.o.json) {
		cJSON *j = cJSON_CreateObject();

		if (j != NULL && (cJSON_AddNumberToObject(j, "purged",
		    (double)deleted) == NULL || cJSON_AddNumberToObject(j,
		    "seconds", (double)(long long)(secs * 1000) / 1000) == NULL)) {
			cJSON_Delete(j);
			j = NULL;
		}
		return ctl_print_json("purge", j);
	}
	if (a.o.out_tty)
		printf("purged %llu expired sessions in %.1f s\n",
		    (unsigned long long)deleted, secs);
	return 0;
}
