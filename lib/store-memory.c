/*
 * In-memory store: a chained hash table in this process's memory.  For
 * tests and single-process programs only: FastCGI workers do not share
 * it, and it is gone when the process exits.
 */
#include <stdlib.h>
#include <string.h>

#include "crumb-private.h"

#define BUCKETS 4096

typedef struct mrec {
	uint8_t hash[CRUMB_HASH_LEN];
	char *state;
	size_t len;
	char *user;
	char *label;             /* NULL: none */
	int64_t version, created, last_seen, expires;
	struct mrec *next;
} mrec;

typedef struct mstore {
	mrec *bucket[BUCKETS];
} mstore;

static mrec **
slot(mstore *m, const uint8_t *hash)
{
	/* The hash is SHA-256: its first bytes are already uniform. */
	unsigned b = ((unsigned)hash[0] << 8 | hash[1]) % BUCKETS;
	mrec **pp;

	for (pp = &m->bucket[b]; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->hash, hash, CRUMB_HASH_LEN) == 0)
			break;
	return pp;
}

static void
rec_free(mrec *r)
{
	free(r->state);
	free(r->user);
	free(r->label);
	free(r);
}

static int
set_text(char **dst, const char *src, size_t len)
{
	char *p = NULL;

	if (src != NULL) {
		if ((p = malloc(len + 1)) == NULL)
			return CRUMB_E_NOMEM;
		memcpy(p, src, len);
		p[len] = '\0';
	}
	free(*dst);
	*dst = p;
	return CRUMB_OK;
}

static mrec *
live(mstore *m, const uint8_t *hash, int64_t now)
{
	mrec *r = *slot(m, hash);

	return r != NULL && r->expires > now ? r : NULL;
}

static int
m_create(void *ctx, const uint8_t *hash, const char *state, size_t len,
    const char *user, int64_t now, int64_t expires)
{
	mstore *m = ctx;
	mrec **pp = slot(m, hash), *r;

	if (*pp != NULL)
		return CRUMB_E_CONFLICT;    /* 256-bit IDs: never in practice */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CRUMB_E_NOMEM;
	if (set_text(&r->state, state, len) != CRUMB_OK ||
	    (user != NULL && set_text(&r->user, user, strlen(user)) != CRUMB_OK)) {
		rec_free(r);
		return CRUMB_E_NOMEM;
	}
	memcpy(r->hash, hash, CRUMB_HASH_LEN);
	r->len = len;
	r->version = 1;
	r->created = r->last_seen = now;
	r->expires = expires;
	*pp = r;
	return CRUMB_OK;
}

static int
m_load(void *ctx, const uint8_t *hash, int64_t now, crumb_record *out)
{
	mrec *r = live(ctx, hash, now);

	if (r == NULL)
		return CRUMB_E_NOT_FOUND;
	out->state = r->state;
	out->state_len = r->len;
	out->user = r->user;
	out->version = r->version;
	out->created = r->created;
	out->last_seen = r->last_seen;
	out->expires = r->expires;
	out->label = r->label;
	return CRUMB_OK;
}

static int
m_remove(void *ctx, const uint8_t *hash)
{
	mrec **pp = slot(ctx, hash), *r = *pp;

	if (r != NULL) {
		*pp = r->next;
		rec_free(r);
	}
	return CRUMB_OK;
}

/* Move a record to a new hash (its bucket may change). */
static int
rename_rec(mstore *m, mrec *r, const uint8_t *new_hash)
{
	mrec **pp = slot(m, r->hash), **np;

	if (*slot(m, new_hash) != NULL)
		return CRUMB_E_CONFLICT;
	*pp = r->next;
	memcpy(r->hash, new_hash, CRUMB_HASH_LEN);
	np = slot(m, new_hash);
	r->next = NULL;
	*np = r;
	return CRUMB_OK;
}

static int
m_update(void *ctx, const uint8_t *hash, const uint8_t *new_hash,
    int64_t version, const char *state, size_t len, const char *user,
    int64_t now, int64_t expires)
{
	mstore *m = ctx;
	mrec *r = live(m, hash, now);
	char *s = NULL, *u = NULL;

	if (r == NULL)
		return CRUMB_E_NOT_FOUND;
	if (r->version != version)
		return CRUMB_E_CONFLICT;
	/* Allocate first so that a failure changes nothing. */
	if (set_text(&s, state, len) != CRUMB_OK)
		return CRUMB_E_NOMEM;
	if (user != NULL && set_text(&u, user, strlen(user)) != CRUMB_OK) {
		free(s);
		return CRUMB_E_NOMEM;
	}
	if (new_hash != NULL && rename_rec(m, r, new_hash) != CRUMB_OK) {
		free(s);
		free(u);
		return CRUMB_E_CONFLICT;
	}
	free(r->state);
	free(r->user);
	r->state = s;
	r->user = u;
	r->len = len;
	r->version++;
	r->last_seen = now;
	if (expires != 0)
		r->expires = expires;
	return CRUMB_OK;
}

