/* The store handle: a table of backend functions and its context, plus
 * the calls that act on a store as a whole (purge). */
#include <stdlib.h>
#include <time.h>

#include "crumb-private.h"

CRUMB_API int
crumb_store_new(const crumb_store_ops *ops, void *ctx, crumb_store **out)
{
	crumb_store *st;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if (ops == NULL || ops->create == NULL || ops->load == NULL ||
	    ops->update == NULL || ops->touch == NULL || ops->remove == NULL ||
	    ops->change_id == NULL || ops->purge == NULL ||
	    ops->user_remove == NULL || ops->user_list == NULL)
		return CRUMB_E_INVAL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return CRUMB_E_NOMEM;
	st->ops = ops;
	st->ctx = ctx;
	*out = st;
	return CRUMB_OK;
}

CRUMB_API void
crumb_store_free(crumb_store *st)
{
	if (st == NULL)
		return;
	if (st->ops->close != NULL)
		st->ops->close(st->ctx);
	free(st);
}

const char *
crumb_store_msg(const crumb_store *st)
{
	const char *m;

	if (st == NULL || st->ops->errmsg == NULL)
		return "";
	m = st->ops->errmsg(st->ctx);
	return m != NULL ? m : "";
}

CRUMB_API const char *
crumb_store_errmsg(const crumb_store *st)
{
	return crumb_store_msg(st);
}

CRUMB_API int
crumb_store_purge_v2(crumb_store *st, int64_t now, unsigned batch,
    crumb_purge_fn fn, void *ud, uint64_t *deleted)
{
	struct timespec pause = { 0, 2000000 };
	uint64_t total = 0, n;
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	if (st == NULL)
		return CRUMB_E_INVAL;
	if (now == 0)
		now = (int64_t)time(NULL);
	if (batch == 0)
		batch = 250;
	do {
		n = 0;
		if ((rc = st->ops->purge(st->ctx, now, batch, &n)) != CRUMB_OK)
			break;
		total += n;
		if (fn != NULL && (rc = fn(total, ud)) != 0)
			break;
		/* Let waiting writers take the lock between batches. */
		if (n == batch)
			nanosleep(&pause, NULL);
	} while (n == batch);
	if (deleted != NULL)
		*deleted = total;
	return rc;
}

CRUMB_API int
crumb_store_purge(crumb_store *st, int64_t now, unsigned batch,
    uint64_t *deleted)
{
	return crumb_store_purge_v2(st, now, batch, NULL, NULL, deleted);
}
