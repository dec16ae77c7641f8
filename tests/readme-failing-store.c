/*
 * Stands in for crumb_store_open in the README's example program,
 * which tests/Makefile.inc compiles with
 * -Dcrumb_store_open=crumbtest_failing_open: an in-memory store
 * (tests/helpers.c) whose every call fails with CRUMB_E_BUSY while the
 * environment has CRUMBTEST_STORE_FAIL set.
 */
#include <stdlib.h>

#include "helpers.h"

int
crumbtest_failing_open(const char *url, crumb_store **out, char *errbuf,
    size_t errlen)
{
	struct tmap *m = tmap_store_new(out);

	(void)url;
	(void)errbuf;
	(void)errlen;
	if (getenv("CRUMBTEST_STORE_FAIL") != NULL)
		tmap_fail(m, CRUMB_E_BUSY);
	return CRUMB_OK;
}