static int
m_touch(void *ctx, const uint8_t *hash, int64_t now, int64_t expires)
{
	mrec *r = live(ctx, hash, now);

	if (r == NULL)
		return CRUMB_E_NOT_FOUND;
	r->last_seen = now;
	r->expires = expires;
	return CRUMB_OK;
}

static int
m_set_label(void *ctx, const uint8_t *hash, const char *label)
{
	mrec *r = *slot(ctx, hash);

	if (r == NULL)
		return CRUMB_E_NOT_FOUND;
	return set_text(&r->label, label, strlen(label));
}

static int
m_change_id(void *ctx, const uint8_t *old_hash, const uint8_t *new_hash,
    int64_t now)
{
	mrec *r = live(ctx, old_hash, now);

	if (r == NULL)
		return CRUMB_E_NOT_FOUND;
	r->last_seen = now;
	return rename_rec(ctx, r, new_hash);
}

/* Remove records matching a predicate, at most max (0: no limit). */
static uint64_t
sweep(mstore *m, int (*match)(const mrec *, const void *), const void *arg,
    uint64_t max)
{
	uint64_t n = 0;
	size_t b;

	for (b = 0; b < BUCKETS; b++) {
		mrec **pp = &m->bucket[b];
		while (*pp != NULL && (max == 0 || n < max)) {
			mrec *r = *pp;
			if (match(r, arg)) {
				*pp = r->next;
				rec_free(r);
				n++;
			} else {
				pp = &r->next;
			}
		}
	}
	return n;
}

static int
is_expired(const mrec *r, const void *now)
{
	return r->expires <= *(const int64_t *)now;
}

static int
is_user(const mrec *r, const void *user)
{
	return r->user != NULL && strcmp(r->user, user) == 0;
}

static int
m_purge(void *ctx, int64_t now, unsigned batch, uint64_t *deleted)
{
	*deleted = sweep(ctx, is_expired, &now, batch);
	return CRUMB_OK;
}

static int
m_user_remove(void *ctx, const char *user, uint64_t *deleted)
{
	*deleted = sweep(ctx, is_user, user, 0);
	return CRUMB_OK;
}

/* The live records keep(r, arg) accepts, sorted by cmp, in a new array
 * (free) of *count pointers into the store. */
static int
live_sorted(mstore *m, int64_t now, int (*keep)(const mrec *, const void *),
    const void *arg, int (*cmp)(const void *, const void *), mrec ***out,
    size_t *count)
{
	mrec *r, **list = NULL;
	size_t b, n = 0, cap = 0;

	for (b = 0; b < BUCKETS; b++) {
		for (r = m->bucket[b]; r != NULL; r = r->next) {
			if (r->expires <= now || !keep(r, arg))
				continue;
			if (n == cap) {
				size_t c = cap ? 2 * cap : 64;
				mrec **p = realloc(list, c * sizeof(*p));

				if (p == NULL) {
					free(list);
					return CRUMB_E_NOMEM;
				}
				list = p;
				cap = c;
			}
			list[n++] = r;
		}
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp);
	*out = list;
	*count = n;
	return CRUMB_OK;
}

/* Most recently seen first, as the SQLite store lists them. */
static int
by_last_seen(const void *a, const void *b)
{
	const mrec *x = *(const mrec *const *)a, *y = *(const mrec *const *)b;

	return x->last_seen < y->last_seen ? 1 :
	    x->last_seen > y->last_seen ? -1 : 0;
}

static int
m_user_list(void *ctx, const char *user, int64_t now, crumb_info_fn fn,
    void *ud)
{
	mrec *r, **list;
	size_t n, i;

	if (live_sorted(ctx, now, is_user, user, by_last_seen, &list, &n) !=
	    CRUMB_OK)
		return CRUMB_E_NOMEM;
	for (i = 0; i < n; i++) {
		crumb_session_info info;

		r = list[i];
		crumb_hex_encode(r->hash, CRUMB_HASH_LEN, info.id_hash);
		info.created = r->created;
		info.last_seen = r->last_seen;
		info.expires = r->expires;
		(void)crumb_label_clean(r->label, info.label);
		if (fn(&info, ud) != 0)
			break;
	}
	free(list);
	return CRUMB_OK;
}

