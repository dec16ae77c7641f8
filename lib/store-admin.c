/* The administration calls on a store (crumbctl): counts, a walk over
 * the live records in pages, copying a record in as it is, and signing
 * one session out by its hash.  Each
 * checks its arguments, then hands over to the backend's optional op. */
#include <string.h>
#include <time.h>

#include "crumb-private.h"

#define SCAN_BATCH 500
#define IMPORT_STATE_MAX (64u * 1024 * 1024)

/* now 0 is the current time; anything else must be a time we handle. */
static int
pick_now(int64_t *now)
{
	if (*now == 0)
		*now = (int64_t)time(NULL);
	return *now > 0 && *now <= CRUMB_TIME_MAX;
}

CRUMB_API int
crumb_store_stats(crumb_store *st, int64_t now, crumb_store_counts *out)
{
	int rc;

	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->bytes = -1;
	}
	if (st == NULL || out == NULL || !pick_now(&now))
		return CRUMB_E_INVAL;
	if (st->ops->stats == NULL)
		return CRUMB_E_UNSUPPORTED;
	if ((rc = st->ops->stats(st->ctx, now, out)) != CRUMB_OK) {
		memset(out, 0, sizeof(*out));
		out->bytes = -1;
	}
	return rc;
}

/* The caller's fn behind the backend's: remembers where the page ended
 * and what fn said. */
struct walk {
	crumb_scan_fn fn;
	void *ud;
	uint8_t last[CRUMB_HASH_LEN];
	int stopped;
};

static int
step(const uint8_t *hash, const crumb_record *rec, void *ud)
{
	struct walk *w = ud;

	memcpy(w->last, hash, CRUMB_HASH_LEN);
	w->stopped = w->fn(hash, rec, w->ud);
	return w->stopped;
}

CRUMB_API int
crumb_store_scan(crumb_store *st, int64_t now, unsigned batch,
    crumb_scan_fn fn, void *ud)
{
	struct walk w;
	unsigned seen;
	int rc, first = 1;

	if (st == NULL || fn == NULL || !pick_now(&now))
		return CRUMB_E_INVAL;
	if (st->ops->scan == NULL)
		return CRUMB_E_UNSUPPORTED;
	if (batch == 0)
		batch = SCAN_BATCH;
	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.ud = ud;
	do {
		seen = 0;
		rc = st->ops->scan(st->ctx, first ? NULL : w.last, now, batch,
		    step, &w, &seen);
		if (w.stopped)
			return w.stopped;
		if (rc != CRUMB_OK)
			return rc;
		first = 0;
	} while (seen == batch);
	return CRUMB_OK;
}

static int
time_ok(int64_t t)
{
	return t >= 0 && t <= CRUMB_TIME_MAX;
}

static int
record_ok(const crumb_record *r, int64_t now)
{
	size_t n;

	if (r->state == NULL || r->state_len > IMPORT_STATE_MAX)
		return 0;
	if (r->user != NULL && !crumb_user_valid(r->user))
		return 0;
	if (r->version < 1 || !time_ok(r->created) || !time_ok(r->last_seen) ||
	    !time_ok(r->expires) || r->created > r->last_seen ||
	    r->expires <= now)
		return 0;
	if (r->label != NULL) {
		n = strlen(r->label);
		if (n > CRUMB_LABEL_MAX || !crumb_utf8_valid(r->label, n))
			return 0;
	}
	return 1;
}

CRUMB_API int
crumb_store_import(crumb_store *st, const uint8_t *hash,
    const crumb_record *rec, int64_t now, int *written)
{
	int w = 0, rc;

	if (written != NULL)
		*written = 0;
	if (st == NULL || hash == NULL || rec == NULL || !pick_now(&now) ||
	    !record_ok(rec, now))
		return CRUMB_E_INVAL;
	if (st->ops->import == NULL)
		return CRUMB_E_UNSUPPORTED;
	rc = st->ops->import(st->ctx, hash, rec, now, &w);
	if (written != NULL)
		*written = rc == CRUMB_OK ? w : 0;
	return rc;
}

CRUMB_API int
crumb_store_revoke(crumb_store *st, const char *id_hash, int64_t now)
{
	uint8_t hash[CRUMB_HASH_LEN];
	crumb_record rec;
	int rc;

	if (st == NULL || id_hash == NULL || !crumb_hash_parse(id_hash, hash) ||
	    !pick_now(&now))
		return CRUMB_E_INVAL;
	if ((rc = st->ops->load(st->ctx, hash, now, &rec)) != CRUMB_OK)
		return rc;
	return st->ops->remove(st->ctx, hash);
}