static int
by_user(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
m_stats(void *ctx, int64_t now, crumb_store_counts *out)
{
	mstore *m = ctx;
	const char **users = NULL;
	size_t b, n = 0, cap = 0, i;
	mrec *r;

	memset(out, 0, sizeof(*out));
	out->bytes = -1;        /* the heap's share is not this store's to tell */
	for (b = 0; b < BUCKETS; b++) {
		for (r = m->bucket[b]; r != NULL; r = r->next) {
			out->records++;
			if (r->expires <= now)
				continue;
			out->live++;
			if (r->user == NULL)
				continue;
			if (n == cap) {
				size_t c = cap ? 2 * cap : 64;
				const char **p = realloc(users, c * sizeof(*p));

				if (p == NULL) {
					free(users);
					return CRUMB_E_NOMEM;
				}
				users = p;
				cap = c;
			}
			users[n++] = r->user;
		}
	}
	out->expired = out->records - out->live;
	if (n > 1)
		qsort(users, n, sizeof(*users), by_user);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(users[i - 1], users[i]) != 0)
			out->users++;
	free(users);
	return CRUMB_OK;
}

static int
by_hash(const void *a, const void *b)
{
	return memcmp((*(const mrec *const *)a)->hash,
	    (*(const mrec *const *)b)->hash, CRUMB_HASH_LEN);
}

static int
keep_after(const mrec *r, const void *after)
{
	return after == NULL || memcmp(r->hash, after, CRUMB_HASH_LEN) > 0;
}

/* A page: the live records after after, sorted, the first max of them
 * (this store is for tests: it sorts all of them for each page). */
static int
m_scan(void *ctx, const uint8_t *after, int64_t now, unsigned max,
    crumb_scan_fn fn, void *ud, unsigned *seen)
{
	mrec *r, **list;
	size_t n, i;

	*seen = 0;
	if (live_sorted(ctx, now, keep_after, after, by_hash, &list, &n) !=
	    CRUMB_OK)
		return CRUMB_E_NOMEM;
	for (i = 0; i < n && i < max; i++) {
		crumb_record rec;

		r = list[i];
		rec.state = r->state;
		rec.state_len = r->len;
		rec.user = r->user;
		rec.version = r->version;
		rec.created = r->created;
		rec.last_seen = r->last_seen;
		rec.expires = r->expires;
		rec.label = r->label;
		(*seen)++;
		if (fn(r->hash, &rec, ud) != 0)
			break;
	}
	free(list);
	return CRUMB_OK;
}

static int
m_import(void *ctx, const uint8_t *hash, const crumb_record *rec,
    int64_t now, int *written)
{
	mstore *m = ctx;
	mrec **pp = slot(m, hash), *r;
	int fresh = *pp == NULL;

	*written = 0;
	if (!fresh && (*pp)->expires > now && (*pp)->version >= rec->version)
		return CRUMB_OK;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CRUMB_E_NOMEM;
	if (set_text(&r->state, rec->state, rec->state_len) != CRUMB_OK ||
	    (rec->user != NULL && set_text(&r->user, rec->user,
	    strlen(rec->user)) != CRUMB_OK) ||
	    (rec->label != NULL && rec->label[0] != '\0' &&
	    set_text(&r->label, rec->label, strlen(rec->label)) != CRUMB_OK)) {
		rec_free(r);
		return CRUMB_E_NOMEM;
	}
	memcpy(r->hash, hash, CRUMB_HASH_LEN);
	r->len = rec->state_len;
	r->version = rec->version;
	r->created = rec->created;
	r->last_seen = rec->last_seen;
	r->expires = rec->expires;
	/* In the old record's place in its chain. */
	if (!fresh) {
		r->next = (*pp)->next;
		rec_free(*pp);
	}
	*pp = r;
	*written = 1;
	return CRUMB_OK;
}

static const char *
m_errmsg(void *ctx)
{
	return "";
}

static void
m_close(void *ctx)
{
	mstore *m = ctx;
	size_t b;

	for (b = 0; b < BUCKETS; b++) {
		mrec *r, *next;
		for (r = m->bucket[b]; r != NULL; r = next) {
			next = r->next;
			rec_free(r);
		}
	}
	free(m);
}

static const crumb_store_ops memory_ops = {
	m_create, m_load, m_update, m_touch, m_remove, m_change_id, m_purge,
	m_user_remove, m_user_list, m_errmsg, m_close, NULL, NULL,
	m_set_label, m_stats, m_scan, m_import,
};

CRUMB_API int
crumb_store_memory_new(crumb_store **out)
{
	mstore *m;
	int rc;

	if (out == NULL)
		return CRUMB_E_INVAL;
	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return CRUMB_E_NOMEM;
	if ((rc = crumb_store_new(&memory_ops, m, out)) != CRUMB_OK)
		free(m);
	return rc;
}
